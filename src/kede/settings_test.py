"""Settings for the test suite: the real ones, made quick and kept in a throw-away folder."""

import os
import tempfile

os.environ.setdefault("KEDE_INSTANCE_DIR", tempfile.mkdtemp(prefix="kede-test-"))

from kede.settings import *  # noqa: F403
from kede.settings import DATABASES, INSTANCE_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: threads in the concurrency and browser tests each get their own
    # connection to the same database, as separate processes do in production.
    DATABASES["default"]["TEST"] = {"NAME": str(INSTANCE_DIR / "test.sqlite3")}
elif os.environ.get("KEDE_TEST_DB_NAME"):
    # Two suites at once on one PostgreSQL server each need their own test database.
    DATABASES["default"]["TEST"] = {"NAME": os.environ["KEDE_TEST_DB_NAME"]}
