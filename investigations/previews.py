"""The query photo as investigators see it: upright, without metadata, and with the
erased area tinted red, as the eraser showed it (pages, compare view, reports)."""

from PIL import Image, ImageOps

ERASED_RGB = (220, 30, 30)


def erased_preview(search, mask_file, long_side: int) -> Image.Image:
    """Upright RGB copy at most `long_side` pixels; `mask_file` (a revision's) tinted.

    Raises OSError or ValueError when the stored photo cannot be read.
    """
    with search.query_image.open("rb") as fh, Image.open(fh) as image:
        upright = ImageOps.exif_transpose(image).convert("RGB")
    _paint_erased(upright, mask_file)
    upright.thumbnail((long_side, long_side))
    return upright


def upright_size(fh) -> tuple[int, int]:
    """A photo file's size once turned upright, from its header alone (no decoding)."""
    with Image.open(fh) as image:
        width, height = image.size
        # Orientations 5-8 swap width and height (exif_transpose does the same).
        turned = image.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF Orientation
    return (height, width) if turned else (width, height)


def _paint_erased(photo, mask_file) -> None:
    if not mask_file.name:
        return
    with mask_file.open("rb") as fh, Image.open(fh) as mask:
        erased = mask.convert("L").point(lambda value: 140 if value > 127 else 0)
    if erased.size == photo.size:
        photo.paste(Image.new("RGB", photo.size, ERASED_RGB), mask=erased)
