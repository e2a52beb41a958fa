"""Public API for travellers: submit room photos, check one photo's status.

Errors share one shape: {"detail": "...", "errors": [{"file" or "field": ..., "reason": ...}]}.
"""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from rooms.intake import UploadRejected
from rooms.models import Hotel, RoomImage
from rooms.services import SubmissionConflict, submission_create
from rooms.throttles import UploadRateThrottle

# --- input -----------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.BINARY)
class PhotoField(serializers.FileField):
    """An uploaded photo (documented as binary; drf-spectacular would say URI)."""


class SubmissionInputSerializer(serializers.Serializer):
    hotel = serializers.PrimaryKeyRelatedField(
        queryset=Hotel.objects.all(),
        error_messages={
            "does_not_exist": 'unknown hotel "{pk_value}"',
            "incorrect_type": "hotel must be a hotel id (a number)",
        },
    )
    room_number = serializers.CharField(
        max_length=20,
        error_messages={"blank": "room number is empty", "max_length": "room number is too long"},
    )
    images = serializers.ListField(
        # Empty files get past here so the intake can name them in its own reason.
        child=PhotoField(allow_empty_file=True),
        min_length=1,
        max_length=settings.UPLOAD_MAX_IMAGES,
        help_text="1 to 4 photos: JPEG, PNG, WebP or HEIC.",
        error_messages={
            "required": "send 1 to 4 photos in the 'images' field",
            "empty": "send 1 to 4 photos in the 'images' field",
            "min_length": "send 1 to 4 photos in the 'images' field",
            "max_length": "too many photos: send at most {max_length}",
        },
    )

    def validate_room_number(self, value: str) -> str:
        if any(not ch.isprintable() for ch in value):
            raise serializers.ValidationError("room number contains control characters")
        return value


# --- output ----------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.URI)
class PublicUrlField(serializers.Field):
    """The stored photo's URL; null while hidden or held for moderation."""

    def __init__(self, source: str = "*", **kwargs):
        super().__init__(source=source, read_only=True, allow_null=True, **kwargs)

    def to_representation(self, image: RoomImage):
        if image.status == RoomImage.Status.HIDDEN or image.is_flagged:
            return None
        request = self.context.get("request")
        url = image.file.url
        return request.build_absolute_uri(url) if request else url


class RoomImagePublicSerializer(serializers.ModelSerializer):
    """What anyone may see of a photo: no hashes, camera, capture time or flag reason."""

    url = PublicUrlField()
    hotel = serializers.IntegerField(source="submission.hotel_id", read_only=True)
    room_number = serializers.CharField(source="submission.room_number", read_only=True)
    held_for_review = serializers.BooleanField(source="is_flagged", read_only=True)

    class Meta:
        model = RoomImage
        fields = [
            "id",
            "status",
            "url",
            "width",
            "height",
            "submission",
            "hotel",
            "room_number",
            "near_duplicate_of",
            "held_for_review",
            "created_at",
        ]
        read_only_fields = fields


class SubmittedImageSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="image.id")
    status = serializers.CharField(source="image.status")
    url = PublicUrlField(source="image", help_text="Null while hidden or held for review.")
    duplicate = serializers.BooleanField(
        help_text="True: this exact file was already stored; id is that earlier photo."
    )
    near_duplicate_of = serializers.IntegerField(
        source="image.near_duplicate_of_id", allow_null=True
    )
    held_for_review = serializers.BooleanField(source="image.is_flagged")


class SubmissionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="submission.id")
    hotel = serializers.IntegerField(source="submission.hotel_id")
    room_number = serializers.CharField(source="submission.room_number")
    images = SubmittedImageSerializer(many=True)


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
            400: OpenApiResponse(UploadErrorSerializer, "Invalid field or refused file."),
            413: OpenApiResponse(UploadErrorSerializer, "A file is over the upload size limit."),
            409: OpenApiResponse(UploadErrorSerializer, "Same photo uploaded concurrently; retry."),
            429: OpenApiResponse(UploadErrorSerializer, "Too many uploads; see Retry-After."),
        },
    )
    def post(self, request):
        serializer = SubmissionInputSerializer(data=request.data)
        if not serializer.is_valid():
            return _invalid(serializer.errors)
        data = serializer.validated_data
        try:
            result = submission_create(
                hotel=data["hotel"], room_number=data["room_number"], files=data["images"]
            )
        except UploadRejected as exc:
            return Response(exc.as_json(), status=exc.status_code)
        except DjangoValidationError as exc:
            return _invalid(exc.message_dict)
        except SubmissionConflict as exc:
            return Response({"detail": f"{exc}; retry"}, status=status.HTTP_409_CONFLICT)
        output = SubmissionOutputSerializer(result, context={"request": request})
        return Response(output.data, status=status.HTTP_201_CREATED)

    def throttled(self, request, wait):
        raise Throttled(wait, detail="Too many uploads from this address.")


class RoomImageDetailApi(generics.RetrieveAPIView):
    """One photo's processing status and public URL."""

    queryset = RoomImage.objects.select_related("submission")
    serializer_class = RoomImagePublicSerializer


def _invalid(errors: dict) -> Response:
    items = [{"field": field, "reason": reason} for field, reason in _flatten(errors)]
    return Response(
        {"detail": "Invalid submission.", "errors": items}, status=status.HTTP_400_BAD_REQUEST
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
