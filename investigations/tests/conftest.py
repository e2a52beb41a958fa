"""Shared users for the investigator tests.

`traveller` (plain user), team A (`alice`, `alice_teammate`), team B (`bob`).
"""

import io

import numpy as np
import pytest
from PIL import Image
from rest_framework.test import APIClient

from accounts.tokens import token_create
from investigations.services import investigator_create

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def fresh_index(monkeypatch):
    """Each test gets a new in-process index (row ids are reused after rollbacks)."""
    import matcher.indexes

    monkeypatch.setattr(matcher.indexes, "_index", None)


def _investigator(username, team):
    user, _ = investigator_create(username=username, team_name=team, password=PASSWORD)
    return user


@pytest.fixture
def traveller(django_user_model):
    return django_user_model.objects.create_user("traveller", password=PASSWORD)


@pytest.fixture
def alice(db):
    return _investigator("alice", "Team A")


@pytest.fixture
def alice_teammate(alice):
    return _investigator("alice_teammate", "Team A")


@pytest.fixture
def bob(db):
    return _investigator("bob", "Team B")


@pytest.fixture
def client_for():
    """`client_for(user)`: an API client signed in as `user` (None = anonymous).

    The session login (second factor passed, see the root conftest) works for HTML pages
    and the API alike; `token=True` uses a new API token instead, as a script would.
    """

    def make(user=None, token=False):
        client = APIClient()
        if user is not None and token:
            _, key = token_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        elif user is not None:
            client.force_login(user)
        return client

    return make


def png_bytes(array_or_image) -> bytes:
    """PNG of a bool mask (True = white = erased) or of a PIL image."""
    image = array_or_image
    if isinstance(array_or_image, np.ndarray):
        image = Image.fromarray(np.where(array_or_image, 255, 0).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def make_search(image_bytes):
    """`make_search(owner, **fields)`: a stored search with a private query photo and
    its revision 1, as `search_create` stores them.

    No model runs: results are whatever `fields` say (none by default).
    """
    import hashlib

    from django.core.files.base import ContentFile

    from investigations.models import RUN_FIELDS, Search, SearchRevision
    from investigations.selectors import team_of

    def make(owner, **fields):
        data = image_bytes()
        search = Search(
            owner=owner,
            team=team_of(owner),
            query_content_type="image/jpeg",
            query_sha256=hashlib.sha256(data).hexdigest(),
            k=10,
            model_version="test-version",
            **fields,
        )
        search.query_image.save("query.jpg", ContentFile(data), save=False)
        search.save()
        SearchRevision.objects.create(
            search=search,
            number=1,
            created_by=owner,
            **{key: getattr(search, key) for key in RUN_FIELDS},
        )
        return search

    return make
