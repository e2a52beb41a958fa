from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from traffickcam.health import healthz

urlpatterns = [
    path("", include("rooms.urls")),
    path("investigate/", include("investigations.urls")),
    path("api/hotels/", include("rooms.hotels_api_urls")),
    path("api/", include("rooms.api_urls")),
    path("api/", include("investigations.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]

# JSON errors for /api/ URLs no DRF view answered; Django's own pages elsewhere.
handler400 = "traffickcam.exceptions.bad_request"
handler404 = "traffickcam.exceptions.page_not_found"
handler500 = "traffickcam.exceptions.server_error"

if settings.DEBUG:
    # Development only: traveller photos (already stripped of metadata). Query photos
    # live under PRIVATE_MEDIA_ROOT and are never routed here.
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
