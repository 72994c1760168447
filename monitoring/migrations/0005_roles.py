"""The two portal roles as groups. Permissions are created here explicitly: post_migrate has not run yet."""
from django.db import migrations

VIEWERS = "Lead sync viewers"
OPERATORS = "Lead sync operators"

VIEW_MODELS = [
    "customersegment",
    "lead",
    "leadsynchistory",
    "leadsynchealthdashboard",
    "realtimesyncactivity",
    "syncmonitoring",
    "leadanalytics",
    "leadsyncdailysummary",
]


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view_perms = Permission.objects.filter(
        content_type__app_label="monitoring", codename__in=[f"view_{m}" for m in VIEW_MODELS]
    )
    viewers, _ = Group.objects.get_or_create(name=VIEWERS)
    viewers.permissions.add(*view_perms)
    operators, _ = Group.objects.get_or_create(name=OPERATORS)
    operators.permissions.add(*view_perms)
    operators.permissions.add(
        *Permission.objects.filter(content_type__app_label="monitoring", codename="change_lead")
    )


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[VIEWERS, OPERATORS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0004_daily_summary"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, drop_roles)]
