from django.urls import path

from monitoring.views import dashboard

app_name = "monitoring"

urlpatterns = [
    path("", dashboard.OverviewView.as_view(), name="overview"),
]
