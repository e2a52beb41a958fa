"""Investigator search API: one view per operation; services and selectors do the work.

Every endpoint needs an investigator (session or `Authorization: Token ...`). A
search that is not the user's or their team's answers 404, never 403, so its
existence is not revealed.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from investigations import evidence
from investigations.exports import search_export, search_export_csv
from investigations.models import AuditEntry, Decision
from investigations.permissions import IsInvestigator
from investigations.presenting import results_for, revision_of
from investigations.selectors import searches_visible_to
from investigations.services import (
    K_MAX,
    audit_record,
    decision_record,
    search_create,
    search_revise,
)
from matcher.services import IndexVersionMismatch, MatchGone, verified_count
from retrieval.explain import NotDecomposable
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
    score = serializers.FloatField(help_text="cosine, plus the verification lift (up to 0.5)")
    cosine = serializers.FloatField(
        required=False, help_text="The descriptors' cosine alone: what the heat maps sum to."
    )
    url = serializers.CharField(help_text="The gallery photo's thumbnail.")
    full_url = serializers.CharField(help_text="The gallery photo at its stored size.")
    room_number = serializers.CharField(allow_null=True)
    uploaded_at = serializers.DateTimeField(allow_null=True)
    verified = serializers.BooleanField(
        help_text="Geometric verification found enough matching points in one layout."
    )
    inliers = serializers.IntegerField(
        allow_null=True, help_text="Matching points in a consistent layout; null = not checked."
    )
    explanation_url = serializers.CharField(help_text="PNG: both photos with their heat maps.")
    heatmap_query_url = serializers.CharField(help_text="PNG layer over the query photo.")
    heatmap_gallery_url = serializers.CharField(help_text="PNG layer over the gallery photo.")
    correspondences_url = serializers.CharField(help_text="PNG: inlier pairs as lines.")
    correspondences_json_url = serializers.CharField()
    compare_url = serializers.CharField(help_text="The side-by-side compare page.")
    decision = serializers.ChoiceField(choices=Decision.Verdict.choices, allow_null=True)
    decision_note = serializers.CharField(allow_blank=True)


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
    photo_count = serializers.IntegerField(
        allow_null=True, help_text="Live gallery photos of the hotel when the search ran."
    )
    decision = serializers.ChoiceField(choices=Decision.Verdict.choices, allow_null=True)
    decision_note = serializers.CharField(allow_blank=True)
    matches = MatchSerializer(many=True)


class ChainSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ChainResultSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    score = serializers.FloatField()
    chain = ChainSummarySerializer()


class RevisionSummarySerializer(serializers.Serializer):
    number = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    filters = serializers.DictField()
    k = serializers.IntegerField()
    region = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    mask_sha256 = serializers.CharField(allow_blank=True)


class SearchSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    investigator = serializers.CharField()
    revision = serializers.IntegerField(help_text="The revision these results belong to.")
    revisions = RevisionSummarySerializer(many=True)
    k = serializers.IntegerField()
    region = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    filters = serializers.DictField()
    query_exif = serializers.DictField()
    model_version = serializers.CharField()
    hotels = HotelResultSerializer(many=True)
    chains = ChainResultSerializer(many=True)


def search_data(search, revision) -> dict:
    """A search as the API shows it: one revision's results with their evidence."""
    revisions = list(search.revisions.order_by("number").select_related("created_by"))
    return SearchSerializer(
        {
            "id": search.pk,
            "created_at": search.created_at,
            "investigator": search.owner.get_username(),
            "revision": revision.number,
            "revisions": revisions or [revision],
            "k": revision.k,
            "region": revision.region,
            "filters": revision.filters,
            "query_exif": search.query_exif,
            "model_version": revision.model_version,
            "hotels": results_for(search, revision),
            "chains": revision.chains,
        }
    ).data


class RevisionInputSerializer(serializers.Serializer):
    mask = serializers.FileField(
        required=False, help_text="A corrected mask (PNG, white = erased); omitted = keep."
    )
    region = serializers.CharField(
        required=False, allow_blank=True, help_text="x,y,w,h pixels; omitted = whole photo"
    )
    country = serializers.CharField(required=False, allow_blank=True, max_length=2)
    city = serializers.CharField(required=False, allow_blank=True, max_length=120)
    chain = serializers.CharField(required=False, allow_blank=True, help_text="Chain id or name")
    near = serializers.CharField(required=False, allow_blank=True, help_text="lat,lon")
    radius_km = serializers.FloatField(required=False)
    k = serializers.IntegerField(required=False, default=10, min_value=1, max_value=K_MAX)


class DecisionInputSerializer(serializers.Serializer):
    hotel = serializers.IntegerField(help_text="Id of a hotel among the search's results.")
    image = serializers.IntegerField(
        required=False, allow_null=True, help_text="One matching photo; omitted = the hotel."
    )
    verdict = serializers.ChoiceField(choices=Decision.Verdict.choices)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class DecisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    revision = serializers.IntegerField()
    hotel = serializers.IntegerField(source="hotel_id")
    hotel_name = serializers.CharField()
    image = serializers.IntegerField(source="image_id", allow_null=True)
    verdict = serializers.CharField()
    note = serializers.CharField(allow_blank=True)
    investigator = serializers.CharField(source="created_by.username", allow_null=True)
    created_at = serializers.DateTimeField()


class CorrespondencesSerializer(serializers.Serializer):
    inliers = serializers.IntegerField()
    verified = serializers.BooleanField()
    pairs = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=4, max_length=4),
        help_text="[query x, y, gallery x, y], each 0..1 of the full upright photo",
    )


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
        data = search_data(search, revision_of(search))
        return Response(data, status=status.HTTP_201_CREATED)


class SearchDetailApi(APIView):
    permission_classes = [IsInvestigator]

    @extend_schema(
        parameters=[
            OpenApiParameter("revision", int, description="A revision number; default latest")
        ],
        responses={200: SearchSerializer},
        summary="A search's ranked results (one revision)",
    )
    def get(self, request, pk):
        search = _visible_search(request, pk)
        revision = revision_of(search, request.query_params.get("revision"))
        return _private(Response(search_data(search, revision)), "inline")


class SearchRevisionsApi(APIView):
    """Re-run a stored search: other filters, k, region or a corrected mask, same photo."""

    permission_classes = [IsInvestigator]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "searches"
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        responses={200: RevisionSummarySerializer(many=True)}, summary="Revisions, first first"
    )
    def get(self, request, pk):
        search = _visible_search(request, pk)
        revisions = search.revisions.order_by("number").select_related("created_by")
        return _private(Response(RevisionSummarySerializer(revisions, many=True).data), "inline")

    @extend_schema(
        request={"multipart/form-data": RevisionInputSerializer},
        responses={201: SearchSerializer},
        summary="Re-run the search as a new revision (no new upload)",
    )
    def post(self, request, pk):
        search = _visible_search(request, pk)
        serializer = RevisionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            revision = search_revise(
                search=search,
                user=request.user,
                filters={key: data.get(key) for key in FILTER_KEYS},
                k=data["k"],
                region=data.get("region") or None,
                mask_file=data.get("mask"),
                client_address=client_address(request),
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        except IndexVersionMismatch as exc:
            raise SearchUnavailable(str(exc)) from None
        return _private(
            Response(search_data(search, revision), status=status.HTTP_201_CREATED), "inline"
        )


class SearchDecisionsApi(APIView):
    """Confirm or reject a hotel, or one matching photo, of a search."""

    permission_classes = [IsInvestigator]

    @extend_schema(
        responses={200: DecisionSerializer(many=True)}, summary="Decisions, oldest first"
    )
    def get(self, request, pk):
        search = _visible_search(request, pk)
        decisions = search.decisions.select_related("created_by").order_by("created_at", "pk")
        return _private(Response(DecisionSerializer(decisions, many=True).data), "inline")

    @extend_schema(
        request=DecisionInputSerializer,
        responses={201: DecisionSerializer},
        summary="Record a decision (appended; the latest per hotel or photo is shown)",
    )
    def post(self, request, pk):
        search = _visible_search(request, pk)
        serializer = DecisionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            decision = decision_record(
                search=search,
                user=request.user,
                hotel_id=data["hotel"],
                image_id=data.get("image"),
                verdict=data["verdict"],
                note=data.get("note", ""),
                client_address=client_address(request),
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return _private(
            Response(DecisionSerializer(decision).data, status=status.HTTP_201_CREATED), "inline"
        )


def _match_evidence(request, pk, revision, image_id, produce):
    """Evidence of one shown match, audited; 404 when it is not one or is gone."""
    search = _visible_search(request, pk)
    found = revision_of(search, revision)
    try:
        body = produce(search, found, image_id)
    except (evidence.NotAMatch, MatchGone) as exc:
        raise Http404(str(exc)) from None
    except NotDecomposable as exc:
        raise ValidationError({"explanation": str(exc)}) from None
    _audit(request, search, AuditEntry.Action.EXPLANATION)
    return body


class MatchHeatmapApi(APIView):
    permission_classes = [IsInvestigator]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "side",
                str,
                enum=list(evidence.SIDES),
                description="pair (both photos side by side, default), or the RGBA layer "
                "over the query (full upright photo's frame) or over the gallery photo",
            )
        ],
        responses={(200, "image/png"): OpenApiTypes.BINARY},
        summary="Heat map: where the similarity of a shown match comes from",
    )
    def get(self, request, pk, revision, image_id):
        side = request.query_params.get("side", "pair")
        if side not in evidence.SIDES:
            raise ValidationError({"side": f"use one of {', '.join(evidence.SIDES)}"})
        png = _match_evidence(
            request,
            pk,
            revision,
            image_id,
            lambda search, found, image: evidence.heatmap_png(search, found, image, side),
        )
        return _private(HttpResponse(png, content_type="image/png"), "inline")


class MatchCorrespondencesPngApi(APIView):
    permission_classes = [IsInvestigator]

    @extend_schema(
        responses={(200, "image/png"): OpenApiTypes.BINARY},
        summary="Geometric verification: the inlier pairs drawn between the two photos",
    )
    def get(self, request, pk, revision, image_id):
        png = _match_evidence(request, pk, revision, image_id, evidence.correspondences_png)
        return _private(HttpResponse(png, content_type="image/png"), "inline")


class MatchCorrespondencesApi(APIView):
    permission_classes = [IsInvestigator]

    @extend_schema(
        responses={200: CorrespondencesSerializer},
        summary="Geometric verification: the inlier point pairs (normalised coordinates)",
    )
    def get(self, request, pk, revision, image_id):
        found = _match_evidence(request, pk, revision, image_id, evidence.correspondences)
        data = {**found, "verified": verified_count(found["inliers"])}
        return _private(Response(CorrespondencesSerializer(data).data), "inline")


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
