from django.urls import path

from monitoring.views import alerts, dashboard

app_name = "monitoring"

urlpatterns = [
    path("", dashboard.OverviewView.as_view(), name="overview"),
    path("alerts/", alerts.AlertsView.as_view(), name="alerts"),
    path("alerts/incidents/<int:pk>/acknowledge/", alerts.IncidentAcknowledgeView.as_view(), name="alert-acknowledge"),
    path("alerts/incidents/<int:pk>/snooze/", alerts.IncidentSnoozeView.as_view(), name="alert-snooze"),
    path("alerts/deliveries/<int:pk>/resend/", alerts.DeliveryResendView.as_view(), name="alert-resend"),
    path("alerts/channels/<int:pk>/enable/", alerts.ChannelEnableView.as_view(), name="alert-channel-enable"),
]
