"""Traveller pages: the upload form and its thank-you page. No account needed."""

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from rooms.body import INCOMPLETE_DETAIL, body_complete, watch_body
from rooms.forms import UploadForm
from rooms.intake import UploadRejected
from rooms.models import Submission
from rooms.presenting import public_status
from rooms.selectors import hotel_search
from rooms.services import SubmissionConflict, UploadBlocked, submission_create
from rooms.throttles import UploadRateThrottle
from traffickcam.client import client_address

SEARCH_RESULTS_SHOWN = 20
# The session remembers the traveller's own submissions (and their receipts): the
# thank-you page of anyone else's upload is a 404.
SESSION_KEY = "rooms_own_submissions"
SESSION_REMEMBERED = 20


# The body is watched before the CSRF check reads the form (Django's documented way to
# act before the upload is parsed: exempt the outer view, protect the inner one).
@csrf_exempt
@require_http_methods(["GET", "POST"])
def upload(request):
    if request.method == "POST":
        watch_body(request)
    return _upload(request)


@csrf_protect
def _upload(request):
    if request.method == "POST":
        return _upload_post(request)
    q = request.GET.get("q", "").strip()[:200]
    hotels = list(hotel_search(q=q)[:SEARCH_RESULTS_SHOWN]) if q else []
    return _render_upload(request, UploadForm(), hotels=hotels, q=q)


def _upload_post(request):
    form = UploadForm(request.POST, request.FILES)
    if not body_complete(request):
        form.add_error(None, INCOMPLETE_DETAIL)
        return _render_upload(request, form, status=400)
    throttle = UploadRateThrottle()
    if not throttle.allow_request(request, None):
        minutes = max(1, round((throttle.wait() or 60) / 60))
        form.add_error(None, f"Too many uploads from this network; try again in {minutes} min.")
        return _render_upload(request, form, status=429)
    if not form.is_valid():
        return _render_upload(request, form, status=400)
    try:
        result = submission_create(
            hotel=form.cleaned_data["hotel"],
            room_number=form.cleaned_data["room_number"],
            files=form.cleaned_data["images"],
            client_address=client_address(request),
        )
    except UploadBlocked as exc:
        form.add_error(None, str(exc))
        return _render_upload(request, form, status=400)
    except UploadRejected as exc:
        for rejection in exc.rejections:
            form.add_error("images", f"{rejection.file}: {rejection.reason}")
        return _render_upload(request, form, status=exc.status_code)
    except ValidationError as exc:
        _add_service_errors(form, exc)
        return _render_upload(request, form, status=400)
    except SubmissionConflict:
        form.add_error(None, "The same photo is being uploaded right now; please try again.")
        return _render_upload(request, form, status=409)
    duplicates = sum(1 for outcome in result.images if outcome.duplicate)
    _remember(request, str(result.submission.public_id), duplicates, result.receipt)
    return redirect("rooms:thanks", public_id=result.submission.public_id)


def _add_service_errors(form, exc: ValidationError):
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, messages in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


def _render_upload(request, form, *, hotels=None, q="", status=200):
    if hotels is None:
        # After a failed POST, keep the hotel the traveller had chosen.
        chosen = form.cleaned_data.get("hotel") if hasattr(form, "cleaned_data") else None
        hotels = [chosen] if chosen else []
    context = {"form": form, "hotels": hotels, "q": q, "chosen_id": _chosen_id(form)}
    return render(request, "rooms/upload.html", context, status=status)


def _chosen_id(form) -> str:
    return str(form["hotel"].value() or "") if form.is_bound else ""


def _remember(request, public_id: str, duplicates: int, receipt: str):
    own = request.session.get(SESSION_KEY, {})
    own[public_id] = {"duplicates": duplicates, "receipt": receipt}
    request.session[SESSION_KEY] = dict(list(own.items())[-SESSION_REMEMBERED:])


@require_http_methods(["GET"])
def thanks(request, public_id):
    mine = request.session.get(SESSION_KEY, {}).get(str(public_id))
    if not isinstance(mine, dict):
        raise Http404("No upload of yours has this address.")
    submission = get_object_or_404(Submission.objects.select_related("hotel"), public_id=public_id)
    images = list(submission.images.order_by("id"))
    context = {
        "submission": submission,
        "images": [(image, public_status(image).text) for image in images],
        "duplicates": mine["duplicates"],
        "receipt": mine["receipt"],
    }
    return render(request, "rooms/thanks.html", context)
