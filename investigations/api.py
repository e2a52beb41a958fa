"""Investigator search API: one view per operation; services and selectors do the work.

Every endpoint needs an investigator (session or `Authorization: Token ...`). A
search that is not the user's or their team's answers 404, never 403, so its
existence is not revealed.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from investigations import evidence
from investigations.cases import case_of, combined_ranking, search_attach
from investigations.exports import search_export, search_export_csv
from investigations.models import AuditEntry, Decision
from investigations.permissions import IsInvestigator
from investigations.presenting import EARLIER_LIFTS, results_for, revision_of
from investigations.selectors import searches_visible_to
from investigations.services import (
    K_MAX,
    audit_record,
    decision_record,
    search_revise,
    searches_create,
)
from matcher.services import IndexVersionMismatch, MatchGone, is_verified
from retrieval.errors import NotDecomposable
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
    image = serializers.ListField(
        child=serializers.FileField(),
        min_length=1,
        help_text="JPEG, PNG, WebP or HEIC photo of the room. Repeat it (up to 8) for "
        "several photos of one room: one multi-photo search, ranked together.",
    )
    mask = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        help_text="PNG the size of the upright photo; white = erased. With several "
        "photos: one per photo, in the same order (or none).",
    )
    case = serializers.UUIDField(required=False, help_text="Put the search in this case.")
    region = serializers.CharField(required=False, allow_blank=True, help_text="x,y,w,h pixels")
    country = serializers.CharField(required=False, allow_blank=True, max_length=2)
    city = serializers.CharField(required=False, allow_blank=True, max_length=120)
    chain = serializers.CharField(required=False, allow_blank=True, help_text="Chain id or name")
    near = serializers.CharField(required=False, allow_blank=True, help_text="lat,lon")
    radius_km = serializers.FloatField(required=False)
    k = serializers.IntegerField(required=False, default=10, min_value=1, max_value=K_MAX)


class MatchSerializer(serializers.Serializer):
    image_id = serializers.IntegerField()
    score = serializers.FloatField(
        help_text="The cosine to the photo in its hotel's context (blended with the hotel's "
        "three nearest photos), plus the verification lift (up to the search's "
        "`verified_lift`)"
    )
    cosine = serializers.FloatField(
        required=False, help_text="The descriptors' cosine alone: what the heat maps sum to."
    )
    url = serializers.CharField(
        allow_null=True, help_text="The gallery photo's thumbnail; null once hidden."
    )
    full_url = serializers.CharField(
        allow_null=True, help_text="The gallery photo at its stored size; null once hidden."
    )
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
        help_text="The hotel's best photo score (cosine similarity in the hotel's context, "
        "plus up to the search's `verified_lift` for geometrically verified local-feature "
        "matches)."
    )
    hotel = HotelSummarySerializer()
    photo_count = serializers.IntegerField(
        allow_null=True,
        help_text="Searchable gallery photos of the hotel when the search ran (live, with a "
        "vector of the served model).",
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
    case = serializers.UUIDField(allow_null=True, help_text="The team's case it belongs to.")
    same_room = serializers.BooleanField(help_text="Fused in the case's combined ranking.")
    photo_set = serializers.UUIDField(
        allow_null=True, help_text="Photos sent together as one multi-photo search."
    )
    revision = serializers.IntegerField(help_text="The revision these results belong to.")
    revisions = RevisionSummarySerializer(many=True)
    k = serializers.IntegerField()
    region = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    filters = serializers.DictField()
    query_exif = serializers.DictField()
    model_version = serializers.CharField()
    verified_lift = serializers.FloatField(
        allow_null=True,
        help_text="What verification adds at most to a photo's score in this revision; null "
        f"where the search ran before it was recorded ({EARLIER_LIFTS}).",
    )
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
            "case": search.case_id,
            "same_room": search.same_room,
            "photo_set": search.photo_set,
            "revision": revision.number,
            "revisions": revisions or [revision],
            "k": revision.k,
            "region": revision.region,
            "filters": revision.filters,
            "query_exif": search.query_exif,
            "model_version": revision.model_version,
            "verified_lift": revision.verified_lift,
            "hotels": results_for(search, revision),
            "chains": revision.chains,
        }
    ).data


class SearchPatchSerializer(serializers.Serializer):
    case = serializers.UUIDField(allow_null=True, required=False)
    same_room = serializers.BooleanField(required=False)


class RevisionInputSerializer(serializers.Serializer):
    mask = serializers.FileField(
        required=False, help_text="A corrected mask (PNG, white = erased); omitted = keep."
    )
    clear_mask = serializers.BooleanField(
        required=False, default=False, help_text="Search the whole photo (drop the mask)."
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
    revision = serializers.IntegerField(
        required=False, help_text="The revision whose results were judged; default: latest."
    )


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


class CombinedHotelSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    score = serializers.FloatField(help_text="Mean of the photos' hotel scores (see docs).")
    hotel = HotelSummarySerializer()
    photos = serializers.IntegerField(help_text="How many of the photos ranked the hotel.")
    decision = serializers.ChoiceField(choices=Decision.Verdict.choices, allow_null=True)


class PhotoSetSerializer(serializers.Serializer):
    photo_set = serializers.UUIDField()
    hotels = CombinedHotelSerializer(many=True, help_text="The photos ranked together.")
    searches = SearchSerializer(many=True, help_text="Each photo's own search.")


def photo_set_data(searches, k) -> dict:
    return PhotoSetSerializer(
        {
            "photo_set": searches[0].photo_set,
            "hotels": combined_ranking(searches, k),
            "searches": [search_data(s, revision_of(s)) for s in searches],
        }
    ).data


# --- views ---


def _service(call, **kwargs):
    """A service call with its refusals as API errors: reasons by field (400), or the
    index being switched to another model (503)."""
    try:
        return call(**kwargs)
    except DjangoValidationError as exc:
        raise ValidationError(exc.message_dict) from None
    except IndexVersionMismatch as exc:
        raise SearchUnavailable(str(exc)) from None


def _case_or_400(request, case_id):
    if case_id is None:
        return None
    case = case_of(request.user, case_id)
    if case is None:
        raise ValidationError({"case": "no such case in your team"})
    return case


def _visible_search(request, pk):
    return get_object_or_404(searches_visible_to(request.user), pk=pk)


class SearchCreateApi(APIView):
    permission_classes = [IsInvestigator]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "searches"
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": SearchInputSerializer},
        responses={
            201: PolymorphicProxySerializer(
                component_name="SearchOrPhotoSet",
                serializers=[SearchSerializer, PhotoSetSerializer],
                resource_type_field_name=None,
            )
        },
        summary="Rank hotels for a query photo (victim erased by the mask)",
    )
    def post(self, request):
        serializer = SearchInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        images, masks = data["image"], data.get("mask") or []
        if masks and len(masks) != len(images):
            raise ValidationError({"mask": "send one mask per photo, in order, or none"})
        searches = _service(
            searches_create,
            user=request.user,
            photos=list(zip(images, masks or [None] * len(images), strict=True)),
            region=data.get("region") or None,
            filters={key: data.get(key) for key in FILTER_KEYS},
            k=data["k"],
            client_address=client_address(request),
            case=_case_or_400(request, data.get("case")),
        )
        if len(searches) == 1:
            body = search_data(searches[0], revision_of(searches[0]))
        else:
            body = photo_set_data(searches, data["k"])
        return _private(Response(body, status=status.HTTP_201_CREATED), "inline")


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
        body = search_data(search, revision)
        _audit(request, search, AuditEntry.Action.SEARCH_VIEW, revision=revision.number)
        return _private(Response(body), "inline")

    @extend_schema(
        request=SearchPatchSerializer,
        responses={200: SearchSerializer},
        summary="Put the search in a case (or out: case null), mark it same room",
    )
    def patch(self, request, pk):
        search = _visible_search(request, pk)
        serializer = SearchPatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        case = _case_or_400(request, data["case"]) if "case" in data else search.case
        _service(
            search_attach,
            search=search,
            user=request.user,
            case=case,
            same_room=data.get("same_room"),
            client_address=client_address(request),
        )
        return _private(Response(search_data(search, revision_of(search))), "inline")


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
        body = RevisionSummarySerializer(revisions, many=True).data
        _audit(request, search, AuditEntry.Action.REVISION_LIST)
        return _private(Response(body), "inline")

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
        revision = _service(
            search_revise,
            search=search,
            user=request.user,
            filters={key: data.get(key) for key in FILTER_KEYS},
            k=data["k"],
            region=data.get("region") or None,
            mask_file=data.get("mask"),
            clear_mask=data["clear_mask"],
            client_address=client_address(request),
        )
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
        body = DecisionSerializer(decisions, many=True).data
        _audit(request, search, AuditEntry.Action.DECISION_LIST)
        return _private(Response(body), "inline")

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
        decision = _service(
            decision_record,
            search=search,
            user=request.user,
            hotel_id=data["hotel"],
            image_id=data.get("image"),
            verdict=data["verdict"],
            note=data.get("note", ""),
            revision=data.get("revision"),
            client_address=client_address(request),
        )
        return _private(
            Response(DecisionSerializer(decision).data, status=status.HTTP_201_CREATED), "inline"
        )


def _match_evidence(request, pk, revision, image_id, produce):
    """Evidence of one shown match, audited; 404 when it is not one or is gone."""
    search = _visible_search(request, pk)
    found = revision_of(search, revision)
    try:
        body = produce(search, found, image_id)
    except (evidence.NotAMatch, MatchGone, FileNotFoundError) as exc:  # gone since shown
        raise Http404(str(exc)) from None
    except (NotDecomposable, evidence.MaskNotKept) as exc:
        raise ValidationError({"explanation": str(exc)}) from None
    except IndexVersionMismatch as exc:
        raise SearchUnavailable(str(exc)) from None
    _audit(request, search, AuditEntry.Action.EXPLANATION, revision=found.number, image=image_id)
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
        data = {**found, "verified": is_verified(found["inliers"])}
        return _private(Response(CorrespondencesSerializer(data).data), "inline")


def _private(response, disposition):
    response["Content-Disposition"] = disposition
    for header, value in PRIVATE_HEADERS.items():
        response[header] = value
    return response


def _audit(request, search, action, **detail):
    """One audit row for what this request showed of `search` (API reads: `via` api)."""
    audit_record(
        user=request.user,
        search=search,
        action=action,
        client_address=client_address(request),
        detail={"via": "api", **detail},
    )


def _exported_search(request, pk, action):
    """The search to export, once its export (in this format) is in the audit trail."""
    search = _visible_search(request, pk)
    _audit(request, search, action)
    return search


def _attachment(response, search, extension):
    return _private(response, f'attachment; filename="search-{search.pk}.{extension}"')


class SearchExportCsvApi(APIView):
    permission_classes = [IsInvestigator]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR}, summary="Case file (CSV)")
    def get(self, request, pk):
        search = _exported_search(request, pk, AuditEntry.Action.EXPORT_CSV)
        body = search_export_csv(search, request.build_absolute_uri)
        return _attachment(
            HttpResponse(body, content_type="text/csv; charset=utf-8"), search, "csv"
        )


class SearchExportJsonApi(APIView):
    permission_classes = [IsInvestigator]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Case file (JSON)")
    def get(self, request, pk):
        search = _exported_search(request, pk, AuditEntry.Action.EXPORT_JSON)
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
