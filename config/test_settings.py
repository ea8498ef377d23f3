"""Settings for the test suite: the production settings with test-only relaxations.

The environment still decides the database and the broker (`DATABASE_URL`, `REDIS_URL`),
so CI runs the same suite against PostgreSQL and Redis.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-used-anywhere-else-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

from config.settings import *  # noqa: E402,F403
from config.settings import BASE_DIR, RATE_LIMITS, STORAGES  # noqa: E402

# The test client and the live server speak plain HTTP.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
PORTAL_SIGNING_KEY_PATH = BASE_DIR / "var" / "test-keys" / "portal-ed25519.pem"
# The suite signs up, registers and reports far more often from 127.0.0.1 than anyone would: the
# limits stay on (their code runs) but high; tests of a limit set a small one with override_settings.
RATE_LIMITS = dict.fromkeys(RATE_LIMITS, "100000/minute")
