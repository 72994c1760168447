"""LeadSync Portal settings: everything that differs between machines comes from the environment."""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value in (None, "") else float(value)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment (the run and test commands generate one).")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.forms",  # Django's widget templates for FORM_RENDERER below
    "django_tables2",
    "django_filters",
    "django_celery_beat",
    "axes",
    "csp",
    "monitoring",
]

MIDDLEWARE = [
    # First: everything below (metrics allow-list, axes lockout, logs) sees the real client address.
    "monitoring.client_address.RealClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A view that loses the database answers 503 with a message, not 500 (database_down.py).
    "leadsync_portal.database_down.DatabaseUnavailableMiddleware",
    # After WhiteNoise: static files keep their cache headers; everything else is private, no-store.
    "monitoring.security_headers.SecurityHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns locked-out logins into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "leadsync_portal.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "monitoring.context_processors.portal",
            ],
        },
    },
]

# Widgets render through the project's template engine (TemplatesSetting, the cached loader), so
# templates/ can override one: templates/django/forms/widgets/select.html writes its options out
# instead of an {% include %} per option. The filter forms' inputs, selects and labels are written
# out in Python while those templates are the ones it mirrors (monitoring/form_renderer.py).
FORM_RENDERER = "monitoring.form_renderer.PortalFormRenderer"

WSGI_APPLICATION = "leadsync_portal.wsgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL:
    raise ImproperlyConfigured("DATABASE_URL must be set, e.g. postgres://postgres@127.0.0.1:5432/leadsync")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
# Django's psycopg 3 pool needs CONN_MAX_AGE = 0; the pool keeps connections instead.
if env_bool("DATABASE_POOL", True):
    # timeout: how long a request waits for a pooled connection. Bounded, so with PostgreSQL down
    # a page answers 503 in about this long instead of hanging (DATABASE_POOL_TIMEOUT).
    _db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("DATABASE_POOL_MAX", 10),
        "timeout": env_float("DATABASE_POOL_TIMEOUT", 0.5),
        # Connect on demand after an outage: psycopg_pool retries a failed connection with an
        # exponential backoff (1, 2, 4 ... s, for up to 5 minutes) and grows the pool for no one
        # meanwhile, so the first requests after PostgreSQL is back found an empty pool and gave
        # 503s until the next retry came round. 0: one immediate retry, then give up; the next
        # request that finds the pool empty starts a fresh attempt.
        "reconnect_timeout": 0,
    }
    # Every connection a request takes from the pool is checked first (one empty query), and a
    # dead one (a PostgreSQL restart, a terminated backend) is replaced at once, so no request
    # gets a stale connection and fails with a 503. Not CONN_HEALTH_CHECKS: with a pool it becomes
    # psycopg_pool's check, which waits at least 1 s after a failure, longer than the pool timeout
    # (leadsync_portal/postgresql/base.py).
    _db["ENGINE"] = "leadsync_portal.postgresql"
# libpq's connect_timeout (whole seconds, at least 2): a host that drops packets fails a connection
# attempt in seconds rather than the TCP default of minutes.
_db.setdefault("OPTIONS", {})["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 2)
# JIT compiles a plan for ~0.1-0.3 s once a query's estimated cost crosses jit_above_cost: our
# dashboard aggregates and admin counts at 1M rows cross it on every run and lose more than they
# gain (measured: health view, repair actions). Off per session; DATABASE_JIT=1 keeps the server's.
if not env_bool("DATABASE_JIT", False):
    _db.setdefault("OPTIONS", {})["options"] = "-c jit=off"
# A PostgreSQL host that vanishes mid-connection (power, network) sends no reset: without
# keepalives a query waits for the kernel's TCP timeouts (minutes; 2 h for an idle socket). libpq's
# keepalives probe an idle connection and tcp_user_timeout drops one whose sent data stays
# unacknowledged, both within DATABASE_TCP_TIMEOUT seconds. A live server answers both from its
# kernel, so a long statement (a migration, an archive at 10M rows) is never cut by them.
DATABASE_TCP_TIMEOUT = env_int("DATABASE_TCP_TIMEOUT", 10)
_db["OPTIONS"].update({
    "keepalives": 1,
    "keepalives_idle": max(1, DATABASE_TCP_TIMEOUT // 2),
    "keepalives_interval": max(1, DATABASE_TCP_TIMEOUT // 6),
    "keepalives_count": 3,
    "tcp_user_timeout": DATABASE_TCP_TIMEOUT * 1000,
})
# Web requests only: no page may wait longer than this for one statement or for a lock (a
# migration's ACCESS EXCLUSIVE, a non-concurrent REFRESH) before it answers 503 "database busy"
# (database_down.py), well before gunicorn's 30 s timeout would kill the worker with a 500.
# leadsync_portal/wsgi.py gives them to the web process's sessions (database_limits.py);
# management commands, migrations and Celery tasks run at 1M/10M rows and keep the server's
# defaults. Seconds; 0 = no limit.
DATABASE_WEB_STATEMENT_TIMEOUT = env_float("DATABASE_WEB_STATEMENT_TIMEOUT", 15)
DATABASE_WEB_LOCK_TIMEOUT = env_float("DATABASE_WEB_LOCK_TIMEOUT", 3)
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL must be set, e.g. redis://127.0.0.1:6379/0")


# Every wait has a deadline (issue 10). A Redis that accepts connections and never answers must
# cost a page one short timeout: redis-py's defaults are 5 s per call plus retries with backoff.
# No retries (Retry(..., 0)): one timeout, then the breaker (leadsync_portal/cache.py) sends every
# cache call straight to the database for REDIS_BREAKER_SECONDS.
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 0.25)
REDIS_BREAKER_SECONDS = env_float("REDIS_BREAKER_SECONDS", 10)
CACHES = {
    "default": {
        "BACKEND": "leadsync_portal.cache.CircuitBreakerRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "leadsync"),
        "TIMEOUT": 300,
        "OPTIONS": {
            "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
            "retry": Retry(NoBackoff(), 0),
            "BREAKER_SECONDS": REDIS_BREAKER_SECONDS,
        },
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Reverse proxies whose X-Forwarded-For is believed (addresses or networks, e.g. "127.0.0.1,::1"
# for nginx on the same host). Empty: the peer address is the client, whatever headers it sends.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "")

# Throttled logins (django-axes): lock a username + real client address pair after repeated
# failures, so a stranger's wrong passwords lock out only the stranger's address, never the operator.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("LOGIN_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "monitoring.client_address.axes_client_address"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"  # the lockout message inside the portal layout

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "monitoring:overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
# Storage is UTC (USE_TZ); TIME_ZONE is the zone the portal displays and buckets hours/days in.
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Numbers in pages read "20,000", not "20000" (templates and tables localize; exports stay raw).
USE_THOUSAND_SEPARATOR = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Security: secure by default; the local development run (DEBUG=1, plain http) turns these off.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
SESSION_COOKIE_HTTPONLY = True
# Sessions end after this many hours (Django's default is 14 days: too long for personal data).
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE_HOURS", 12) * 3600

# Content-Security-Policy (django-csp): scripts, styles, images and fetches only from this site, no
# inline script or style (page scripts live in static/monitoring/*.js), never framed, forms only
# posted back here. CSP_REPORT_ONLY=1 sends it as Content-Security-Policy-Report-Only for a trial.
_CSP = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
if env_bool("CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Celery: Redis is the broker; schedules live in the database (django-celery-beat).
CELERY_BROKER_URL = REDIS_URL
# Bulkheads (issues 10 and 12): four queues, one worker pool each, so a slow delivery or a long
# archive never delays a check, and no maintenance run holds up the rollup compactor (the pages'
# numbers stay current while an archive, export, verify or rebuild runs). Workers (docs/operating.md):
#   celery -A leadsync_portal worker -Q checks -c 1 -n checks@%h
#   celery -A leadsync_portal worker -Q deliveries -c 4 -n deliveries@%h
#   celery -A leadsync_portal worker -Q rollups -c 1 -n rollups@%h
#   celery -A leadsync_portal worker -Q maintenance,celery -c 1 -n maintenance@%h
# A worker started without -Q consumes all four (CELERY_TASK_QUEUES). Every task named
# monitoring.<service> gets a route here and the soft/hard time limits of its queue; these are
# the limits that apply (CELERY_TASK_ANNOTATIONS below overrides any a task's decorator sets).
CELERY_TASK_QUEUES_BY_NAME = {
    "checks": [
        "monitoring.evaluate_alerts",
        "monitoring.check_deadman",
        # The minute's sweep only lists due deliveries and queues one task each: cheap and on time.
        "monitoring.deliver_notifications",
    ],
    "deliveries": ["monitoring.deliver_notification", "monitoring.send_test_message"],
    # Every 5 s, milliseconds a run; after an archive it folds one delta per moved row.
    "rollups": ["monitoring.compact_rollups"],
    "maintenance": [
        "monitoring.archive_history",
        "monitoring.export_archive_months",
        "monitoring.refresh_daily_summary",
        "monitoring.record_stale_leads",
        "monitoring.refresh_snapshots",
        "monitoring.verify_rollups",
        "monitoring.rebuild_rollups",
    ],
}
CELERY_TASK_ROUTES = {
    task: {"queue": queue} for queue, tasks in CELERY_TASK_QUEUES_BY_NAME.items() for task in tasks
}
# A task nobody routed lands with the slow work, never in front of the checks.
CELERY_TASK_DEFAULT_QUEUE = "maintenance"
CELERY_TASK_QUEUES = {name: {"routing_key": name} for name in CELERY_TASK_QUEUES_BY_NAME}
# (soft, hard) seconds per queue. Soft raises SoftTimeLimitExceeded inside the task (its run is
# recorded as failed, its transaction rolled back); hard kills the worker process.
# Deliveries: the transport's own deadline (ALERTS_HTTP_TIMEOUT / EMAIL_TIMEOUT) comes first.
TASK_TIME_LIMITS = {
    "checks": (env_int("CHECK_TASK_SOFT_TIME_LIMIT", 120), env_int("CHECK_TASK_TIME_LIMIT", 150)),
    "deliveries": (env_int("DELIVERY_TASK_SOFT_TIME_LIMIT", 60), env_int("DELIVERY_TASK_TIME_LIMIT", 90)),
    # A fold that hangs is cut short and the next run (5 s later) folds the same deltas: nothing is lost.
    "rollups": (env_int("ROLLUPS_TASK_SOFT_TIME_LIMIT", 20), env_int("ROLLUPS_TASK_TIME_LIMIT", 30)),
    # The archive moves history in committed batches and the export a month at a time: a run cut
    # short loses nothing, and the next run (or the redelivered message) goes on from there.
    "maintenance": (env_int("MAINTENANCE_TASK_SOFT_TIME_LIMIT", 900), env_int("MAINTENANCE_TASK_TIME_LIMIT", 960)),
}
CELERY_TASK_ANNOTATIONS = {
    task: {"soft_time_limit": TASK_TIME_LIMITS[queue][0], "time_limit": TASK_TIME_LIMITS[queue][1]}
    for queue, tasks in CELERY_TASK_QUEUES_BY_NAME.items()
    for task in tasks
}
# Any other task (a default for what is not listed above).
CELERY_TASK_SOFT_TIME_LIMIT, CELERY_TASK_TIME_LIMIT = TASK_TIME_LIMITS["maintenance"]
# Every task is idempotent (claims by conditional update, single-instance runs, batch-resumable
# maintenance), so a message is acknowledged only when its task has finished: a task whose worker
# died is delivered again. The Redis broker does that once the message has been unacknowledged for
# visibility_timeout: sized just above the longest hard limit (not kombu's 1 h default), so it
# never redelivers a task still running, and a dead worker's task is redone within minutes.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_VISIBILITY_TIMEOUT = env_int(
    "CELERY_VISIBILITY_TIMEOUT", max(hard for _soft, hard in TASK_TIME_LIMITS.values()) + 60
)
# Broker waits are bounded too: a hung Redis fails a publish (the beat sweep catches up) instead
# of hanging the web request or the check that queued it.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "socket_timeout": env_float("CELERY_BROKER_SOCKET_TIMEOUT", 2),
    "socket_connect_timeout": env_float("CELERY_BROKER_SOCKET_TIMEOUT", 2),
    # kombu looks for a dead worker's unacknowledged messages only every 10 x this many seconds
    # (10 by default: up to 100 s on top of the visibility timeout); 1 keeps it to 10 s.
    "unacked_restore_throttle": 1,
}
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_SOCKET_TIMEOUT", 2)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
CELERY_BEAT_SCHEDULER = "leadsync_portal.beat:ResilientDatabaseScheduler"  # survives a lost database connection
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Email (alerts): SMTP from the environment.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "leadsync-portal@localhost")
# One deadline for a whole alert e-mail, name lookup to QUIT (alerts/deadlines.DeadlineEmailBackend,
# which the e-mail transport uses in place of Django's SMTP backend): a server that never answers,
# or answers a byte every few seconds, fails the delivery as transient instead of holding its worker.
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10)
# One deadline for a whole outbound alert HTTP call (Slack, Telegram), name lookup, TCP and TLS
# handshakes to last byte: a webhook trickling a byte every few seconds cannot hold a delivery
# longer (transports.post_json).
ALERTS_HTTP_TIMEOUT = env_float("ALERTS_HTTP_TIMEOUT", 10)

# Selector snapshots: dashboard numbers served from Redis, refreshed by the beat task
# monitoring.refresh_snapshots; 0 turns snapshots off (every read goes to the database).
SELECTOR_SNAPSHOT_TTL = env_int("SELECTOR_SNAPSHOT_TTL", 180)

# Maintenance
HISTORY_RETENTION_DAYS = env_int("HISTORY_RETENTION_DAYS", 30)
ARCHIVE_DIR = Path(os.environ.get("ARCHIVE_DIR", BASE_DIR / "archive"))
ARCHIVE_DELETE_AFTER_EXPORT = env_bool("ARCHIVE_DELETE_AFTER_EXPORT", False)
# Clean-up batches: rows moved per transaction, and a pause between batches for the sync's writes.
HISTORY_ARCHIVE_BATCH_SIZE = env_int("HISTORY_ARCHIVE_BATCH_SIZE", 5000)
HISTORY_ARCHIVE_BATCH_PAUSE_MS = env_int("HISTORY_ARCHIVE_BATCH_PAUSE_MS", 0)
# How long a clean-up batch waits behind a table lock (a migration) before it gives up for this run.
HISTORY_ARCHIVE_LOCK_TIMEOUT_MS = env_int("HISTORY_ARCHIVE_LOCK_TIMEOUT_MS", 5000)
# JobRun rows and stale-lead checks older than this are pruned by the weekly clean-up.
JOB_RECORD_RETENTION_DAYS = env_int("JOB_RECORD_RETENTION_DAYS", 90)

# Machine-readable metrics
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# API tokens and health endpoints (README "Integrations")
# New API tokens expire after this many days (manage.py create_api_token --days overrides; 0: never).
API_TOKEN_LIFETIME_DAYS = env_int("API_TOKEN_LIFETIME_DAYS", 90)
# Requests per API token per minute (get-sync-metrics and token-authenticated /metrics).
API_THROTTLE_PER_MINUTE = env_int("API_THROTTLE_PER_MINUTE", 60)
# /readyz fails when the last completed alert evaluation, or dead-man check, is older than this
# (3 x their 5-minute schedule); 0 leaves both checks out of readiness.
READYZ_ALERT_CHECK_MAX_AGE = env_int("READYZ_ALERT_CHECK_MAX_AGE", 900)
# /readyz fails when a due alert message has waited longer than this to be sent (deliveries
# workers down, stuck or far behind); 0 leaves the backlog out of readiness.
READYZ_DELIVERY_BACKLOG_MAX_AGE = env_int("READYZ_DELIVERY_BACKLOG_MAX_AGE", 600)
# /readyz fails when more deltas than this wait for the compactor (the `rollups` worker down or far
# behind: every page then adds them up on each read); 0 leaves it out of readiness. The compactor
# folds every 5 s, so a healthy portal has a few seconds' writes waiting.
READYZ_ROLLUP_BACKLOG_MAX = env_int("READYZ_ROLLUP_BACKLOG_MAX", 200_000)
# Probes speak plain HTTP to the pod; redirecting them to HTTPS would hide a 503.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Operator repairs (admin actions, issue 4): leads with more sync errors than this are quarantined
# (retry needs an explicit extra confirmation), and one action touches at most this many leads.
RETRY_QUARANTINE_ERRORS = env_int("RETRY_QUARANTINE_ERRORS", 5)
ADMIN_ACTION_BATCH_CAP = env_int("ADMIN_ACTION_BATCH_CAP", 10_000)
# Admin search boxes: at most this many words and characters (monitoring.admin.guards); more is a
# 400 with the reason, because each word is one more condition for PostgreSQL to plan and run.
ADMIN_SEARCH_MAX_TERMS = env_int("ADMIN_SEARCH_MAX_TERMS", 5)
ADMIN_SEARCH_MAX_LENGTH = env_int("ADMIN_SEARCH_MAX_LENGTH", 100)
