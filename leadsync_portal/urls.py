from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("", include("monitoring.urls")),
]

# A lost database is a 503 that says so (leadsync_portal/database_down.py), any other error a 500.
handler500 = "leadsync_portal.database_down.handler500"
