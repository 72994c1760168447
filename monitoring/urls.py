from django.urls import path

from monitoring.views import alerts, api, dashboard, health

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
]
