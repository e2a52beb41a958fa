"""The enrolment QR code, drawn here (segno, inline SVG): the secret never leaves the server."""

from base64 import b32encode

import segno


def svg(otpauth_url: str) -> str:
    return segno.make(otpauth_url, error="m").svg_inline(scale=5, light="#fff")


def secret(device) -> str:
    """The device's key as authenticator apps take it typed in: base32, in groups of 4."""
    text = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))
