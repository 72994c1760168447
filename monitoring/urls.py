from django.urls import path

from monitoring.views import dashboard
from monitoring.views import jobs as jobs_views

app_name = "monitoring"

urlpatterns = [
    path("", dashboard.OverviewView.as_view(), name="overview"),
    path("jobs/", jobs_views.JobsView.as_view(), name="jobs"),
]
