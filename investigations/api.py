"""Investigator search API: one view per operation; services and selectors do the work.

Every endpoint needs an investigator (session or `Authorization: Token ...`). A
search that is not the user's or their team's answers 404, never 403, so its
existence is not revealed.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from investigations.exports import search_export, search_export_csv
from investigations.models import AuditEntry
from investigations.permissions import IsInvestigator
from investigations.selectors import searches_visible_to
from investigations.services import K_MAX, audit_record, search_create
from matcher.services import IndexVersionMismatch
from traffickcam.client import client_address

FILTER_KEYS = ("country", "city", "chain", "near", "radius_km")
PRIVATE_HEADERS = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


class SearchUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Search is temporarily unavailable."
    default_code = "search_unavailable"


# --- serializers (input, and the shape of the stored results for the schema) ---


class SearchInputSerializer(serializers.Serializer):
    # Plain FileFields: the service decides what a valid photo is, by content.
    image = serializers.FileField(help_text="JPEG, PNG, WebP or HEIC photo of the room.")
    mask = serializers.FileField(
        required=False, help_text="PNG the size of the upright photo; white = erased."
    )
    region = serializers.CharField(required=False, allow_blank=True, help_text="x,y,w,h pixels")
    country = serializers.CharField(required=False, allow_blank=True, max_length=2)
    city = serializers.CharField(required=False, allow_blank=True, max_length=120)
    chain = serializers.CharField(required=False, allow_blank=True, help_text="Chain id or name")
    near = serializers.CharField(required=False, allow_blank=True, help_text="lat,lon")
    radius_km = serializers.FloatField(required=False)
    k = serializers.IntegerField(required=False, default=10, min_value=1, max_value=K_MAX)


class MatchSerializer(serializers.Serializer):
    image_id = serializers.IntegerField()
    score = serializers.FloatField()
    url = serializers.CharField()


class HotelSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    chain = serializers.CharField(allow_null=True)
    city = serializers.CharField()
    country_code = serializers.CharField()
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()


class HotelResultSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    score = serializers.FloatField(
        help_text="The hotel's best photo score (cosine similarity, plus up to 0.5 "
        "for geometrically verified local-feature matches)."
    )
    hotel = HotelSummarySerializer()
    matches = MatchSerializer(many=True)


class ChainSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ChainResultSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    score = serializers.FloatField()
    chain = ChainSummarySerializer()


class SearchSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    investigator = serializers.CharField(source="owner.username")
    k = serializers.IntegerField()
    region = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    filters = serializers.DictField()
    query_exif = serializers.DictField()
    model_version = serializers.CharField()
    hotels = HotelResultSerializer(many=True)
    chains = ChainResultSerializer(many=True)


# --- views ---


def _visible_search(request, pk):
    return get_object_or_404(searches_visible_to(request.user), pk=pk)


class SearchCreateApi(APIView):
    permission_classes = [IsInvestigator]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "searches"
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": SearchInputSerializer},
        responses={201: SearchSerializer},
        summary="Rank hotels for a query photo (victim erased by the mask)",
    )
    def post(self, request):
        serializer = SearchInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            search = search_create(
                user=request.user,
                image_file=data["image"],
                mask_file=data.get("mask"),
                region=data.get("region") or None,
                filters={key: data.get(key) for key in FILTER_KEYS},
                k=data["k"],
                client_address=client_address(request),
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        except IndexVersionMismatch as exc:
            raise SearchUnavailable(str(exc)) from None
        return Response(SearchSerializer(search).data, status=status.HTTP_201_CREATED)


class SearchDetailApi(APIView):
    permission_classes = [IsInvestigator]

    @extend_schema(responses={200: SearchSerializer}, summary="A search's ranked results")
    def get(self, request, pk):
        return Response(SearchSerializer(_visible_search(request, pk)).data)


def _private(response, disposition):
    response["Content-Disposition"] = disposition
    for header, value in PRIVATE_HEADERS.items():
        response[header] = value
    return response


def _audit(request, search, action):
    audit_record(
        user=request.user, search=search, action=action, client_address=client_address(request)
    )


def _exported_search(request, pk):
    """The search to export, once its export is in the audit trail."""
    search = _visible_search(request, pk)
    _audit(request, search, AuditEntry.Action.EXPORT)
    return search


def _attachment(response, search, extension):
    return _private(response, f'attachment; filename="search-{search.pk}.{extension}"')


class SearchExportCsvApi(APIView):
    permission_classes = [IsInvestigator]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR}, summary="Case file (CSV)")
    def get(self, request, pk):
        search = _exported_search(request, pk)
        body = search_export_csv(search, request.build_absolute_uri)
        return _attachment(
            HttpResponse(body, content_type="text/csv; charset=utf-8"), search, "csv"
        )


class SearchExportJsonApi(APIView):
    permission_classes = [IsInvestigator]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Case file (JSON)")
    def get(self, request, pk):
        search = _exported_search(request, pk)
        data = search_export(search, request.build_absolute_uri)
        return _attachment(Response(data), search, "json")


class SearchQueryImageApi(APIView):
    permission_classes = [IsInvestigator]

    @extend_schema(
        responses={(200, "image/*"): OpenApiTypes.BINARY},
        summary="The query photo (owner and team only; never cached)",
    )
    def get(self, request, pk):
        search = _visible_search(request, pk)
        try:
            photo = search.query_image.open("rb")
        except FileNotFoundError:  # purged between the lookup and now
            raise Http404 from None
        response = _private(FileResponse(photo, content_type=search.query_content_type), "inline")
        _audit(request, search, AuditEntry.Action.QUERY_IMAGE)
        return response
