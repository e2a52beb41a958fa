"""Traveller pages: the upload form, its thank-you page and the private receipt page.
No account needed.

The upload form posts as plain HTML; upload.js posts the same form with
`Accept: application/json` and gets JSON back (where to go next, or the reasons by field
and by file), so it can keep the photos chosen and show the errors in place.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from rooms import intake
from rooms.body import INCOMPLETE_DETAIL, body_complete, watch_body
from rooms.forms import PROPOSE, UploadForm
from rooms.intake import FileRejected, UploadRejected
from rooms.models import Hotel, Submission, digest_of_receipt
from rooms.presenting import public_status
from rooms.selectors import hotel_search
from rooms.services import SubmissionConflict, UploadBlocked
from rooms.submit_once import Submitted, submit_once
from rooms.throttles import ReceiptRateThrottle, UploadRateThrottle
from rooms.withdraw import submission_withdraw
from traffickcam.client import client_address

SEARCH_RESULTS_SHOWN = 20
# The session remembers the traveller's own submissions (and their receipts): the
# thank-you page of anyone else's upload is a 404.
SESSION_KEY = "rooms_own_submissions"
SESSION_REMEMBERED = 20


@dataclass
class Refused:
    """Why an upload was not stored: the form carries the field errors."""

    status: int
    files: list[FileRejected] = field(default_factory=list)
    detail: str = ""


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
    hotels = list(_listed(hotel_search(q=q))[:SEARCH_RESULTS_SHOWN]) if q else []
    return _render_upload(request, UploadForm(), hotels=hotels, q=q)


def _listed(hotels):
    # Travellers' proposals wait for a moderator before anyone can choose them.
    return hotels.filter(status=Hotel.Status.LISTED)


def _upload_post(request):
    form = UploadForm(request.POST, request.FILES)
    outcome = _submit(request, form)
    wants_json = "application/json" in request.headers.get("Accept", "")
    if isinstance(outcome, Refused):
        if wants_json:
            return JsonResponse(_refusal_json(form, outcome), status=outcome.status)
        for rejection in outcome.files:
            form.add_error("images", f"{rejection.file}: {rejection.reason}")
        return _render_upload(request, form, status=outcome.status)
    _remember(request, outcome)
    url = reverse("rooms:thanks", kwargs={"public_id": outcome.submission.public_id})
    if wants_json:
        return JsonResponse({"redirect": url}, status=200 if outcome.replayed else 201)
    return redirect(url)


def _submit(request, form) -> Submitted | Refused:
    if not body_complete(request):
        form.add_error(None, INCOMPLETE_DETAIL)
        return Refused(400)
    throttle = UploadRateThrottle()
    if not throttle.allow_request(request, None):
        minutes = max(1, round((throttle.wait() or 60) / 60))
        form.add_error(
            None,
            _("Too many uploads from this network; try again in %(minutes)d min.")
            % {"minutes": minutes},
        )
        return Refused(429)
    if not form.is_valid():
        return Refused(400)
    data = form.cleaned_data
    try:
        return submit_once(
            hotel=None if form.proposing else data["hotel"],
            proposal=form.proposal.cleaned_data if form.proposing else None,
            room_number=data["room_number"],
            files=data["images"],
            captured_at=data["captured_at"],
            client_token=data["client_token"],
            client_address=client_address(request),
        )
    except UploadBlocked as exc:
        form.add_error(None, str(exc))
        return Refused(400)
    except UploadRejected as exc:
        return Refused(exc.status_code, files=exc.rejections, detail=_not_stored(exc))
    except ValidationError as exc:
        _add_service_errors(form, exc)
        return Refused(400)
    except SubmissionConflict:
        form.add_error(None, _("The same photo is being uploaded right now; please try again."))
        return Refused(409)


def _not_stored(exc: UploadRejected) -> str:
    return _(
        "No photos were stored: %(count)d file(s) refused. The others were not stored "
        "either; send them again without the refused ones."
    ) % {"count": len(exc.rejections)}


def _add_service_errors(form, exc: ValidationError):
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for name, messages_ in exc.message_dict.items():
        if form.proposing and name in form.proposal.fields:
            form.proposal.add_error(name, messages_)
        else:
            form.add_error(name if name in form.fields else None, messages_)


def _refusal_json(form, refused: Refused) -> dict:
    """{"detail", "errors": [{"field", "reason"} or {"field": "images", "file", "reason"}]}:
    the field names are the form's input names, for the page to put each reason in place."""
    errors = [
        {"field": name, "reason": reason}
        for name, reasons in form.errors.items()
        if name != "__all__"
        for reason in reasons
    ]
    if form.proposing:
        errors += [
            {"field": form.proposal.add_prefix(name), "reason": reason}
            for name, reasons in form.proposal.errors.items()
            for reason in reasons
        ]
    errors += [{"field": "images", "file": r.file, "reason": r.reason} for r in refused.files]
    detail = " ".join(form.non_field_errors()) or refused.detail
    return {"detail": detail or _("Please correct the marked fields."), "errors": errors}


def _render_upload(request, form, *, hotels=None, q="", status=200):
    if hotels is None:
        # After a failed POST, keep the hotel the traveller had chosen.
        chosen = form.cleaned_data.get("hotel") if hasattr(form, "cleaned_data") else None
        hotels = [chosen] if isinstance(chosen, Hotel) else []
    context = {
        "form": form,
        "hotels": hotels,
        "q": q,
        "chosen_id": _chosen_id(form),
        "propose": PROPOSE,
        "summary": _summary(form),
        "proposal_errors": form.proposal.errors if form.proposing else {},
        "page_config": _page_config(),
    }
    return render(request, "rooms/upload.html", context, status=status)


def _summary(form) -> list[tuple[str, str]]:
    """(anchor of the field, reason) for the summary at the top of the page."""
    anchors = {"hotel": "hotel-choice", "images": "photos"}
    items = [("", message) for message in form.non_field_errors()]
    items += [
        (anchors.get(name, f"id_{name}"), message)
        for name, messages_ in form.errors.items()
        if name != "__all__"
        for message in messages_
    ]
    if form.proposing:
        items += [
            (f"id_{form.proposal.add_prefix(name)}", message)
            for name, messages_ in form.proposal.errors.items()
            for message in messages_
        ]
    return items


def _chosen_id(form) -> str:
    return str(form["hotel"].value() or "") if form.is_bound else ""


def _page_config() -> dict:
    """The server's own limits, for upload.js to check photos before sending them."""
    return {
        "maxPhotos": settings.UPLOAD_MAX_IMAGES,
        "maxBytes": settings.UPLOAD_MAX_BYTES,
        "maxPixels": settings.UPLOAD_MAX_PIXELS,
        "storedMaxSide": intake.STORED_MAX_SIDE,
        "jpegQuality": intake.STORED_JPEG_QUALITY / 100,
        "messages": _script_messages(),
    }


def _script_messages() -> dict:
    """upload.js's words, translated here; %(name)s placeholders are filled in there."""
    return {
        "chosen": _("%(count)s of %(max)s photos chosen."),
        "none": _("Choose 1 to %(max)s photos."),
        "tooMany": _("%(name)s was not added: at most %(max)s photos can be sent."),
        "notPhoto": _("%(name)s is not a photo we can take: use JPEG, PNG, WebP or HEIC."),
        "tooLarge": _("%(name)s is larger than the %(mb)s MB limit."),
        "tooManyPixels": _("%(name)s is larger than %(mp)s megapixels."),
        "unreadable": _("%(name)s could not be read; it may be damaged."),
        "refused": _("Refused: %(reason)s"),
        "remove": _("Remove %(name)s"),
        "photo": _("Photo %(number)s"),
        "preparing": _("Preparing your photos…"),
        "sending": _("Sending…"),
        "send": _("Send photos"),
        "sent": _("%(sent)s of %(total)s MB sent"),
        "stored": _("Sent. Opening your thank-you page…"),
        "retrying": _(
            "The connection dropped. Trying again in %(seconds)s s; your photos are kept."
        ),
        "gaveUp": _(
            "The photos could not be sent: the connection keeps dropping. They are still "
            "chosen: tap “Send photos” to try again."
        ),
        "serverError": _("The server could not take the photos (error %(status)s)."),
        "chooseHotel": _("Choose your hotel: search by name or use your location."),
        "needRoom": _("Type your room number."),
        "needPhotos": _("Choose 1 to %(max)s photos."),
        "refusedFiles": _("Remove the refused photos; the others stay chosen."),
        "searching": _("Searching…"),
        "chooseBelow": _("Choose your hotel below."),
        "typeName": _("Type part of the hotel's name."),
        "noMatch": _("No hotel matches “%(q)s”. Try part of the name."),
        "noneNear": _("No hotel found near you; search by name instead."),
        "away": _("%(distance)s away"),
        "searchFailed": _("Search failed (%(status)s)."),
        "need_name": _("Type the hotel's name."),
        "need_city": _("Type the city."),
        "need_country_code": _("Type the two-letter country code, e.g. US or FR."),
        "need_latitude": _("The hotel's position is needed: tap “Use my location” at the hotel."),
        "need_longitude": _("The hotel's position is needed: tap “Use my location” at the hotel."),
        "locating": _("Finding your location…"),
        "located": _("Position found (± %(metres)s m)."),
        "noLocation": _("Your location is not available; type the position or search instead."),
    }


def _remember(request, submitted: Submitted):
    own = request.session.get(SESSION_KEY, {})
    own[str(submitted.submission.public_id)] = {
        "duplicates": submitted.duplicates,
        "receipt": submitted.receipt,
    }
    request.session[SESSION_KEY] = dict(list(own.items())[-SESSION_REMEMBERED:])


@require_http_methods(["GET"])
def thanks(request, public_id):
    mine = request.session.get(SESSION_KEY, {}).get(str(public_id))
    if not isinstance(mine, dict):
        raise Http404("No upload of yours has this address.")
    submission = get_object_or_404(Submission.objects.select_related("hotel"), public_id=public_id)
    images = list(submission.images.order_by("id"))
    receipt_url = request.build_absolute_uri(
        reverse("rooms:receipt", kwargs={"receipt": mine["receipt"]})
    )
    context = {
        "submission": submission,
        "images": [(image, public_status(image)) for image in images],
        "duplicates": mine["duplicates"],
        "receipt": mine["receipt"],
        "receipt_url": receipt_url,
        "receipt_api": reverse("submission-status", kwargs={"receipt": mine["receipt"]}),
        "proposed": submission.hotel.status == Hotel.Status.PROPOSED,
    }
    return _private(render(request, "rooms/thanks.html", context))


@require_http_methods(["GET", "POST"])
def receipt(request, receipt):
    """The receipt link: each photo's state, and withdrawal (POST, confirmed)."""
    if not ReceiptRateThrottle().allow_request(request, None):
        return _private(render(request, "rooms/receipt.html", {"throttled": True}, status=429))
    submission = Submission.objects.filter(receipt_digest=digest_of_receipt(receipt)).first()
    if submission is None:
        raise Http404("No submission has this receipt.")
    if request.method == "POST":
        if request.POST.get("confirm") == "yes":
            return _withdraw(request, receipt)
        error = _("Tick the box to confirm that these photos should be deleted.")
        return _render_receipt(request, submission, receipt, error=error, status=400)
    return _render_receipt(request, submission, receipt)


def _render_receipt(request, submission, receipt, *, error="", status=200):
    images = submission.images.order_by("id").only(
        "public_id", "status", "flagged_reason", "quarantined"
    )
    context = {
        "statuses": [public_status(image) for image in images],
        "receipt": receipt,
        "error": error,
    }
    return _private(render(request, "rooms/receipt.html", context, status=status))


def _withdraw(request, receipt):
    submission_withdraw(receipt)
    own = request.session.get(SESSION_KEY, {})
    request.session[SESSION_KEY] = {k: v for k, v in own.items() if v.get("receipt") != receipt}
    messages.success(request, _("Your submission was withdrawn: its photos are deleted."))
    return redirect("rooms:upload")


def _private(response):
    # Pages that show or contain a receipt: never cached, never sent on as a referrer.
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
