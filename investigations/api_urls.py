from django.urls import path

from investigations import api, api_cases, api_masks

app_name = "investigations_api"
# One shown match of one revision: its evidence lives under here.
MATCH = "searches/<uuid:pk>/revisions/<int:revision>/matches/<int:image_id>/"
urlpatterns = [
    path("searches/", api.SearchCreateApi.as_view(), name="search-create"),
    path("searches/<uuid:pk>/", api.SearchDetailApi.as_view(), name="search-detail"),
    path("searches/<uuid:pk>/export.csv", api.SearchExportCsvApi.as_view(), name="export-csv"),
    path("searches/<uuid:pk>/export.json", api.SearchExportJsonApi.as_view(), name="export-json"),
    path("searches/<uuid:pk>/query-image", api.SearchQueryImageApi.as_view(), name="query-image"),
    path("searches/<uuid:pk>/revisions/", api.SearchRevisionsApi.as_view(), name="revisions"),
    path("searches/<uuid:pk>/report.pdf", api_cases.SearchReportApi.as_view(), name="report"),
    path("suggest-mask/", api_masks.SuggestMaskApi.as_view(), name="suggest-mask"),
    path("cases/", api_cases.CasesApi.as_view(), name="cases"),
    path("cases/<uuid:pk>/", api_cases.CaseDetailApi.as_view(), name="case-detail"),
    path("cases/<uuid:pk>/report.pdf", api_cases.CaseReportApi.as_view(), name="case-report"),
    path("searches/<uuid:pk>/decisions/", api.SearchDecisionsApi.as_view(), name="decisions"),
    path(f"{MATCH}heatmap.png", api.MatchHeatmapApi.as_view(), name="heatmap"),
    path(
        f"{MATCH}correspondences.png",
        api.MatchCorrespondencesPngApi.as_view(),
        name="correspondences",
    ),
    path(
        f"{MATCH}correspondences.json",
        api.MatchCorrespondencesApi.as_view(),
        name="correspondences-json",
    ),
]
