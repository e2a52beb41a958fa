"""The Django admin in English, whatever the visitor's language (locale/README.md).

LocaleMiddleware activates the switcher's or the browser's language on every page; the
admin's own templates (templates/admin) are English, so Django's catalogue would turn
the rest of an admin page Spanish or Arabic around them. After LocaleMiddleware, this
puts admin URLs back in English (its response sets Content-Language from it).
"""

from django.utils import translation

ADMIN_PREFIX = "/admin/"  # traffickcam/urls.py
ADMIN_LANGUAGE = "en"


class AdminInEnglishMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(ADMIN_PREFIX):
            translation.activate(ADMIN_LANGUAGE)
            request.LANGUAGE_CODE = ADMIN_LANGUAGE
        return self.get_response(request)
