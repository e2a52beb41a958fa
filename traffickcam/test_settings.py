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
