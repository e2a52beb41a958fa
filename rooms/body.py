"""Did the whole request body arrive? (issue 19, finding 8)

A client that disconnects in the middle of an upload leaves the server with less than
its Content-Length promised. Django's multipart parser stops at the end of what came
and keeps the complete parts, so a submission cut off in its second photo looked like
a valid one-photo submission. `watch_body` counts the bytes read from the body and
keeps its last few; `body_complete` then says whether all of them came and the
multipart body ended with its closing boundary. Uploads are stored only when it does.

The counter must be in place before anything parses the body: the upload views
install it first thing (the HTML view before its CSRF check, which reads the form).
"""

from django.http import HttpRequest
from django.utils.translation import gettext_lazy

TAIL_BYTES = 512  # the closing boundary, its CRLF and a short epilogue fit


class CountingStream:
    """A request stream that counts what it hands out and keeps the last bytes."""

    def __init__(self, stream):
        self._stream = stream
        self.received = 0
        self.tail = b""

    def _seen(self, data: bytes) -> bytes:
        self.received += len(data)
        self.tail = (self.tail + data)[-TAIL_BYTES:]
        return data

    def read(self, *args):
        return self._seen(self._stream.read(*args))

    def readline(self, *args):
        return self._seen(self._stream.readline(*args))

    def __iter__(self):
        return iter(self.readline, b"")

    def close(self):
        close = getattr(self._stream, "close", None)
        if close:
            close()


def watch_body(request: HttpRequest) -> None:
    """Count the body from here on (call before anything reads it)."""
    if not isinstance(getattr(request, "_stream", None), CountingStream):
        request._stream = CountingStream(request._stream)


def body_complete(request: HttpRequest) -> bool:
    """True when every declared byte arrived and a multipart body was closed.

    A request whose body was not watched, or that declares no length, counts as
    complete: there is nothing to compare.
    """
    stream = getattr(request, "_stream", None)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    if not isinstance(stream, CountingStream) or declared <= 0:
        return True
    if stream.received < declared:
        return False
    boundary = _boundary(request.META.get("CONTENT_TYPE", ""))
    return boundary is None or b"--" + boundary + b"--" in stream.tail


def _boundary(content_type: str) -> bytes | None:
    """The multipart boundary, or None when the body is not multipart."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return None
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            return value.strip().strip('"').encode("latin-1", "replace")
    return None


INCOMPLETE_DETAIL = gettext_lazy(
    "The upload was cut off before all of it arrived, so nothing was stored. Please send it again."
)
