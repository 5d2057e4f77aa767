"""Kede settings: everything that differs between machines comes from the environment.

See `.env.example` at the repository root for every variable and its default.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import dj_database_url

from kede import env

logger = logging.getLogger("kede.settings")

PACKAGE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(env.get_str("KEDE_INSTANCE_DIR", str(Path.cwd() / "instance"))).resolve()
INSTANCE_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.get_bool("KEDE_DEBUG", False)


def _secret_key() -> str:
    """The key from the environment, else one generated once for this instance folder."""
    configured = env.get_str("KEDE_SECRET_KEY")
    if configured:
        return configured
    key_file = INSTANCE_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
        logger.warning("KEDE_SECRET_KEY is not set: generated one in %s", key_file)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.get_list("KEDE_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.get_list("KEDE_CSRF_TRUSTED_ORIGINS")
SITE_URL = env.get_str("KEDE_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Catalogue search: "tantivy" (an index in KEDE_SEARCH_DIR, the default) or "postgres".
KEDE_SEARCH_ENGINE = env.get_str("KEDE_SEARCH_ENGINE", "tantivy")
# ISO 18626: seconds to wait for a peer's answer; attempts to fetch a copy a peer delivered.
KEDE_ISO18626_TIMEOUT = env.get_int("KEDE_ISO18626_TIMEOUT", 30)
KEDE_ISO18626_FETCH_ATTEMPTS = env.get_int("KEDE_ISO18626_FETCH_ATTEMPTS", 12)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "kede.core",
    "kede.consortium",
    "kede.accounts",
    "kede.catalog",
    "kede.ill",
    "kede.routing",
    "kede.delivery",
    "kede.portal",
    "kede.api",
]

# The HTTP API (/api/v1/): JSON only; signed-in pages' session or a personal token
# (`kede drf_create_token USERNAME`); requests per minute for anonymous and signed-in callers.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.get_str("KEDE_API_ANON_RATE", "120/min"),
        "user": env.get_str("KEDE_API_USER_RATE", "1200/min"),
    },
    "EXCEPTION_HANDLER": "kede.api.views.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kede API",
    "DESCRIPTION": "Search the union catalogue, read works and the directory, and make and "
    "follow interlibrary requests.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "kede.core.i18n.ChosenLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "kede.urls"
WSGI_APPLICATION = "kede.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kede.portal.context.navigation",
            ],
        },
    }
]


def _database(url: str) -> dict:
    config = dj_database_url.parse(url, conn_max_age=env.get_int("KEDE_DB_CONN_MAX_AGE", 0))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # WAL lets readers go on while one writer commits; IMMEDIATE makes every transaction
        # take the write lock up front, so two writers queue instead of failing mid-way.
        # SQLite's own page cache is 2 MB; a catalogue of a million records spends its load
        # re-reading index pages from the OS, so the default is 64 MB per connection.
        cache_kib = env.get_int("KEDE_SQLITE_CACHE_MB", 64, minimum=1) * 1024
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                f"PRAGMA cache_size=-{cache_kib};"
            ),
        }
    return config


DATABASE_URL = env.get_str("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'kede.sqlite3'}"
DATABASES = {"default": _database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = env.get_str("KEDE_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = INSTANCE_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(env.get_str("KEDE_MEDIA_ROOT", str(INSTANCE_DIR / "files")))
KEDE_SEARCH_DIR = Path(env.get_str("KEDE_SEARCH_DIR", str(INSTANCE_DIR / "search")))
STORAGES = {
    # Delivered copies are private: they are never served as static media, only through the
    # download view that checks the person and the signed link.
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": None},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

TASKS = {
    "default": {
        "BACKEND": env.get_str("KEDE_TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

# A task running longer than this is taken to have lost its worker and is queued again.
KEDE_TASK_STALL_MINUTES = env.get_int("KEDE_TASK_STALL_MINUTES", 30)
# A catalogue load silent this long (a live one reports after every batch) lost its worker
# and is queued again.
KEDE_LOAD_STALL_MINUTES = env.get_int("KEDE_LOAD_STALL_MINUTES", 10)
# A catalogue file at least this big (bytes) is read, checked and prepared in a process of
# its own while the load stores (on machines with two cores or more); 0: always in the load's.
KEDE_LOAD_READER_BYTES = env.get_int("KEDE_LOAD_READER_BYTES", 4 * 1024 * 1024)

EMAIL_BACKEND = env.get_str(
    "KEDE_EMAIL_BACKEND",
    "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = INSTANCE_DIR / "mail"
EMAIL_HOST = env.get_str("KEDE_EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env.get_int("KEDE_EMAIL_PORT", 25)
EMAIL_HOST_USER = env.get_str("KEDE_EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env.get_str("KEDE_EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env.get_bool("KEDE_EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = env.get_str("KEDE_FROM_EMAIL", "Kede <noreply@kede.localhost>")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.get_bool("KEDE_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# Delivery: what an uploaded copy may be and how long it lives.
KEDE_MAX_UPLOAD_BYTES = env.get_int("KEDE_MAX_UPLOAD_MB", 50) * 1024 * 1024
KEDE_DOWNLOAD_LIMIT = env.get_int("KEDE_DOWNLOAD_LIMIT", 5)
KEDE_DOWNLOAD_DAYS = env.get_int("KEDE_DOWNLOAD_DAYS", 30)
KEDE_DOWNLOAD_DAYS_AFTER_FIRST = env.get_int("KEDE_DOWNLOAD_DAYS_AFTER_FIRST", 14)
KEDE_REMIND_DAYS_BEFORE_EXPIRY = env.get_int("KEDE_REMIND_DAYS_BEFORE_EXPIRY", 3)
# E-book lending: how long a freed copy is kept for the next reader waiting, and when the
# due-date reminder goes out.
KEDE_EBOOK_OFFER_HOURS = env.get_int("KEDE_EBOOK_OFFER_HOURS", 48)
KEDE_EBOOK_REMIND_DAYS_BEFORE_DUE = env.get_int("KEDE_EBOOK_REMIND_DAYS_BEFORE_DUE", 2)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.get_str("KEDE_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
