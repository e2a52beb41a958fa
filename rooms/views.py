"""Traveller pages: the upload form and its thank-you page. No account needed."""

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from rooms.forms import UploadForm
from rooms.intake import UploadRejected
from rooms.models import RoomImage, Submission
from rooms.selectors import hotel_search
from rooms.services import SubmissionConflict, submission_create
from rooms.throttles import UploadRateThrottle

SEARCH_RESULTS_SHOWN = 20
# The session remembers the traveller's own submissions: the thank-you page of
# anyone else's upload is a 404, even though submission ids are guessable.
SESSION_KEY = "rooms_own_submissions"
SESSION_REMEMBERED = 20


@require_http_methods(["GET", "POST"])
def upload(request):
    if request.method == "POST":
        return _upload_post(request)
    q = request.GET.get("q", "").strip()[:200]
    hotels = list(hotel_search(q=q)[:SEARCH_RESULTS_SHOWN]) if q else []
    return _render_upload(request, UploadForm(), hotels=hotels, q=q)


def _upload_post(request):
    form = UploadForm(request.POST, request.FILES)
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
        )
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
    _remember(request, result.submission.id, duplicates)
    return redirect("rooms:thanks", submission_id=result.submission.id)


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


def _remember(request, submission_id: int, duplicates: int):
    own = request.session.get(SESSION_KEY, {})
    own[str(submission_id)] = duplicates
    request.session[SESSION_KEY] = dict(list(own.items())[-SESSION_REMEMBERED:])


@require_http_methods(["GET"])
def thanks(request, submission_id: int):
    own = request.session.get(SESSION_KEY, {})
    if str(submission_id) not in own:
        raise Http404("No upload of yours has this number.")
    submission = get_object_or_404(Submission.objects.select_related("hotel"), pk=submission_id)
    images = list(submission.images.order_by("id"))
    context = {
        "submission": submission,
        "images": [(image, _status_text(image)) for image in images],
        "duplicates": own[str(submission_id)],
    }
    return render(request, "rooms/thanks.html", context)


def _status_text(image: RoomImage) -> str:
    if image.status == RoomImage.Status.HIDDEN:
        return "Removed by a moderator"
    if image.is_flagged:
        return "Waiting for a moderator (it may show a person)"
    return {
        RoomImage.Status.PENDING: "Received, waiting to be processed",
        RoomImage.Status.EMBEDDING: "Being processed",
        RoomImage.Status.EMBEDDED: "Ready: investigators can now match it",
        RoomImage.Status.FAILED: "Could not be processed",
    }.get(image.status, image.get_status_display())
