"""Joins the review round's migration branches (each numbered its own range off 0099)."""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0111_health_median_float"),
        ("monitoring", "0120_stuck_leads_index"),
    ]

    operations = []
