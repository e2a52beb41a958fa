"""Settings for the test suite: the real settings with a throwaway secret and temp media."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-not-a-secret")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="tc-media-"))
os.environ.setdefault("PRIVATE_MEDIA_ROOT", tempfile.mkdtemp(prefix="tc-private-"))

from traffickcam.settings import *  # noqa: E402,F403

STATIC_ROOT = tempfile.mkdtemp(prefix="tc-static-")  # whitenoise wants it to exist
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

# SQLite tests on a file, not in memory: Django shares one in-memory connection between
# the test thread and every live-server thread, and a page whose thumbnails each write an
# audit row then meets "cannot open savepoint - SQL statements in progress". On a file,
# each thread has its own connection, as in production.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"tc-tests-{os.getpid()}.sqlite3")
    }
