from django.urls import path

from monitoring.views import dashboard, leads, summary

app_name = "monitoring"

urlpatterns = [
    path("", dashboard.OverviewView.as_view(), name="overview"),
    path("performance/", dashboard.PerformanceView.as_view(), name="performance"),
    path("lead-flow/", dashboard.LeadFlowView.as_view(), name="lead_flow"),
    path("errors/", leads.ErrorListView.as_view(), name="errors"),
    path("error-groups/", dashboard.ErrorGroupsView.as_view(), name="error_groups"),
    path("segments/", dashboard.SegmentsView.as_view(), name="segments"),
    path("activity/", dashboard.ActivityView.as_view(), name="activity"),
    path("activity/data/", dashboard.ActivityDataView.as_view(), name="activity_data"),
    path("daily-summary/", summary.DailySummaryView.as_view(), name="daily_summary"),
    path("debug/", dashboard.DebugView.as_view(), name="debug"),
    path("leads/", leads.LeadListView.as_view(), name="leads"),
    path("leads/<uuid:pk>/", leads.LeadDetailView.as_view(), name="lead_detail"),
]
