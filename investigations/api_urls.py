from django.urls import path

from investigations import api

app_name = "investigations_api"
urlpatterns = [
    path("searches/", api.SearchCreateApi.as_view(), name="search-create"),
    path("searches/<uuid:pk>/", api.SearchDetailApi.as_view(), name="search-detail"),
    path("searches/<uuid:pk>/export.csv", api.SearchExportCsvApi.as_view(), name="export-csv"),
    path("searches/<uuid:pk>/export.json", api.SearchExportJsonApi.as_view(), name="export-json"),
    path("searches/<uuid:pk>/query-image", api.SearchQueryImageApi.as_view(), name="query-image"),
]
