"""Test URLs: the API plus public media served from MEDIA_ROOT, as a web server (or
`DEBUG` runserver) serves it, so a test can ask whether a photo's public URL answers."""

from django.conf import settings
from django.urls import include, path, re_path
from django.views.static import serve


def media(request, path):
    return serve(request, path, document_root=settings.MEDIA_ROOT)


urlpatterns = [
    re_path(r"^media/(?P<path>.*)$", media),
    path("api/", include("rooms.api_urls")),
]
