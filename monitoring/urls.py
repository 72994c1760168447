from django.urls import path

from monitoring.views import alerts, api, dashboard, health, jobs, leads, summary

app_name = "monitoring"

urlpatterns = [
    path("", dashboard.OverviewView.as_view(), name="overview"),
    # Machine-readable endpoints (token / allow-list auth, GET only): see README "Integrations".
    path("api/sync-metrics/", api.sync_metrics, name="api-sync-metrics"),
    path("metrics", api.prometheus_metrics, name="prometheus-metrics"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("alerts/", alerts.AlertsView.as_view(), name="alerts"),
    path("alerts/incidents/<int:pk>/acknowledge/", alerts.IncidentAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("alerts/incidents/<int:pk>/snooze/", alerts.IncidentSnoozeView.as_view(), name="alert-snooze"),
    path("alerts/deliveries/<int:pk>/resend/", alerts.DeliveryResendView.as_view(), name="alert-resend"),
    path("alerts/channels/<int:pk>/enable/", alerts.ChannelEnableView.as_view(), name="alert-channel-enable"),
    path("performance/", dashboard.PerformanceView.as_view(), name="performance"),
    path("lead-flow/", dashboard.LeadFlowView.as_view(), name="lead-flow"),
    path("errors/", leads.ErrorListView.as_view(), name="errors"),
    path("error-groups/", dashboard.ErrorGroupsView.as_view(), name="error-groups"),
    path("segments/", dashboard.SegmentsView.as_view(), name="segments"),
    path("activity/", dashboard.ActivityView.as_view(), name="activity"),
    path("activity/data/", dashboard.ActivityDataView.as_view(), name="activity-data"),
    path("daily-summary/", summary.DailySummaryView.as_view(), name="daily-summary"),
    path("debug/", dashboard.DebugView.as_view(), name="debug"),
    path("leads/", leads.LeadListView.as_view(), name="leads"),
    path("leads/<uuid:pk>/", leads.LeadDetailView.as_view(), name="lead-detail"),
    path("jobs/", jobs.JobsView.as_view(), name="jobs"),
]
