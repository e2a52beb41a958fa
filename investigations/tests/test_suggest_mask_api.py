"""POST /api/suggest-mask/: a mask of the people in a photo, nothing stored, audited."""

import hashlib
import io

import numpy as np
from PIL import Image

from demo.person import room_with_person
from investigations.models import AuditEntry, Search
from investigations.tests.audit_support import access_entries

URL = "/api/suggest-mask/"


def _jpeg(image):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    buffer.seek(0)
    buffer.name = "photo.jpg"
    return buffer


def test_a_mask_the_size_of_the_photo_comes_back_and_nothing_is_kept(alice, client_for, settings):
    photo, truth = room_with_person(3)  # one the detectors find (retrieval/tests/test_people.py)
    upload = _jpeg(photo)
    response = client_for(alice).post(URL, {"image": upload}, format="multipart")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "private, no-store"
    mask = np.asarray(Image.open(io.BytesIO(response.content))) > 127
    assert mask.shape == truth.shape
    assert int(response["X-People-Found"]) >= 1
    assert (mask & truth).sum() > 0.9 * truth.sum()
    assert (mask & ~truth).sum() < 0.35 * (~truth).sum()
    entry = AuditEntry.objects.get(action="suggest_mask")
    assert entry.query_sha256 == hashlib.sha256(upload.getvalue()).hexdigest()
    assert entry.search_id is None and entry.username == "alice"
    assert not Search.objects.exists()
    assert not any(p.is_file() for p in settings.PRIVATE_MEDIA_ROOT.rglob("*"))


def test_a_bad_photo_is_refused_with_its_reason(alice, client_for):
    broken = io.BytesIO(b"GIF89a not really")
    broken.name = "x.gif"
    response = client_for(alice).post(URL, {"image": broken}, format="multipart")
    assert response.status_code == 400 and "image" in response.json()
    assert not access_entries().exists()


def test_only_investigators_may_ask(traveller, client_for):
    photo, _ = room_with_person(1)
    assert client_for(traveller).post(URL, {"image": _jpeg(photo)}).status_code == 403
    assert client_for(None).post(URL, {"image": _jpeg(photo)}).status_code in (401, 403)
