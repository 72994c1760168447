"""gunicorn settings for `./portal serve` (and for anyone running gunicorn themselves:
`gunicorn -c deploy/gunicorn.conf.py leadsync_portal.wsgi`)."""
from __future__ import annotations

import os


def _cpus() -> int:
    # The CPUs this process may run on (a container or cgroup limit), not the host's count.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


wsgi_app = "leadsync_portal.wsgi:application"
# Behind a reverse proxy on the same host: listen on loopback only (GUNICORN_BIND to change).
bind = os.environ.get("GUNICORN_BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
# gunicorn's rule of thumb, 2 x CPUs + 1 sync workers; WEB_CONCURRENCY overrides it.
workers = int(os.environ.get("WEB_CONCURRENCY") or 2 * _cpus() + 1)
# Pages answer in well under a second; a request still running after 30 s is stuck, and the
# worker is replaced rather than left to hold a database connection. The database gives up
# first: DATABASE_WEB_STATEMENT_TIMEOUT (15 s) and DATABASE_WEB_LOCK_TIMEOUT (3 s) answer a 503.
timeout = 30
graceful_timeout = 20
# Recycle workers now and then, staggered, so a slow leak never grows without bound.
max_requests = 2000
max_requests_jitter = 200
# Access log to stdout, errors to stderr: the service manager (systemd's journal) keeps them.
accesslog = "-"
errorlog = "-"
# The proxy connects from loopback; only it may tell gunicorn the request came over https.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proc_name = "leadsync-portal"
