"""Settings for the Smart Accounts portal, read from the environment.

Every value that differs between a laptop and production comes from an environment
variable (or a `.env` file beside `manage.py`); the README's Configuration lists them.
"""

import datetime as dt
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.cache import redis_cache_settings

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random string "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=1 for local development."
        )
    SECRET_KEY = "insecure-development-key-only-used-when-DEBUG-is-on"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "mptt",
    "guardian",
    "django_celery_beat",
    "django_tables2",
    "django_filters",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "oauth2_provider",
    "axes",
    "smartaccounts",
    "licensing",
    "policy",
]

MIDDLEWARE = [
    "config.cssm.middleware.CssmPathMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # An API client's permission ceiling never outlives the request that set it.
    "smartaccounts.api.authentication.CeilingMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "smartaccounts.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# Default: a SQLite file in the checkout (git ignores it). Production: PostgreSQL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0 if DEBUG else 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The ingestion's instance lock and read are prepared once per connection on PostgreSQL
# (policy/prepared.py); turn it off behind a pooler that shares server sessions between transactions.
PREPARE_STATEMENTS = env.bool("PREPARE_STATEMENTS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so two writers queue instead of
    # failing with "database is locked" half-way through a service.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------
AUTH_USER_MODEL = "smartaccounts.User"
AUTHENTICATION_BACKENDS = [
    # First: a locked-out login is refused before its password is checked (django-axes).
    "smartaccounts.auth_backends.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# An invitation link stays valid this long.
INVITATION_MAX_AGE_DAYS = env.int("INVITATION_MAX_AGE_DAYS", default=14)

# --- Client address, rate limits, login lockout ------------------------------------------------
# How many reverse proxies in front of the portal append to X-Forwarded-For. 0: the client is
# REMOTE_ADDR and X-Forwarded-For is ignored (a client can write anything there). Rate limits and
# the login lockout key on this address (smartaccounts/ratelimits.py).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# The largest request body read into memory (a 413 beyond, in JSON under /api/). A device endpoint batch
# holds up to 1,000 reports of a few kilobytes each; an uploaded usage file has its own 20 MB limit.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=20 * 1024 * 1024)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT is the number of proxies in front of the portal: 0 or more.")


def _rate(name: str, default: str) -> str | None:
    """A rate such as "10/hour" (per second, minute, hour or day) from the environment; "off": no limit."""
    value = env.str(name, default=default).strip().lower()
    if value in ("off", "none", ""):
        return None
    count, _, period = value.partition("/")
    periods = ("second", "minute", "hour", "day", "s", "m", "h", "d")
    if not count.isascii() or not count.isdigit() or period not in periods:
        raise ImproperlyConfigured(f'{name}: write a rate as a number per second, minute, hour or day, e.g. "10/hour".')
    return value


# Per client address unless the name says otherwise. README (Security and limits) and docs/security.md list them.
RATE_LIMITS = {
    "signup": _rate("RATE_LIMIT_SIGNUP", "10/hour"),
    "password_reset": _rate("RATE_LIMIT_PASSWORD_RESET", "10/hour"),
    "device_registration": _rate("RATE_LIMIT_DEVICE_REGISTRATION", "120/minute"),
    "usage_reports": _rate("RATE_LIMIT_USAGE_REPORTS", "600/minute"),
    "pak_claim_address": _rate("RATE_LIMIT_PAK_CLAIM_ADDRESS", "60/hour"),
    "pak_claim_user": _rate("RATE_LIMIT_PAK_CLAIM_USER", "30/hour"),
    "pak_claim_account": _rate("RATE_LIMIT_PAK_CLAIM_ACCOUNT", "60/hour"),
    # The API: per API client (Bearer token), per person (session), else per address.
    "api": _rate("RATE_LIMIT_API", "1200/minute"),
    "api_token": _rate("RATE_LIMIT_API_TOKEN", "60/minute"),
}

# Login lockout (django-axes, failures kept in the database): after LOGIN_FAILURE_LIMIT wrong
# passwords in a row for one login from one client address, that login is refused from that
# address for LOGIN_LOCKOUT_MINUTES (each further failure starts the wait again); a successful
# login resets the count. `manage.py axes_reset_username <e-mail>` lifts a lockout.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Only failures are recorded, not every successful login (the event log is the portal's audit trail).
AXES_DISABLE_ACCESS_LOG = True
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "smartaccounts.ratelimits.login_username"
AXES_CLIENT_IP_CALLABLE = "smartaccounts.ratelimits.client_key"
AXES_LOCKOUT_CALLABLE = "smartaccounts.ratelimits.lockout_response"

# --- Internationalisation ---------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -----------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- E-mail -----------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Smart Accounts <no-reply@smartaccounts.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL


def default_portal_base_url(host: str, port: str) -> str:
    """Where `make run HOST=... PORT=...` serves the portal (a wildcard address is reached as localhost)."""
    host = "localhost" if host in ("", "0.0.0.0", "::", "[::]") else host  # noqa: S104  (not a bind)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port or '8000'}"


# Absolute base of links in e-mails (invitations, approvals, digests) and in what `seed_demo` prints. Unset, it
# follows HOST and PORT (`make run` passes them), so `make run PORT=8101` links to port 8101.
PORTAL_BASE_URL = env.str(
    "PORTAL_BASE_URL", default=default_portal_base_url(env.str("HOST", "127.0.0.1"), env.str("PORT", "8000"))
)

# --- Redis, Celery ------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
    # Rate-limit counters and the like; it fails open when Redis does not answer (config/cache.py).
    CACHES = {"default": redis_cache_settings(REDIS_URL)}
else:
    # No broker: tasks run in-process, at once, as if a worker had taken them.
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = None
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TIMEZONE = "UTC"
# A task's message is acknowledged when the task ends, not when a worker takes it: if the worker dies
# (killed, out of memory, the machine lost) the message goes back to the queue (a lost pool process
# at once; a lost whole worker once Redis's visibility timeout below has passed) and runs again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Time limits, from the longest task measured: the deadline evaluation from the cold state (every
# deadline written) took 32-69 s for 210,000 instances on a busy 2-core machine and 124 s for
# 1,000,000 (docs/performance.md); the hourly re-run 2-6 s; every other task under 10 s. Past the
# soft limit the evaluation is retried and resumes after its committed batches; the hard limit kills
# the pool process (prefork pool; the solo pool has no time limits).
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=CELERY_TASK_SOFT_TIME_LIMIT + 60)
# Redis gives an unacknowledged message to another worker after the visibility timeout. It must be
# longer than a task can run (the hard limit) plus the longest retry countdown (300 s), or a task
# still running would be started twice; and shorter than the beat entries' expiry (1 hour), or the
# redelivered evaluation would arrive expired and be dropped.
# (`manage.py check` warns when it is not.)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=1200),
    # How often a worker looks for messages of dead workers (every interval × throttle seconds).
    "unacked_restore_interval": env.int("CELERY_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": 1,
    # A broker that stops answering fails a publish after this long instead of hanging the request.
    "socket_timeout": 5,
    "socket_connect_timeout": 5,
}
CELERY_REDIS_SOCKET_TIMEOUT = 5
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 5
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Product settings ----------------------------------------------------------------------
# The portal's Ed25519 key signs ACKs and reservation authorization codes. It is created on
# first use at this path, which must stay out of the repository.
PORTAL_SIGNING_KEY_PATH = env.path("PORTAL_SIGNING_KEY_PATH", default=BASE_DIR / "var" / "keys" / "portal-ed25519.pem")
# An instance is "due soon" this many days before its reporting deadline.
REPORTING_DUE_SOON_DAYS = env.int("REPORTING_DUE_SOON_DAYS", default=14)
# Instances per batch of the scheduled deadline evaluation (each batch is one transaction); 0: 20,000 on
# PostgreSQL, 2,000 on SQLite.
DEADLINE_BATCH_SIZE = env.int("DEADLINE_BATCH_SIZE", default=0)

# --- REST framework --------------------------------------------------------------------------
REST_FRAMEWORK = {
    # An API client's Bearer token, or the portal's session (DRF enforces its CSRF check).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "smartaccounts.api.authentication.BearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Views that list their own throttle_classes (the device endpoints) keep them.
    "DEFAULT_THROTTLE_CLASSES": ["smartaccounts.ratelimits.ApiClientThrottle"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "config.api_schema.ApiAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "smartaccounts.api.pagination.CursorPage",
    "PAGE_SIZE": 100,
    # JSON only, read with bounded nesting; every error answered as {"code", "detail", "fields"} (config.api).
    "DEFAULT_PARSER_CLASSES": ["config.api.JSONParser"],
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    # Our throttles read the client address through smartaccounts.ratelimits.client_address; this
    # keeps DRF's own reading of X-Forwarded-For (anything else that calls get_ident) the same.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
# OAuth2 (django-oauth-toolkit): API clients get opaque Bearer tokens from /as/token.oauth2 and
# /oauth2/default/v1/token (docs/api.md).
# RFC 9700's current practice throughout (tokens stored hashed, no implicit grant, no tokens in URLs),
# except the resource owner password grant: scripts written for Cisco's API sign in with it, so it stays
# (its check, oauth2_provider.W002, is silenced below) and is limited by the client's role.
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("API_TOKEN_LIFETIME_SECONDS", default=3600),
    "OAUTH2_VALIDATOR_CLASS": "smartaccounts.api.oauth.ApiClientValidator",
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
# The Application model is django-oauth-toolkit's own (named here because ApiClient points at it).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
SILENCED_SYSTEM_CHECKS = ["oauth2_provider.W002"]
SPECTACULAR_SETTINGS = {
    "TITLE": "Smart Accounts API",
    "DESCRIPTION": (
        "The Smart Accounts portal's native API (`/api/v1/`): accounts, Virtual Accounts, members and roles, "
        "licenses, lots, product instances, registration tokens, transfers, hand-overs, PAKs, reservations, "
        "usage reports and ACKs, alerts and events; and the device endpoints (registration, usage reports, "
        "change notices).\n\n"
        "Authenticate with an API client's Bearer token (OAuth2 client credentials at `/as/token.oauth2`) "
        "or the portal's session (with its CSRF token). Another tenant's object is a 404, a role too low a "
        '403; every error is `{"code", "detail", "fields"}`. Lists page with opaque `next` / '
        "`previous` links. The Cisco-compatible paths (`/services/api/smart-accounts-and-licensing/`) follow "
        "Cisco's shapes and are not described here."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Bearer tokens of API clients (django-oauth-toolkit): the client credentials grant, and the password
    # grant that scripts written for Cisco's API use.
    "OAUTH2_FLOWS": ["clientCredentials", "password"],
    "OAUTH2_TOKEN_URL": "/as/token.oauth2",
    "OAUTH2_REFRESH_URL": None,
    "OAUTH2_SCOPES": {},
    # The docs page (/api/docs/, config.api_docs.ApiDocsView) runs on the vendored Swagger UI in
    # static/vendor/swagger-ui, served as the portal's other static files (never a CDN).
    "SWAGGER_UI_DIST": "vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": "vendor/swagger-ui/favicon-32x32.png",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "persistAuthorization": False, "displayOperationId": False},
    # One name per choice set, whatever the field that carries it (role, strongest_role; the "status" of
    # hand-overs and of reservations), instead of hashed names.
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "smartaccounts.models.Role",
        "HandOverStatusEnum": "licensing.models.HandOver.Status",
        "ReservationStatusEnum": "licensing.models.Reservation.Status",
        "InstanceStatusEnum": "licensing.models.ProductInstance.Status",
    },
}

DJANGO_TABLES2_TEMPLATE = "django_tables2/table.html"

# --- Security (production mode: DEBUG off) ---------------------------------------------------
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}, "axes.apps": {"level": "WARNING"}},
}
