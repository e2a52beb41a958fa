"""Cases API and case-file reports (PDF). Team-only: another team's case is a 404.

Every view of a case, every change, every report download is audited.
"""

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import APIView

from investigations.api import CombinedHotelSerializer, _private, _service, _visible_search
from investigations.audit import audit_event, audit_record
from investigations.cases import (
    case_create,
    case_of,
    case_searches,
    case_update,
    case_viewed,
    cases_visible_to,
    combined_ranking,
)
from investigations.models import AuditEntry
from investigations.permissions import IsInvestigator
from investigations.presenting import decision_summary
from investigations.reports import ReportUnavailable, case_report_pdf, search_report_pdf
from traffickcam.client import client_address


class ReportsUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "PDF reports are not available on this server."
    default_code = "reports_unavailable"


class CaseSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    reference = serializers.CharField(max_length=60, help_text="The team's own case number.")
    title = serializers.CharField(max_length=200)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    team = serializers.CharField(source="team.name", read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True, default=None
    )
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    legal_hold = serializers.BooleanField(read_only=True)
    legal_hold_by = serializers.CharField(
        source="legal_hold_by.username", read_only=True, allow_null=True
    )
    legal_hold_at = serializers.DateTimeField(read_only=True, allow_null=True)
    search_count = serializers.IntegerField(read_only=True)


class CasePatchSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, max_length=200)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=20000)
    legal_hold = serializers.BooleanField(
        required=False, help_text="Keep the case's searches past retention until released."
    )


class CaseSearchSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="pk")
    created_at = serializers.DateTimeField()
    investigator = serializers.CharField(source="owner.username")
    same_room = serializers.BooleanField()
    photo_set = serializers.UUIDField(allow_null=True)
    query_exif = serializers.DictField(help_text="Capture time, camera, GPS when present.")
    top_hotels = serializers.SerializerMethodField()
    decisions = serializers.SerializerMethodField()

    def get_top_hotels(self, search) -> list[dict]:
        return [
            {"rank": hit["rank"], "score": hit["score"], "hotel": hit["hotel"]}
            for hit in search.hotels[:3]
        ]

    def get_decisions(self, search) -> str:
        return decision_summary(search)


class CaseDetailSerializer(CaseSerializer):
    searches = CaseSearchSerializer(many=True, read_only=True)
    combined = CombinedHotelSerializer(
        many=True, read_only=True, help_text="Hotels ranked by the 'same room' photos together."
    )


def _case(request, pk):
    case = case_of(request.user, pk)
    if case is None:
        raise Http404("No such case.")
    return case


def _detail(request, case) -> dict:
    searches = list(case_searches(case, request.user))
    case.search_count = len(searches)
    data = CaseSerializer(case).data
    data["searches"] = CaseSearchSerializer(searches, many=True).data
    data["combined"] = CombinedHotelSerializer(combined_ranking(searches), many=True).data
    return data


class CasesApi(APIView):
    permission_classes = [IsInvestigator]

    @extend_schema(responses={200: CaseSerializer(many=True)}, summary="Your team's cases")
    def get(self, request):
        cases = cases_visible_to(request.user).select_related("team", "created_by", "legal_hold_by")
        body = CaseSerializer(cases, many=True).data
        audit_event(
            user=request.user,
            action=AuditEntry.Action.CASE_LIST,
            client_address=client_address(request),
            detail={"via": "api", "cases": [item["id"] for item in body]},
        )
        return _private(Response(body), "inline")

    @extend_schema(
        request=CaseSerializer, responses={201: CaseDetailSerializer}, summary="Open a case"
    )
    def post(self, request):
        serializer = CaseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        case = _service(
            case_create,
            user=request.user,
            client_address=client_address(request),
            **serializer.validated_data,
        )
        body = _detail(request, case)
        return _private(Response(body, status=status.HTTP_201_CREATED), "inline")


class CaseDetailApi(APIView):
    permission_classes = [IsInvestigator]

    @extend_schema(responses={200: CaseDetailSerializer}, summary="A case (audited)")
    def get(self, request, pk):
        case = _case(request, pk)
        case_viewed(case=case, user=request.user, client_address=client_address(request))
        return _private(Response(_detail(request, case)), "inline")

    @extend_schema(
        request=CasePatchSerializer,
        responses={200: CaseDetailSerializer},
        summary="Change title or notes; put on or release a legal hold",
    )
    def patch(self, request, pk):
        case = _case(request, pk)
        serializer = CasePatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _service(
            case_update,
            case=case,
            user=request.user,
            client_address=client_address(request),
            **serializer.validated_data,
        )
        return _private(Response(_detail(request, case)), "inline")


def _pdf_response(request, pdf_call, name, **audit):
    """The PDF, once its download is in the audit trail (so the report lists itself)."""
    audit_record(
        user=request.user,
        action=AuditEntry.Action.REPORT,
        client_address=client_address(request),
        **audit,
    )
    try:
        pdf = pdf_call()
    except ReportUnavailable as exc:
        raise ReportsUnavailable(str(exc)) from None
    return _private(
        HttpResponse(pdf, content_type="application/pdf"), f'attachment; filename="{name}"'
    )


def _safe(text) -> str:
    """A case reference as a file name: letters, digits, dash and underscore only."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:60] or "case"


class CaseReportApi(APIView):
    permission_classes = [IsInvestigator]

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
        summary="Case-file report (PDF; generated on request, never stored)",
    )
    def get(self, request, pk):
        case = _case(request, pk)
        return _pdf_response(
            request,
            lambda: case_report_pdf(case, user=request.user),
            f"case-{_safe(case.reference)}.pdf",
            case=case,
        )


class SearchReportApi(APIView):
    permission_classes = [IsInvestigator]

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
        summary="Search report for the case file (PDF; generated on request, never stored)",
    )
    def get(self, request, pk):
        search = _visible_search(request, pk)
        return _pdf_response(
            request,
            lambda: search_report_pdf(search, user=request.user),
            f"search-{search.pk}.pdf",
            search=search,
        )
