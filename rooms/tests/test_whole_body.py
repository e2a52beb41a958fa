"""Issue 19, finding 8: a submission is stored whole or not at all.

A real client over a real socket against a live server: it declares the Content-Length
of two photos, sends the body only to the middle of the second one, and stops sending.
Django's multipart parser keeps the parts that were complete and silently drops the
last, so this used to store a one-photo submission (201 / 302).
"""

import re
import socket
from urllib.parse import urlparse

import pytest

from conftest import make_image_bytes
from rooms.body import CountingStream, _boundary, body_complete
from rooms.models import RoomImage, Submission

pytestmark = pytest.mark.django_db(transaction=True)

BOUNDARY = "----traveller-boundary-7MA4YWxkTrZu0gW"


def multipart(fields: dict, files: list[tuple[str, str, bytes]]) -> bytes:
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            .encode()
        )  # fmt: skip
    for field, filename, data in files:
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def post_raw(live_server, path: str, body: bytes, *, send: int, headers: dict | None = None):
    """POST `body` declaring its full length, send only its first `send` bytes, stop
    sending (half-close, as a phone whose connection dropped), and read the answer."""
    url = urlparse(live_server.url)
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {url.hostname}:{url.port}",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall("\r\n".join(lines).encode() + b"\r\n\r\n" + body[:send])
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.decode("latin-1")


def photos():
    first = make_image_bytes(size=(640, 480), color=(200, 30, 30))
    second = make_image_bytes(size=(640, 480), color=(30, 200, 30))
    return [("images", "a.jpg", first), ("images", "b.jpg", second)]


def middle_of_second_photo(body: bytes, files) -> int:
    second = files[1][2]
    return body.index(second) + len(second) // 2


def test_api_upload_cut_off_in_its_second_photo_stores_nothing(live_server, hotel, settings):
    files = photos()
    body = multipart({"hotel": hotel.id, "room_number": "12"}, files)
    status, answer = post_raw(
        live_server, "/api/submissions/", body, send=middle_of_second_photo(body, files)
    )
    assert status == 400, answer[:500]
    assert "cut off" in answer
    assert not Submission.objects.exists() and not RoomImage.objects.exists()
    assert not [p for p in settings.MEDIA_ROOT.rglob("*") if p.is_file()]


def test_whole_api_upload_over_the_same_socket_is_stored(live_server, hotel):
    files = photos()
    body = multipart({"hotel": hotel.id, "room_number": "12"}, files)
    status, answer = post_raw(live_server, "/api/submissions/", body, send=len(body))
    assert status == 201, answer[:500]
    assert Submission.objects.get().images.count() == 2


def test_form_upload_cut_off_in_its_second_photo_stores_nothing(live_server, hotel):
    # The form's CSRF cookie and token, as a browser would have them.
    import urllib.request

    with urllib.request.urlopen(live_server.url + "/") as page:
        cookie = page.headers["Set-Cookie"].split(";", 1)[0]
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())
    files = photos()
    fields = {"csrfmiddlewaretoken": token.group(1), "hotel": hotel.id, "room_number": "12"}
    body = multipart(fields, files)
    headers = {"Cookie": cookie, "Referer": live_server.url + "/", "Origin": live_server.url}
    cut = middle_of_second_photo(body, files)
    status, answer = post_raw(live_server, "/", body, send=cut, headers=headers)
    assert status == 400, answer[:500]
    assert "cut off before all of it arrived" in answer
    assert not Submission.objects.exists() and not RoomImage.objects.exists()


# --- the check itself -----------------------------------------------------------------


class FakeRequest:
    def __init__(self, body: bytes, declared: int, content_type: str):
        self.META = {"CONTENT_LENGTH": str(declared), "CONTENT_TYPE": content_type}
        self._stream = CountingStream(_Reader(body))


class _Reader:
    def __init__(self, data):
        self.data = data

    def read(self, size=-1):
        size = len(self.data) if size is None or size < 0 else size
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk

    def readline(self, size=-1):
        return self.read(size)


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def complete(sent: bytes, declared: int) -> bool:
    request = FakeRequest(sent, declared, MULTIPART)
    request._stream.read()  # what the parser does: read all there is
    return body_complete(request)


def test_body_complete_needs_every_declared_byte_and_the_closing_boundary():
    body = multipart({"room_number": "1"}, [("images", "a.jpg", b"\xff\xd8data")])
    unclosed = body[: -len(f"--{BOUNDARY}--\r\n")]
    assert complete(body, len(body))
    assert not complete(body[:-10], len(body))  # the client stopped sending
    assert not complete(unclosed, len(unclosed))  # all declared bytes, but never closed


def test_boundary_is_read_from_the_content_type():
    assert _boundary('multipart/form-data; boundary="a b"') == b"a b"
    assert _boundary("application/x-www-form-urlencoded") is None
