"""Investigator pages, mounted at /investigate/ (the JSON API is in api_urls.py)."""

from django.urls import path

from investigations import views, views_cases

app_name = "investigations"
urlpatterns = [
    path("", views.search_page, name="search"),
    path("searches/", views.search_list, name="search-list"),
    path("searches/<uuid:pk>/", views.search_detail, name="search-detail"),
    path("searches/<uuid:pk>/query.jpg", views.query_preview, name="query-preview"),
    path("searches/<uuid:pk>/decisions/", views.decision_create, name="decision-create"),
    path("searches/<uuid:pk>/revisions/", views.revision_create, name="revision-create"),
    path("searches/<uuid:pk>/compare/<int:image_id>/", views.compare, name="compare"),
    path("searches/<uuid:pk>/case/", views_cases.search_case, name="search-case"),
    path("cases/", views_cases.case_list, name="case-list"),
    path("cases/<uuid:pk>/", views_cases.case_detail, name="case-detail"),
    path("cases/<uuid:pk>/edit/", views_cases.case_edit, name="case-edit"),
    path("cases/<uuid:pk>/hold/", views_cases.case_hold, name="case-hold"),
]
