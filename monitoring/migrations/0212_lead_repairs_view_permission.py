"""Both portal roles may view lead_repairs (Admin → Lead repairs). Permissions are created here
explicitly: post_migrate has not run yet (as in 0005)."""
from django.db import migrations

ROLES = ("Lead sync viewers", "Lead sync operators")


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(content_type__app_label="monitoring", codename="view_leadrepair")
    for group in Group.objects.filter(name__in=ROLES):
        group.permissions.add(*view)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(content_type__app_label="monitoring", codename="view_leadrepair")
    for group in Group.objects.filter(name__in=ROLES):
        group.permissions.remove(*view)


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0211_move_repairs_out_of_history"), ("monitoring", "0041_alert_defaults")]

    operations = [migrations.RunPython(grant, revoke)]
