from django.apps import AppConfig
from django.db.backends.signals import connection_created


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Lead sync monitoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from monitoring.db_adapters import use_c_timestamptz_loader

        connection_created.connect(use_c_timestamptz_loader, dispatch_uid="monitoring.c_timestamptz_loader")
