import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadsync_portal.settings")
application = get_wsgi_application()

# Only the web process loads this module: its sessions get statement_timeout and lock_timeout
# (DATABASE_WEB_*); commands, migrations and Celery keep the server's defaults (database_limits.py).
from leadsync_portal.database_limits import apply_web_limits  # noqa: E402

apply_web_limits()
