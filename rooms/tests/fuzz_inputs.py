"""Hypothesis strategies for hostile uploads, shared by the upload and search fuzz tests.

Inputs start from the seed corpus in fuzz_corpus/ (tiny real images in every accepted
format and several refused ones, a truncated JPEG, a bomb header, polyglots, HTML and
SVG disguised as images, an empty file) and are mutated: truncated, bytes flipped,
inserted or spliced between files, declared dimensions made huge, script appended.

FUZZ_EXAMPLES sets how many inputs each fuzz test tries (default: a bounded run for
the test suite; the full run of docs/benchmarks.md uses 5000 or more).
"""

import functools
import io
import os
import struct
import zlib
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

CORPUS = Path(__file__).parent / "fuzz_corpus"
DEFAULT_EXAMPLES = 200


def fuzz_settings(**overrides):
    """Hypothesis settings for a fuzz test: FUZZ_EXAMPLES inputs, no deadline (shared CPU)."""
    examples = int(os.environ.get("FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
    return settings(
        max_examples=examples,
        deadline=None,
        # One database and media folder for all examples: each example checks that
        # it left nothing behind, so sharing them is the point.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=os.environ.get("FUZZ_RANDOM", "") == "",  # reproducible in CI
        database=None,
        **overrides,
    )


@functools.cache
def corpus() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(CORPUS.iterdir()) if path.is_file()}


@functools.cache
def bomb_png() -> bytes:
    """A real decompression bomb: 9000 x 9000 grey pixels (81 MP) in about 80 KB."""
    width = height = 9000
    raw = zlib.compress((b"\0" + b"\0" * width) * height, 9)
    return _png(width, height, color_type=0, idat=raw)


def _png(width, height, *, color_type=2, idat=b"") -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND")


def _chunk(kind: bytes, data: bytes = b"") -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + data))
    return struct.pack(">I", len(data)) + kind + data + crc


def huge_dimensions(data: bytes, width: int, height: int) -> bytes:
    """The same file with its declared size replaced (PNG IHDR or JPEG SOF)."""
    if data.startswith(b"\x89PNG") and len(data) > 24:
        return data[:16] + struct.pack(">II", width, height) + data[24:]
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at != -1 and len(data) > at + 9:
            size = struct.pack(">HH", min(height, 65535), min(width, 65535))
            return data[: at + 5] + size + data[at + 9 :]
    return data


seeds = st.sampled_from(sorted(corpus()))


@st.composite
def mutated_bytes(draw) -> bytes:
    """One hostile file body."""
    data = corpus()[draw(seeds)]
    kind = draw(
        st.sampled_from(
            # "as-is" weighs more: valid files must reach the 201 path too.
            ["as-is"] * 4
            + ["truncate", "flip", "insert", "splice", "dimensions", "append", "random", "bomb"]
        )
    )
    if kind == "truncate" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "flip" and data:
        data = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "insert":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
    if kind == "splice":
        other = corpus()[draw(seeds)]
        return data[: draw(st.integers(0, len(data)))] + other[draw(st.integers(0, len(other))) :]
    if kind == "dimensions":
        side = st.sampled_from([0, 1, 65535, 100_000, 2**31 - 1, 2**32 - 1])
        return huge_dimensions(data, draw(side), draw(side))
    if kind == "append":
        return data + draw(st.sampled_from([b"<script>alert(1)</script>", b"<?php ?>", b"\0" * 64]))
    if kind == "random":
        return draw(st.binary(max_size=512))
    if kind == "bomb":
        return bomb_png()
    return data


content_types = st.sampled_from(
    ["image/jpeg", "image/png", "image/webp", "image/heic", "image/svg+xml", "text/html",
     "application/octet-stream", "application/x-php", "", "image/jpeg; charset=utf-8"]
)  # fmt: skip

file_names = st.one_of(
    st.sampled_from(["room.jpg", "../../etc/passwd", "x.php", "a" * 300 + ".jpg", "", ".jpg"]),
    st.text(max_size=40).map(lambda text: text + ".jpg"),
)

long_or_odd_text = st.one_of(
    st.text(max_size=30),
    st.text(min_size=200, max_size=5000),
    st.sampled_from(["\x00", "\u202e101", "1\r\n2", "%00", "' OR 1=1 --", "<b>12</b>", "１０１"]),
)


@st.composite
def raw_multipart(draw) -> tuple[bytes, str]:
    """A hand-built (often broken) multipart body and the content type that claims it."""
    boundary = draw(st.sampled_from(["B0undary", "", "x" * 100, "a b", "\u00e9t\u00e9"]))
    body = draw(
        st.sampled_from(
            [
                b"",
                b"--B0undary\r\n",
                b'--B0undary\r\nContent-Disposition: form-data; name="images"; '
                b'filename="\xff\xfe.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
                + corpus()["room.jpg"]
                + b"\r\n--B0undary--\r\n",
                b'--B0undary\r\nContent-Disposition: form-data; name="room_number"\r\n\r\n'
                b"\xff\xfe\xfd\r\n--B0undary--\r\n",
                b"--B0undary\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--B0undary--",
            ]
        )
    )
    body += draw(st.binary(max_size=64))
    content_type = draw(
        st.sampled_from(
            [f"multipart/form-data; boundary={boundary}", "multipart/form-data",
             "application/x-www-form-urlencoded", "application/json", "text/plain", ""]
        )
    )  # fmt: skip
    return body, content_type


def uploaded(data: bytes, name: str, content_type: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name or "unnamed", data, content_type=content_type)


def assert_json_refusal_or_created(response) -> dict:
    """Only 201 (a valid input) or a 4xx with a JSON reason: never a 5xx or an HTML page."""
    status = response.status_code
    assert status == 201 or 400 <= status < 500, (status, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    if status != 201:
        assert isinstance(body.get("detail"), str) and body["detail"], body
    return body


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
