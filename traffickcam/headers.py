"""Permissions-Policy per page: the settings' policy everywhere, with the features that one
page needs (`PERMISSIONS_POLICY_PAGES`, by URL name) allowed on that page only."""

from functools import cache

from django.conf import settings
from django_permissions_policy import PermissionsPolicyMiddleware as BaseMiddleware


@cache
def _page_header(view_name: str) -> str:
    policy = {**settings.PERMISSIONS_POLICY, **settings.PERMISSIONS_POLICY_PAGES[view_name]}
    return BaseMiddleware.compute_header_value(policy, name="PERMISSIONS_POLICY_PAGES")


class PermissionsPolicyMiddleware(BaseMiddleware):
    async_capable = False

    def __call__(self, request):
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match and match.view_name in settings.PERMISSIONS_POLICY_PAGES:
            response._permissions_policy_override = _page_header(match.view_name)
        return self._apply_headers(response)
