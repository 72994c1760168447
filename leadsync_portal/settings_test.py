"""Test settings: the real settings with a throwaway secret and plain-http test client."""
import os
import secrets

from django.core.management.utils import get_random_secret_key

os.environ.setdefault("SECRET_KEY", get_random_secret_key())
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadsync")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
# Each test run owns a key prefix of its own in whatever Redis database it is given: the cache and
# the Celery broker write under it, and the run deletes only keys under it (never FLUSHDB), so a
# portal or a second run on the same Redis database keeps its data. Put into the environment so
# that the processes the tests start (MCP server, ./portal) write under the same prefix.
TEST_RUN_PREFIX = os.environ.get("LEADSYNC_TEST_RUN_PREFIX") or f"leadsync-test-{secrets.token_hex(6)}"
os.environ["LEADSYNC_TEST_RUN_PREFIX"] = TEST_RUN_PREFIX
os.environ["CACHE_KEY_PREFIX"] = TEST_RUN_PREFIX

from .settings import *  # noqa: E402,F403

# kombu prefixes every broker key (queues, bindings, unacked) with this; workers started by the
# tests (celery.contrib.testing) read the same setting.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **globals().get("CELERY_BROKER_TRANSPORT_OPTIONS", {}),
    "global_keyprefix": f"{TEST_RUN_PREFIX}:celery:",
}

SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
SELECTOR_SNAPSHOT_TTL = 0  # tests read the database; snapshot tests turn it on
# Serve static files from the finders (no collectstatic before tests); also quiets WhiteNoise's
# "No directory at STATIC_ROOT" warning.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
