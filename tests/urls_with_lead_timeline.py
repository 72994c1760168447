"""The project's URLs plus a stand-in `monitoring:lead-detail` (the portal's lead timeline, built in another issue)."""
from __future__ import annotations

from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path

from monitoring import urls as monitoring_urls

timeline = [path("leads/<uuid:pk>/timeline-stand-in/", lambda request, pk: HttpResponse(), name="lead-detail")]
urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("", include((monitoring_urls.urlpatterns + timeline, "monitoring"))),
]
