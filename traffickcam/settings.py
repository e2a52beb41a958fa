"""Settings for TraffickCam, read from the environment (see docs/configuration in README).

Defaults need nothing installed: SQLite, media on local disk and Celery tasks run
in-process when no broker is configured. DATABASE_URL, CELERY_BROKER_URL and
REDIS_CACHE_URL switch to PostgreSQL and Redis.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from traffickcam.env import env_bool, env_int, env_list, env_networks, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off")
    SECRET_KEY = "django-insecure-development-only"  # never used with DEBUG off

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "accounts",
    "rooms",
    "matcher",
    "investigations",
    "benchmarks",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "traffickcam.headers.PermissionsPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The visitor's language: the set_language cookie, else Accept-Language (LANGUAGES).
    "django.middleware.locale.LocaleMiddleware",
    # ...except the admin, English like its own templates.
    "traffickcam.locale_middleware.AdminInEnglishMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Investigator URLs: `Cache-Control: private, no-store` on every answer, and refusals
    # (401/403/404/429) in the audit trail; before the login checks so it sees theirs.
    "investigations.middleware.InvestigatorResponseMiddleware",
    # request.user.is_verified(): whether this session passed the second factor.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Investigators and staff: idle and absolute session limits, then the second factor.
    "accounts.middleware.SessionLimitsMiddleware",
    "accounts.middleware.SecondFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
    # Last: sees view exceptions first, turning a database/Redis outage into a 503.
    "traffickcam.exceptions.OutageMiddleware",
]

ROOT_URLCONF = "traffickcam.urls"
WSGI_APPLICATION = "traffickcam.wsgi.application"

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
                "csp.context_processors.nonce",
                "accounts.context_processors.accounts",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHE_URL = env_str("REDIS_CACHE_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/investigate/"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login
    "django.contrib.auth.backends.ModelBackend",
]

# Login throttling (django-axes), on every password login (/accounts/login/, /admin/login/):
# after LOGIN_FAILURE_LIMIT failures for one username from one client address, that pair
# is refused, right password or not, until LOGIN_LOCKOUT_MINUTES have passed since the
# last attempt. Keyed on the pair, so nobody can lock a user out from elsewhere; the
# second factor covers guessing spread over many addresses.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "traffickcam.client.client_address"  # trusted proxies applied
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # logins are in the audit trail
AXES_VERBOSE = False

# Investigators and staff (accounts/policy.py): a TOTP second factor on every login, and
# sessions that end after this long without a request, and this long after the login.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "TraffickCam")
PRIVILEGED_SESSION_IDLE_SECONDS = env_int("PRIVILEGED_SESSION_IDLE_SECONDS", 1800, minimum=60)
PRIVILEGED_SESSION_MAX_SECONDS = env_int("PRIVILEGED_SESSION_MAX_SECONDS", 43200, minimum=300)

# API tokens (accounts/tokens.py): only a SHA-256 of the key is stored; each expires.
API_TOKEN_LIFETIME_DAYS = env_int("API_TOKEN_LIFETIME_DAYS", 90, minimum=1)
API_TOKEN_MAX_LIFETIME_DAYS = env_int("API_TOKEN_MAX_LIFETIME_DAYS", 365, minimum=1)
# Each use sets the token's last_used; an audit entry at most once per this many seconds.
API_TOKEN_USE_AUDIT_SECONDS = env_int("API_TOKEN_USE_AUDIT_SECONDS", 300, minimum=0)

# E-mail: password reset exists only when EMAIL_HOST is set, and is then limited per
# address and per client address (requests per hour).
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "traffickcam@localhost")
PASSWORD_RESET_TIMEOUT = 3600  # seconds a reset link stays valid
PASSWORD_RESET_PER_EMAIL_HOURLY = env_int("PASSWORD_RESET_PER_EMAIL_HOURLY", 3, minimum=1)
PASSWORD_RESET_PER_CLIENT_HOURLY = env_int("PASSWORD_RESET_PER_CLIENT_HOURLY", 10, minimum=1)

# Reverse proxies whose X-Forwarded-For is believed (traffickcam/client.py): addresses or
# networks, e.g. "10.0.0.0/8". Empty: REMOTE_ADDR is the client.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
# The traveller pages (the rooms app) in these languages; investigator pages stay English
# (templates/base.html). Catalogues in locale/ (locale/README.md), compiled by `make install`.
LANGUAGES = [
    ("en", "English"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("pt", "Portuguese"),
    ("ar", "Arabic"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]  # site-wide: traffickcam/base.css
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if env_str("AWS_STORAGE_BUCKET_NAME"):
    # Traveller photos (already stripped of metadata) on S3-compatible storage.
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}

# Public media: traveller room photos, re-encoded without metadata.
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
# Investigator query photos: never under MEDIA_ROOT, never given a public URL.
PRIVATE_MEDIA_ROOT = Path(env_str("PRIVATE_MEDIA_ROOT", str(BASE_DIR / "private_media")))

# Image intake limits.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 25 * 1024 * 1024, minimum=1024)
UPLOAD_MAX_PIXELS = env_int("UPLOAD_MAX_PIXELS", 50_000_000, minimum=10_000)
UPLOAD_MAX_IMAGES = 4
DATA_UPLOAD_MAX_MEMORY_SIZE = UPLOAD_MAX_BYTES * UPLOAD_MAX_IMAGES
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_PERMISSIONS = 0o640
# Memory per upload request: decoded pixels (after JPEG draft decoding) across its photos
# (413 above), photos decoded at once per process, and how long one waits for a slot (503).
UPLOAD_MAX_REQUEST_PIXELS = env_int("UPLOAD_MAX_REQUEST_PIXELS", 100_000_000, minimum=10_000)
UPLOAD_DECODE_CONCURRENCY = env_int("UPLOAD_DECODE_CONCURRENCY", 2, minimum=1)
UPLOAD_DECODE_WAIT_SECONDS = env_int("UPLOAD_DECODE_WAIT_SECONDS", 30, minimum=1)
# Screening: NudeNet's score at which an exposed-body class quarantines a photo (never
# public, blurred to moderators), and the operator's list of perceptual hashes of known
# abuse material (one 16-hex-digit pHash per line; empty = none), matched within so many bits.
UPLOAD_EXPLICIT_MIN_SCORE = float(env_str("UPLOAD_EXPLICIT_MIN_SCORE", "0.35"))
UPLOAD_BLOCKLIST_FILE = env_str("UPLOAD_BLOCKLIST_FILE")
UPLOAD_BLOCKLIST_MAX_DISTANCE = env_int("UPLOAD_BLOCKLIST_MAX_DISTANCE", 8)
# A traveller's receipt (GET /api/submissions/{receipt}/): answers per client address.
RECEIPT_RATE = env_str("RECEIPT_RATE", "120/hour")

# Investigator searches are deleted, with their query photo, after this many days.
SEARCH_RETENTION_DAYS = env_int("SEARCH_RETENTION_DAYS", 30, minimum=1)
# Map tiles for the results page; empty = no background tiles (offline-safe default).
MAP_TILE_URL = env_str("MAP_TILE_URL")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # A session counts only once it passed the second factor, where one is required.
        "accounts.authentication.VerifiedSessionAuthentication",
        "accounts.authentication.ApiTokenAuthentication",  # Authorization: Token <key>
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    # drf-spectacular's, plus each operation's error responses (traffickcam/schema_errors.py).
    "DEFAULT_SCHEMA_CLASS": "traffickcam.schema_errors.ErrorsAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    # One JSON error shape, and no HTML 400/500 page for bad input (traffickcam/exceptions.py).
    "EXCEPTION_HANDLER": "traffickcam.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "uploads": env_str("UPLOAD_RATE", "60/hour"),
        "searches": env_str("SEARCH_RATE", "120/hour"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "TraffickCam API",
    "DESCRIPTION": (
        "Traveller hotel-room uploads and investigator hotel search. The endpoints are "
        "listed at /api/. Every error is JSON, the `Error` schema: `detail` for a "
        "person, and for a 400 `errors`, each invalid field and why. Each operation "
        "lists the errors it can answer; any of them answers a method it does not "
        "have with 405, and an unknown /api/ URL answers 404."
    ),
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No deep links: Swagger UI puts each one inside its operation's button (axe's
    # nested-interactive).
    "SWAGGER_UI_SETTINGS": {"deepLinking": False},
    "REDOC_DIST": "SIDECAR",
    # One name for the verdict choices, nullable or not, wherever a serializer uses them.
    "ENUM_NAME_OVERRIDES": {"VerdictEnum": "investigations.models.Decision.Verdict"},
}

# Celery: without a broker, tasks run in-process (after the upload's transaction
# commits, because they are enqueued with on_commit).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 180, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task whose worker died (SIGKILL, lost machine) is redelivered by Redis after this
# many seconds. It must exceed the hard time limit, or running tasks would be handed
# to a second worker.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=5)
if CELERY_VISIBILITY_TIMEOUT <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must exceed CELERY_TASK_TIME_LIMIT")
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
# Images left in pending/embedding longer than this are re-enqueued by the sweeper.
EMBED_STUCK_AFTER_SECONDS = env_int("EMBED_STUCK_AFTER_SECONDS", 900, minimum=10)
EMBED_SWEEP_EVERY_SECONDS = env_int("EMBED_SWEEP_EVERY_SECONDS", 300, minimum=1)
# Photo files with no RoomImage row (an upload killed between writing the file and
# committing its row) are deleted once this old; younger ones may still be committing.
ORPHAN_FILE_MIN_AGE_SECONDS = env_int("ORPHAN_FILE_MIN_AGE_SECONDS", 3600, minimum=60)
CELERY_BEAT_SCHEDULE = {
    "purge-expired-searches": {
        "task": "investigations.tasks.purge_expired_searches",
        "schedule": 3600.0,
    },
    "requeue-stuck-images": {
        "task": "matcher.tasks.requeue_stuck_images",
        "schedule": float(EMBED_SWEEP_EVERY_SECONDS),
    },
    # SharedIndex only (the task does nothing otherwise): a new snapshot nightly, so
    # each process's delta of photos added since the last build stays small.
    "rebuild-shared-index": {
        "task": "matcher.tasks.rebuild_shared_index",
        "schedule": 86400.0,
    },
    "sweep-orphan-files": {"task": "rooms.tasks.sweep_orphan_files", "schedule": 3600.0},
    "fill-projections": {"task": "matcher.tasks.fill_projections", "schedule": 900.0},
    "resume-promotions": {"task": "matcher.tasks.resume_promotions", "schedule": 3600.0},
}

# Matcher: which backbone embeds photos, at which size and input scaling (see
# retrieval/backbones.py; chosen by measurement in docs/benchmarks.md, "Match quality").
MATCHER_BACKBONE = env_str("MATCHER_BACKBONE", "efficientnet-lite1")
MATCHER_RESOLUTION = env_int("MATCHER_RESOLUTION", 384, minimum=64)  # long side, px
MATCHER_NORMALISATION = env_str("MATCHER_NORMALISATION", "tf")
if MATCHER_NORMALISATION not in ("tf", "imagenet"):
    raise ImproperlyConfigured(
        f"MATCHER_NORMALISATION={MATCHER_NORMALISATION!r}: use tf or imagenet"
    )
# "onnx" (default, ~3x faster on CPU, same vectors) or "torch"; see retrieval/backbones.py.
MATCHER_RUNTIME = env_str("MATCHER_RUNTIME", "onnx")
if MATCHER_RUNTIME not in ("onnx", "torch"):
    raise ImproperlyConfigured(f"MATCHER_RUNTIME={MATCHER_RUNTIME!r}: use onnx or torch")
# Intra-op threads per process: 1, and one Celery worker process per core.
MATCHER_THREADS = env_int("MATCHER_THREADS", 1, minimum=1)
# SIFT keypoints stored with each embedding, for re-ranking searches: better matches
# (Holidays mAP 0.81 -> 0.86) at about half the worker throughput.
MATCHER_LOCAL_FEATURES = env_bool("MATCHER_LOCAL_FEATURES", True)
# pgvector with a PCA graph (a million photos and more): images the graph yields per
# search, all re-scored with their full vectors. At 1M (docs/benchmarks.md): 300 gives
# recall@100 0.97 at ~48 ms p50 per hotel search; 1000 gives 0.998 at ~2.5x the time.
MATCHER_PGVECTOR_SHORTLIST = env_int("MATCHER_PGVECTOR_SHORTLIST", 300, minimum=10)
# The vector index: empty = pgvector when the database has it, else the exact index;
# or a dotted path, e.g. matcher.indexes.graph.GraphIndex (an in-process graph, for a
# million photos and more: docs/deploy.md).
MATCHER_INDEX_BACKEND = env_str("MATCHER_INDEX_BACKEND", "")
if MATCHER_INDEX_BACKEND.startswith(
    ("matcher.index.", "matcher.graph_index.", "matcher.pgvector_")
):
    raise ImproperlyConfigured(
        f"MATCHER_INDEX_BACKEND={MATCHER_INDEX_BACKEND!r}: the backends moved to "
        "matcher.indexes (exact.ExactIndex, pgvector.PgvectorIndex, graph.GraphIndex)"
    )
# GraphIndex: where `manage.py graph_index` writes the graphs the web processes load,
# and the images its graph yields per search, all re-scored with their full vectors
# (1M, docs/benchmarks.md: 700 finds 0.99 of the true top-100 in a 22 ms search, and
# the pages showed what the exact index shows in 20 queries of 20; 500: 0.98, 18 of 20).
MATCHER_GRAPH_DIR = Path(env_str("MATCHER_GRAPH_DIR", str(BASE_DIR / "var" / "graphs")))
MATCHER_GRAPH_SHORTLIST = env_int("MATCHER_GRAPH_SHORTLIST", 700, minimum=10)
# SharedIndex: how deep its walk looks; an unfiltered search re-scores the best 400 of it
# (`matcher.indexes.shared.RESCORED_ROWS`), a filtered one all of it. 800: its graph
# stores 8-bit codes, whose walk needed 800 to show the exact index's pages as often as
# the float graph's did at 700, and is still faster (docs/benchmarks.md, eighteenth session).
MATCHER_SHARED_SHORTLIST = env_int("MATCHER_SHARED_SHORTLIST", 800, minimum=10)
# The leading hotels re-scored in their hotel's context (matcher.context; docs/benchmarks.md,
# "Hotel context": +0.04 clean and +0.04 masked hotel top-1 on hotel rooms).
MATCHER_HOTEL_CONTEXT = env_bool("MATCHER_HOTEL_CONTEXT", True)
# Investigators' verdicts on matches, read by `train_descriptor` (matcher.decisions):
# a dotted path to an iterable of decided queries; empty = train on gallery labels only.
MATCHER_DECISIONS_SOURCE = env_str(
    "MATCHER_DECISIONS_SOURCE", "investigations.training.decided_queries"
)
# Where the exported ONNX model is cached (regenerated when missing).
MATCHER_CACHE_DIR = Path(env_str("MATCHER_CACHE_DIR", str(BASE_DIR / "var" / "cache")))


def _tile_source(url: str) -> str:
    """The CSP source of a tile URL template: https://{s}.tile.example.org/{z}/{x}/{y}.png
    -> https://*.tile.example.org."""
    parts = urlsplit(url)
    labels = parts.hostname.split(".") if parts.hostname else []
    if parts.scheme not in ("http", "https") or not labels:
        raise ImproperlyConfigured(f"MAP_TILE_URL={url!r}: an http(s) URL template")
    placeholders = [i for i, label in enumerate(labels) if "{" in label]
    if placeholders:
        labels = ["*", *labels[placeholders[-1] + 1 :]]
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{'.'.join(labels)}{port}"


# Content-Security-Policy (django-csp): scripts from our static files only. Styles: our
# static files and the nonce'd <style> of base.html; style="" attributes are allowed
# (two pages place a box and timeline dots by server-computed percentages; an attribute
# cannot select or read anything, and url() in it is still bound by img-src).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, NONCE],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [
            SELF,
            "data:",
            "blob:",
            *([_tile_source(MAP_TILE_URL)] if MAP_TILE_URL else []),
        ],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Permissions-Policy (traffickcam/headers.py): every powerful feature off, except where
# a page (by URL name) needs one: the traveller upload page offers "use my location".
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "autoplay", "camera", "clipboard-read", "display-capture",
        "encrypted-media", "fullscreen", "geolocation", "gyroscope", "hid", "idle-detection",
        "magnetometer", "microphone", "midi", "payment", "publickey-credentials-get",
        "screen-wake-lock", "serial", "usb", "xr-spatial-tracking",
    )
}  # fmt: skip
PERMISSIONS_POLICY_PAGES = {"rooms:upload": {"geolocation": ["self"]}}

SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # probed over plain HTTP inside the stack
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # django-axes logs every login at INFO; the audit trail has them.
    "loggers": {"axes": {"level": "WARNING"}},
}
