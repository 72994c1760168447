from django.urls import path

from monitoring.views import api, dashboard, health

app_name = "monitoring"

urlpatterns = [
    path("", dashboard.OverviewView.as_view(), name="overview"),
    # Machine-readable endpoints (token / allow-list auth, GET only): see README "Integrations".
    path("api/sync-metrics/", api.sync_metrics, name="api-sync-metrics"),
    path("metrics", api.prometheus_metrics, name="prometheus-metrics"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
