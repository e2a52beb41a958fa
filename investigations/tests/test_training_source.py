# ruff: noqa: F811 (pytest fixtures imported from other test modules are arguments here)
"""Investigators' verdicts as the matcher's training data (`MATCHER_DECISIONS_SOURCE`)."""

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string
from PIL import Image

from investigations.models import AuditEntry, Search
from investigations.services import searches_purge_expired
from investigations.tests.test_evidence_api import search_body  # noqa: F401 (fixture)
from investigations.tests.test_search_api import gallery, private_files  # noqa: F401
from investigations.training import decided_queries
from matcher import decisions
from matcher.embedding import get_extractor


def decide(client, search, hotel, verdict, image=None):
    body = {"hotel": hotel, "verdict": verdict} | ({"image": image} if image else {})
    response = client.post(f"/api/searches/{search}/decisions/", body)
    assert response.status_code == 201, response.json()


def test_the_setting_names_this_source():
    assert import_string(settings.MATCHER_DECISIONS_SOURCE) is decided_queries


def test_a_decided_search_is_its_erased_query_with_the_judged_photos(
    search_body, alice, client_for
):
    top, other = search_body["hotels"][0], search_body["hotels"][1]
    client = client_for(alice)
    decide(client, search_body["id"], top["hotel"]["id"], "confirmed")
    rejected = other["matches"][0]["image_id"]
    decide(client, search_body["id"], other["hotel"]["id"], "rejected", image=rejected)

    (query,) = decided_queries()
    assert query.confirmed == tuple(sorted(m["image_id"] for m in top["matches"]))
    assert query.rejected == (rejected,)
    search = Search.objects.get()
    with search.query_image.open("rb") as fh:
        sent = np.asarray(Image.open(fh).convert("RGB"), dtype=np.int16)
    assert query.image.size == sent.shape[1::-1]
    assert query.mask is not None and query.mask.any()
    erased = np.abs(np.asarray(query.image, dtype=np.int16) - sent).mean(axis=2)
    assert erased[query.mask].mean() > 10 * max(erased[~query.mask].mean(), 0.1)  # filled
    # What the matcher's training reads through the setting: the query described.
    decided = decisions.read(get_extractor)
    assert decided.confirmed == [query.confirmed] and decided.vectors.shape[0] == 1
    reads = AuditEntry.objects.filter(action=AuditEntry.Action.TRAINING)
    assert [(r.search_id, r.user_id, r.query_sha256) for r in reads] == 2 * [
        (search.pk, None, search.query_sha256)
    ]  # one row per reading


def test_a_purged_search_teaches_nothing(search_body, alice, client_for):
    top = search_body["hotels"][0]
    decide(client_for(alice), search_body["id"], top["hotel"]["id"], "confirmed")
    Search.objects.update(created_at="2000-01-01T00:00:00Z")
    searches_purge_expired()
    assert list(decided_queries()) == []


def test_a_revision_whose_mask_was_not_kept_is_never_read(search_body, alice, client_for):
    """Older searches erased a person but kept no mask: the photo would show the victim."""
    top = search_body["hotels"][0]
    decide(client_for(alice), search_body["id"], top["hotel"]["id"], "confirmed")
    revision = Search.objects.get().revisions.get()
    assert revision.mask_sha256
    type(revision).objects.filter(pk=revision.pk).update(query_mask="")
    assert list(decided_queries()) == []
