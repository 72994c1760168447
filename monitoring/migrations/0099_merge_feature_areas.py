"""Joins the feature areas' migration branches (each area numbered its own range off 0006)."""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0011_segment_description_default"),
        ("monitoring", "0030_lead_source_index"),
        ("monitoring", "0021_lead_search_index"),
        ("monitoring", "0041_alert_defaults"),
        ("monitoring", "0050_api_tokens"),
        ("monitoring", "0062_maintenance_schedules"),
    ]

    operations = []
