from functools import cache
from pathlib import Path

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.contenttypes.views import shortcut
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_safe
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from traffickcam.api_index import ApiIndex, ApiNotFound
from traffickcam.health import healthz

FAVICON_MAX_AGE = 7 * 24 * 3600


def _view_on_site(request, content_type_id, object_id):
    """The admin's "view on site" shortcut, with a malformed id a 404 (Django lets the
    ValidationError of a bad UUID through as a 500)."""
    try:
        return shortcut(request, content_type_id, object_id)
    except ValidationError:
        raise Http404("No such object.") from None


@require_safe
def favicon(request):
    """/favicon.ico, where browsers and feed readers look without a <link>."""
    response = HttpResponse(_favicon_bytes(), content_type="image/x-icon")
    response["Cache-Control"] = f"public, max-age={FAVICON_MAX_AGE}"
    return response


@cache
def _favicon_bytes() -> bytes:
    return Path(finders.find("traffickcam/favicon.ico")).read_bytes()


urlpatterns = [
    path("", include("rooms.urls")),
    path("investigate/", include("investigations.urls")),
    path("api/hotels/", include("rooms.hotels_api_urls")),
    path("api/", include("rooms.api_urls")),
    path("api/", include("investigations.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/", ApiIndex.as_view(), name="api-index"),
    # Last of the API routes: any other /api/ path is a JSON 404, in DEBUG too.
    path("api/<path:rest>", ApiNotFound.as_view()),
    path("accounts/", include("accounts.urls")),
    path(
        "admin/r/<int:content_type_id>/<path:object_id>/",
        admin.site.admin_view(_view_on_site),
    ),
    path("admin/", admin.site.urls),
    # The language switcher of the traveller pages posts to set_language here.
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
]


# JSON errors for /api/ URLs no DRF view answered; Django's own pages elsewhere.
handler400 = "traffickcam.exceptions.bad_request"
handler404 = "traffickcam.exceptions.page_not_found"
handler500 = "traffickcam.exceptions.server_error"

if settings.DEBUG:
    # Development only: traveller photos (already stripped of metadata). Query photos
    # live under PRIVATE_MEDIA_ROOT and are never routed here.
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
