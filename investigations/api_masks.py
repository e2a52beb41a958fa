"""`POST /api/suggest-mask/`: people found in a query photo, as an erase mask to correct.

The photo is decoded, checked like a search's (size, format, decoding limits),
searched for people by `retrieval.people` (offline detectors, nothing leaves the
server) and forgotten: only the audit row, with its SHA-256, stays.
"""

import hashlib
import io

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from PIL import Image, ImageOps
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from investigations.api import _private
from investigations.audit import audit_record
from investigations.models import AuditEntry
from investigations.permissions import IsInvestigator
from investigations.query import QUERY_FORMATS, load_photo
from traffickcam.client import client_address


class SuggestUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Suggested masks are not available on this server."
    default_code = "suggest_unavailable"


class SuggestMaskInputSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="The query photo as chosen (JPEG, PNG, WebP, HEIC).")


class SuggestMaskApi(APIView):
    permission_classes = [IsInvestigator]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "searches"
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": SuggestMaskInputSerializer},
        responses={(200, "image/png"): OpenApiTypes.BINARY},
        summary="Suggest an erase mask: white where people were found (correct it by hand); "
        "X-People-Found: how many separate regions it covers",
    )
    def post(self, request):
        from retrieval.people import find_people, outline_mask

        serializer = SuggestMaskInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            data, original = load_photo(serializer.validated_data["image"], "image", QUERY_FORMATS)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        photo = ImageOps.exif_transpose(original).convert("RGB")
        try:
            people = find_people(photo, threads=settings.MATCHER_THREADS)
        except (ImportError, FileNotFoundError) as exc:  # nudenet's model not installed
            raise SuggestUnavailable(f"people detection is not installed here: {exc}") from None
        mask = outline_mask(photo, people)
        audit_record(
            user=request.user,
            action=AuditEntry.Action.SUGGEST_MASK,
            client_address=client_address(request),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        response = _private(HttpResponse(_png(mask), content_type="image/png"), "inline")
        response["X-People-Found"] = str(_regions(mask) if people else 0)
        return response


def _regions(mask: np.ndarray) -> int:
    """Separate erased regions: a face and a body seen apart are still one person."""
    import cv2

    count, _ = cv2.connectedComponents(mask.astype(np.uint8))
    return count - 1  # label 0 is the background


def _png(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), "L").save(buffer, "PNG")
    return buffer.getvalue()
