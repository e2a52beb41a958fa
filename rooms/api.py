"""Public API for travellers: submit room photos, check one photo's status.

Errors share one shape: {"detail": "...", "errors": [{"file" or "field": ..., "reason": ...}]}.
"""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms.body import INCOMPLETE_DETAIL, body_complete, watch_body
from rooms.intake import UploadRejected
from rooms.models import Hotel, Submission, digest_of_receipt
from rooms.presenting import PUBLIC_CODES, public_status
from rooms.services import ImageOutcome, SubmissionConflict, UploadBlocked
from rooms.submit_once import Submitted, parse_capture_times, submit_once
from rooms.throttles import ReceiptRateThrottle, UploadRateThrottle
from rooms.withdraw import submission_withdraw
from traffickcam.client import client_address

# --- input -----------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.BINARY)
class PhotoField(serializers.FileField):
    """An uploaded photo (documented as binary; drf-spectacular would say URI)."""


class SubmissionInputSerializer(serializers.Serializer):
    hotel = serializers.PrimaryKeyRelatedField(
        # Travellers' proposals wait for a moderator before anyone can upload into them.
        queryset=Hotel.objects.filter(status=Hotel.Status.LISTED),
        error_messages={
            "does_not_exist": gettext_lazy('unknown hotel "{pk_value}"'),
            "incorrect_type": gettext_lazy("hotel must be a hotel id (a number)"),
        },
    )
    room_number = serializers.CharField(
        max_length=20,
        error_messages={
            "blank": gettext_lazy("room number is empty"),
            "max_length": gettext_lazy("room number is too long"),
        },
    )
    images = serializers.ListField(
        # Empty files get past here so the intake can name them in its own reason.
        child=PhotoField(allow_empty_file=True),
        min_length=1,
        max_length=settings.UPLOAD_MAX_IMAGES,
        help_text="1 to 4 photos: JPEG, PNG, WebP or HEIC.",
        error_messages={
            "required": gettext_lazy("send 1 to 4 photos in the 'images' field"),
            "empty": gettext_lazy("send 1 to 4 photos in the 'images' field"),
            "min_length": gettext_lazy("send 1 to 4 photos in the 'images' field"),
            "max_length": gettext_lazy("too many photos: send at most {max_length}"),
        },
    )

    client_token = serializers.UUIDField(
        required=False,
        help_text="A random UUID the client picks once per submission and sends with every "
        "try: a retry after a dropped connection gets the stored submission (same receipt) "
        "instead of storing it twice.",
    )
    captured_at = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=True),
        required=False,
        help_text="One per photo, in order: the original's capture time (ISO 8601, "
        '"" when unknown), used when the photo sent carries none (a copy shrunk by the client).',
    )

    def validate_room_number(self, value: str) -> str:
        if any(not ch.isprintable() for ch in value):
            raise serializers.ValidationError(_("room number contains control characters"))
        return value

    def validate(self, attrs):
        try:
            attrs["captured_at"] = parse_capture_times(
                attrs.get("captured_at", []), len(attrs["images"])
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"captured_at": exc.messages}) from None
        return attrs


# --- output ----------------------------------------------------------------------------
# Status only (issue 19, finding 5): no hotel, room number, time, URL or link to another
# photo, and photos and submissions only by their unguessable public ids.


class PhotoStatusSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.ChoiceField(choices=PUBLIC_CODES, source="public_status_code")


class SubmittedImageSerializer(serializers.Serializer):
    id = serializers.UUIDField(
        source="image.public_id",
        allow_null=True,
        help_text="Null for a photo already received: it was not stored again.",
    )
    status = serializers.ChoiceField(choices=[*PUBLIC_CODES, "duplicate"])
    duplicate = serializers.BooleanField(help_text="True: this exact file was already stored.")


class SubmissionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="submission.public_id")
    receipt = serializers.CharField(
        help_text="Keep it: the only way to see the status of these photos later "
        "(GET /api/submissions/{receipt}/). It is shown once."
    )
    images = SubmittedImageSerializer(many=True, source="image_rows")


class SubmissionStatusSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    images = PhotoStatusSerializer(many=True)


class UploadErrorItemSerializer(serializers.Serializer):
    file = serializers.CharField(required=False, help_text="The refused file's name.")
    field = serializers.CharField(required=False, help_text="The invalid form field.")
    reason = serializers.CharField()


class UploadErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = UploadErrorItemSerializer(many=True, required=False)


# --- views -----------------------------------------------------------------------------


class SubmissionCreateApi(APIView):
    """Upload 1 to 4 photos of one hotel room."""

    parser_classes = [MultiPartParser, FormParser]
    throttle_classes = [UploadRateThrottle]

    @extend_schema(
        operation_id="submissions_create",
        request={"multipart/form-data": SubmissionInputSerializer},
        responses={
            201: SubmissionOutputSerializer,
            200: OpenApiResponse(
                SubmissionOutputSerializer,
                "Already stored by an earlier try with this client_token.",
            ),
            400: OpenApiResponse(UploadErrorSerializer, "Invalid field or refused file."),
            413: OpenApiResponse(UploadErrorSerializer, "A file is over the upload size limit."),
            409: OpenApiResponse(UploadErrorSerializer, "Same photo uploaded concurrently; retry."),
            429: OpenApiResponse(UploadErrorSerializer, "Too many uploads; see Retry-After."),
            503: OpenApiResponse(UploadErrorSerializer, "Server busy decoding; retry."),
        },
    )
    def post(self, request):
        data = request.data  # parsed here, so the body is complete or not from now on
        if not body_complete(request._request):
            return Response({"detail": INCOMPLETE_DETAIL}, status=status.HTTP_400_BAD_REQUEST)
        serializer = SubmissionInputSerializer(data=data)
        if not serializer.is_valid():
            return _invalid(serializer.errors)
        data = serializer.validated_data
        try:
            submitted = submit_once(
                hotel=data["hotel"],
                room_number=data["room_number"],
                files=data["images"],
                captured_at=data["captured_at"],
                client_token=data.get("client_token"),
                client_address=client_address(request),
            )
        except UploadBlocked as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        except UploadRejected as exc:
            return Response(exc.as_json(), status=exc.status_code)
        except DjangoValidationError as exc:
            return _invalid(exc.message_dict)
        except SubmissionConflict as exc:
            return Response({"detail": f"{exc}; retry"}, status=status.HTTP_409_CONFLICT)
        code = status.HTTP_200_OK if submitted.replayed else status.HTTP_201_CREATED
        return Response(SubmissionOutputSerializer(_output(submitted)).data, status=code)

    def initialize_request(self, request, *args, **kwargs):
        watch_body(request)  # before anything parses the body
        return super().initialize_request(request, *args, **kwargs)

    def throttled(self, request, wait):
        raise Throttled(wait, detail=_("Too many uploads from this address."))


class SubmissionStatusApi(APIView):
    """The status of each photo of a submission, for the traveller holding its receipt."""

    throttle_classes = [ReceiptRateThrottle]

    @extend_schema(
        operation_id="submissions_status",
        responses={
            200: SubmissionStatusSerializer,
            404: OpenApiResponse(UploadErrorSerializer, "No submission has this receipt."),
            429: OpenApiResponse(UploadErrorSerializer, "Too many requests; see Retry-After."),
        },
    )
    def get(self, request, receipt: str):
        submission = (
            Submission.objects.filter(receipt_digest=digest_of_receipt(receipt))
            .only("public_id")
            .first()
        )
        if submission is None:
            raise NotFound(_("No submission has this receipt."))
        images = submission.images.order_by("id").only(
            "public_id", "status", "flagged_reason", "quarantined"
        )
        for image in images:
            image.public_status_code = public_status(image).code
        body = SubmissionStatusSerializer({"public_id": submission.public_id, "images": images})
        response = Response(body.data)
        response["Cache-Control"] = "private, no-store"
        return response

    @extend_schema(
        operation_id="submissions_withdraw",
        responses={
            204: OpenApiResponse(description="Withdrawn: the photos and their files are deleted."),
            404: OpenApiResponse(UploadErrorSerializer, "No submission has this receipt."),
            429: OpenApiResponse(UploadErrorSerializer, "Too many requests; see Retry-After."),
        },
    )
    def delete(self, request, receipt: str):
        """Withdraw the submission: its photos, their files and vectors are deleted."""
        if not submission_withdraw(receipt):
            raise NotFound(_("No submission has this receipt."))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _output(submitted: Submitted) -> dict:
    """One row per photo sent, in order; a replay lists what the first try stored, then
    the photos that were already received."""
    outcomes = (
        submitted.images
        or [
            ImageOutcome(image=image, duplicate=False)
            for image in submitted.submission.images.order_by("id")
        ]
        + [ImageOutcome(image=None, duplicate=True)] * submitted.duplicates
    )
    rows = [
        {
            "image": None if outcome.duplicate else outcome.image,
            "status": "duplicate" if outcome.duplicate else public_status(outcome.image).code,
            "duplicate": outcome.duplicate,
        }
        for outcome in outcomes
    ]
    return {"submission": submitted.submission, "receipt": submitted.receipt, "image_rows": rows}


def _invalid(errors: dict) -> Response:
    items = [{"field": field, "reason": reason} for field, reason in _flatten(errors)]
    return Response(
        {"detail": _("Invalid submission."), "errors": items}, status=status.HTTP_400_BAD_REQUEST
    )


def _flatten(errors, prefix: str = ""):
    """DRF's nested error structure as (field path, message) pairs."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            path = f"{prefix}[{key}]" if prefix else str(key)
            yield from _flatten(value, path)
    elif isinstance(errors, list | tuple):
        for value in errors:
            yield from _flatten(value, prefix)
    else:
        yield prefix, str(errors)
