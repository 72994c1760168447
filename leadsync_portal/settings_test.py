"""Test settings: the real settings with a throwaway secret and plain-http test client."""
import os

from django.core.management.utils import get_random_secret_key

os.environ.setdefault("SECRET_KEY", get_random_secret_key())
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/leadsync")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("CACHE_KEY_PREFIX", "leadsync-test")

from .settings import *  # noqa: E402,F403

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
