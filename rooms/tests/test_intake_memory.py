"""Issue 19, finding 7: intake memory is bounded per request.

One POST with a 7000x7000 RGBA PNG (~200 KB, under the 50 MP cap) used to raise the
server's memory by ~800 MB (decoded, transposed, converted, composited at full size),
and four such files fitted in one request. Now: a JPEG is decoded reduced, any other
format reduced right after decoding, strip by strip; the decoded pixels of one request
have a budget; and a process decodes at most UPLOAD_DECODE_CONCURRENCY photos at once.
`manage.py bench_intake_memory` gives the figures.
"""

import io
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from benchmarks.management.commands.bench_intake_memory import noisy_jpeg, rgba_png
from rooms import intake

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self")


@pytest.fixture(scope="module")
def big_png() -> bytes:
    return rgba_png(7000)


def peak_mb_of(action) -> float:
    """The resident memory `action` adds at its peak (the kernel's high-water mark)."""
    status = Path("/proc/self/status")

    def kib(field):
        line = next(x for x in status.read_text().splitlines() if x.startswith(field))
        return int(line.split()[1])

    baseline = kib("VmRSS:")
    Path("/proc/self/clear_refs").write_text("5")
    action()
    return (kib("VmHWM:") - baseline) / 1024


@linux_only
def test_a_7000px_rgba_png_costs_a_bounded_amount_of_memory(big_png):
    intake.process_upload(SimpleUploadedFile("warm.jpg", noisy_jpeg((64, 48), 0)))
    upload = SimpleUploadedFile("big.png", big_png)
    peak = peak_mb_of(lambda: intake.process_uploads([upload]))
    # Its decoded pixels alone are 7000 * 7000 * 4 bytes = 187 MB; it used to cost ~800.
    assert peak < 300, f"{peak:.0f} MB"


def test_four_such_pngs_exceed_the_request_pixel_budget(big_png, settings):
    uploads = [SimpleUploadedFile(f"{i}.png", big_png) for i in range(4)]
    with pytest.raises(intake.UploadRejected) as refused:
        intake.process_uploads(uploads)
    assert refused.value.status_code == 413
    reasons = [r.reason for r in refused.value.rejections]
    assert len(reasons) == 2 and "too large together" in reasons[0]  # the 3rd and 4th


def test_the_budget_is_a_setting(settings):
    settings.UPLOAD_MAX_REQUEST_PIXELS = 10_000
    small = [SimpleUploadedFile(f"{i}.jpg", noisy_jpeg((80, 80), i)) for i in range(2)]
    with pytest.raises(intake.UploadRejected):
        intake.process_uploads(small)  # 2 x 6,400 pixels


def test_a_large_jpeg_is_decoded_reduced_but_never_below_the_stored_size():
    image = intake.decode_upload(noisy_jpeg((8000, 6000), 1), "big.jpg")
    assert image.size == (4000, 3000)  # DCT scaling by 2, not 48 MP
    stored = intake.normalise(image)
    assert max(stored.size) == intake.STORED_MAX_SIDE


def test_reduced_matches_pillows_own_reduce_and_keeps_transparency_white():
    image = Image.new("RGBA", (4100, 300), (0, 0, 0, 0))
    image.paste((10, 20, 30, 255), (0, 0, 2050, 300))
    small = intake.reduced(image, 2048)
    assert small.size == (2050, 150) and list(small.getdata()) == list(image.reduce(2).getdata())
    rgb = intake.normalise(image)
    assert rgb.getpixel((10, 10)) == (10, 20, 30) and rgb.getpixel((2040, 10)) == (255, 255, 255)


def test_a_palette_png_is_reduced_too():
    image = Image.new("P", (5000, 100))
    image.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    image.paste(1, (0, 0, 5000, 100))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    stored = intake.normalise(intake.decode_upload(buffer.getvalue(), "p.png"))
    assert stored.size == (2048, 41) and stored.getpixel((5, 5)) == (200, 100, 50)


def test_decodes_wait_for_a_free_slot_and_give_up_busy(settings):
    settings.UPLOAD_DECODE_CONCURRENCY = 1
    settings.UPLOAD_DECODE_WAIT_SECONDS = 0.1
    upload = SimpleUploadedFile("a.jpg", noisy_jpeg((64, 48), 2))
    with intake.decoding_slot("another request's photo"):
        with pytest.raises(intake.UploadRejected) as refused:
            intake.process_uploads([upload])
    assert refused.value.status_code == 503
    assert "busy" in refused.value.rejections[0].reason
    assert intake.process_uploads([upload])  # the slot is free again


def test_busy_is_a_503_on_the_api(client, hotel, settings):
    settings.UPLOAD_DECODE_CONCURRENCY = 1
    settings.UPLOAD_DECODE_WAIT_SECONDS = 0.1
    photo = SimpleUploadedFile("a.jpg", noisy_jpeg((64, 48), 3), "image/jpeg")
    with intake.decoding_slot("another request's photo"):
        response = client.post(
            "/api/submissions/", {"hotel": hotel.id, "room_number": "1", "images": [photo]}
        )
    assert response.status_code == 503
