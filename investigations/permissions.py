"""Who is an investigator: active members of the `investigators` group.

Membership, not a permission: a superuser has every permission, and being an
administrator gives no access to investigators' searches and cases. Moderators
(the `Moderators` group: traveller photos and hotels) are not investigators either.

The same test guards the API (`IsInvestigator`), HTML views (`investigator_required`,
`InvestigatorRequiredMixin`) and the selectors.
"""

from functools import wraps

from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

INVESTIGATORS_GROUP = "investigators"
MODERATORS_GROUP = "Moderators"
SEARCH_PERMISSION = "investigations.search_hotels"
_CACHE = "_is_investigator"  # on the user object: one query per request, not per check


def is_investigator(user) -> bool:
    if not (user and user.is_authenticated and user.is_active):
        return False
    if not hasattr(user, _CACHE):
        member = user.groups.filter(name=INVESTIGATORS_GROUP).exists()
        setattr(user, _CACHE, member)
    return getattr(user, _CACHE)


class IsInvestigator(BasePermission):
    message = "Only investigators can use hotel search."

    def has_permission(self, request, view):
        return is_investigator(request.user)


def investigator_required(view_func):
    """Anonymous → login page (with ?next=); signed in but not an investigator → 403."""

    @wraps(view_func)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not is_investigator(request.user):
            raise PermissionDenied("Only investigators can use hotel search.")
        return view_func(request, *args, **kwargs)

    return wrapper


class InvestigatorRequiredMixin(LoginRequiredMixin):
    """Class-based views: same rule as `investigator_required`."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not is_investigator(request.user):
            raise PermissionDenied("Only investigators can use hotel search.")
        return super().dispatch(request, *args, **kwargs)
