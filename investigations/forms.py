"""The HTML forms: a new search, a refined re-run of one, a decision on a match, cases
(open, edit, attach a search) and the filters of the team's history.

Only shapes are checked here (numbers are numbers, both of lat/lon given); what the
photo, mask and region mean is checked once, by the services, for the pages and the
API alike.
"""

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from investigations.cases import cases_visible_to
from investigations.models import Case, Decision
from investigations.selectors import team_of
from investigations.services import K_MAX
from rooms.geo import MAX_RADIUS_KM, MIN_RADIUS_KM
from rooms.models import Chain

# Service error keys that are not form fields: where to show them.
SERVICE_FIELDS = {"near": "latitude", "hotel_id": "hotel", "image_id": "image"}
K_CHOICES = [(5, "5"), (10, "10"), (20, "20"), (50, "50")]
NOTE_MAX_LENGTH = 2000  # as the model and the API


class ServiceErrorsMixin:
    service_fields = SERVICE_FIELDS

    def add_service_errors(self, error: ValidationError) -> None:
        """Show the service's reasons next to the fields they concern."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, messages in error.message_dict.items():
            target = self.service_fields.get(field, field if field in self.fields else None)
            for message in messages:
                # A reason about a field this form lacks keeps its name, to stay readable.
                known = target or field == "__all__"
                self.add_error(target, message if known else f"{field}: {message}")


class FilterForm(ServiceErrorsMixin, forms.Form):
    """The filters and k shared by a new search and a re-run."""

    # No max_length here: the service's reason ("use a two-letter ISO 3166 code") is clearer.
    country = forms.CharField(
        required=False,
        label="Country",
        help_text="Two-letter code, e.g. US.",
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "maxlength": 2}),
    )
    city = forms.CharField(required=False, max_length=120, label="City")
    chain = forms.ModelChoiceField(
        queryset=Chain.objects.all(), required=False, label="Chain", empty_label="Any chain"
    )
    latitude = forms.FloatField(required=False, min_value=-90, max_value=90, label="Near latitude")
    longitude = forms.FloatField(
        required=False, min_value=-180, max_value=180, label="Near longitude"
    )
    radius_km = forms.FloatField(
        required=False,
        min_value=MIN_RADIUS_KM,
        max_value=MAX_RADIUS_KM,
        label="Radius (km)",
        initial=25,
    )
    k = forms.TypedChoiceField(choices=K_CHOICES, coerce=int, initial=10, label="Hotels to show")

    def clean_country(self):
        return self.cleaned_data["country"].strip().upper()

    def clean_city(self):
        return self.cleaned_data["city"].strip()

    def clean(self):
        data = super().clean()
        lat, lon = data.get("latitude"), data.get("longitude")
        if (lat is None) != (lon is None):
            raise ValidationError("Give both latitude and longitude to search near a place.")
        # A radius already refused (out of range) has its own reason: not a second one.
        if lat is not None and not data.get("radius_km") and "radius_km" not in self.errors:
            self.add_error("radius_km", "Give a radius to search near a place.")
        return data

    def filters(self) -> dict | None:
        """The filters as the services take them."""
        data = self.cleaned_data
        filters = {}
        if data["country"]:
            filters["country"] = data["country"]
        if data["city"]:
            filters["city"] = data["city"]
        if data["chain"]:
            filters["chain"] = data["chain"].pk
        if data["latitude"] is not None:
            filters["near"] = f"{data['latitude']},{data['longitude']}"
            filters["radius_km"] = data["radius_km"]
        return filters or None


def team_cases(user):
    return cases_visible_to(user).order_by("reference")


class CaseChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, case):
        return f"{case.reference}: {case.title}"


class SearchForm(FilterForm):
    """A new search, optionally into one of the team's cases or a case opened with it."""

    image = forms.FileField(
        label="Photo",
        help_text="JPEG, PNG, WebP or HEIC, as taken. It is stored privately for your team.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/*,.heic,.heif"}),
    )
    mask = forms.FileField(
        required=False,
        label="Mask file",
        help_text="Optional PNG the size of the photo: white = erased. Painting replaces it.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png"}),
    )
    # "x,y,w,h" in pixels of the upright photo, set by the eraser's region tool.
    region = forms.CharField(required=False, widget=forms.HiddenInput, max_length=80)

    case = CaseChoiceField(
        queryset=Case.objects.none(), required=False, label="Case", empty_label="No case"
    )
    new_case_reference = forms.CharField(
        required=False,
        max_length=60,
        label="New case reference",
        help_text="Your team's case number. Leave empty to use the case chosen above.",
    )
    new_case_title = forms.CharField(required=False, max_length=200, label="New case title")

    field_order = ["image", "mask", "region"]
    # The case opened with the search: `case_create`'s reasons go next to its fields.
    service_fields = {
        **SERVICE_FIELDS,
        "reference": "new_case_reference",
        "title": "new_case_title",
    }

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["case"].queryset = team_cases(user)

    def clean(self):
        data = super().clean()
        if not data.get("new_case_reference", "").strip():
            return data
        if data.get("case"):
            self.add_error("new_case_reference", "Choose a case or open a new one, not both.")
        elif not data.get("new_case_title", "").strip():
            self.add_error("new_case_title", "Give the new case a title.")
        return data

    def new_case(self) -> dict | None:
        """Arguments for `case_create` when a case is opened with this search."""
        reference = self.cleaned_data["new_case_reference"].strip()
        if not reference:
            return None
        return {"reference": reference, "title": self.cleaned_data["new_case_title"]}

    def search_arguments(self) -> dict:
        """Keyword arguments for `search_create` (besides user, client address and case)."""
        data = self.cleaned_data
        return {
            "image_file": data["image"],
            "mask_file": data["mask"] or None,
            "region": data["region"] or None,
            "filters": self.filters(),
            "k": data["k"],
        }


class RefineForm(FilterForm):
    """Re-run the stored photo: new filters, k, region or mask, without uploading again."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A search made through the API may have any k: offer it, so a re-run keeps it.
        wanted = str(self.data.get("k") or self.initial.get("k") or "")
        offered = dict(K_CHOICES)
        if wanted.isdigit() and 1 <= int(wanted) <= K_MAX and int(wanted) not in offered:
            self.fields["k"].choices = sorted([*K_CHOICES, (int(wanted), wanted)])

    # The revision shown when the form was sent: re-shown with the errors.
    revision = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    region = forms.CharField(
        required=False,
        max_length=80,
        label="Region",
        help_text="x,y,width,height in pixels of the upright photo; empty = the whole photo.",
    )
    mask = forms.FileField(
        required=False,
        label="New mask",
        help_text="Optional PNG the size of the photo, white = erased. Empty: keep the current.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png"}),
    )
    clear_mask = forms.BooleanField(
        required=False,
        label="Search the whole photo again (no mask)",
        help_text="Drops the current mask: nothing is erased in the new revision.",
    )

    @classmethod
    def initial_for(cls, revision) -> dict:
        """The form filled as `revision` ran, so a re-run changes only what is edited."""
        filters = revision.filters or {}
        near = filters.get("near") or [None, None]
        chain = filters.get("chain") or {}
        return {
            "revision": revision.number,
            "country": filters.get("country", ""),
            "city": filters.get("city", ""),
            "chain": chain.get("id"),
            "latitude": near[0],
            "longitude": near[1],
            "radius_km": filters.get("radius_km", 25),
            "k": revision.k,
            "region": ",".join(str(value) for value in revision.region or []),
        }

    def revise_arguments(self) -> dict:
        """Keyword arguments for `search_revise` (besides search, user and client address)."""
        data = self.cleaned_data
        return {
            "filters": self.filters(),
            "k": data["k"],
            "region": data["region"].strip() or None,
            "mask_file": data["mask"] or None,
            "clear_mask": data["clear_mask"],
        }


class DecisionForm(ServiceErrorsMixin, forms.Form):
    """Confirm or reject a hotel, or one of its matched photos, with an optional note."""

    revision = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    hotel = forms.IntegerField(widget=forms.HiddenInput)
    image = forms.IntegerField(required=False, widget=forms.HiddenInput)
    verdict = forms.ChoiceField(choices=Decision.Verdict.choices)
    note = forms.CharField(
        required=False,
        max_length=NOTE_MAX_LENGTH,
        label="Note",
        widget=forms.TextInput(attrs={"maxlength": NOTE_MAX_LENGTH}),
    )

    def decision_arguments(self) -> dict:
        """Keyword arguments for `decision_record` (besides search, user and client address)."""
        data = self.cleaned_data
        return {
            "hotel_id": data["hotel"],
            "image_id": data["image"],
            "verdict": data["verdict"],
            "note": data["note"].strip(),
        }


class CaseForm(ServiceErrorsMixin, forms.ModelForm):
    """Open a case: the service checks the reference is new to the team."""

    class Meta:
        model = Case
        fields = ["reference", "title", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}


class CaseEditForm(ServiceErrorsMixin, forms.ModelForm):
    class Meta:
        model = Case
        fields = ["title", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 5})}


class AttachForm(ServiceErrorsMixin, forms.Form):
    """Which of the team's cases a search is in (none: out of any), and "same room"."""

    case = CaseChoiceField(
        queryset=Case.objects.none(), required=False, label="Case", empty_label="No case"
    )
    same_room = forms.BooleanField(
        required=False,
        label="Same room as the case's other “same room” photos",
        help_text="Their hotels are ranked together in the case's combined ranking.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["case"].queryset = team_cases(user)

    def attach_arguments(self) -> dict:
        case = self.cleaned_data["case"]
        # Outside a case "same room" means nothing: cleared, so it is not carried over.
        return {"case": case, "same_room": bool(case) and self.cleaned_data["same_room"]}


class HistoryFilterForm(forms.Form):
    """The team's history narrowed by case, investigator and day (UTC)."""

    case = CaseChoiceField(
        queryset=Case.objects.none(), required=False, label="Case", empty_label="Any case"
    )
    investigator = forms.ModelChoiceField(
        queryset=None, required=False, label="Investigator", empty_label="Anyone"
    )
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["case"].queryset = team_cases(user)
        self.fields["investigator"].queryset = _team_members(user)

    def filtered(self, searches):
        """`searches` narrowed by the valid filters; an invalid one is shown, not applied."""
        self.is_valid()
        data = self.cleaned_data
        lookups = {
            "case": data.get("case"),
            "owner": data.get("investigator"),
            "created_at__date__gte": data.get("date_from"),
            "created_at__date__lte": data.get("date_to"),
        }
        return searches.filter(**{key: value for key, value in lookups.items() if value})


def _team_members(user):
    users = get_user_model().objects.order_by("username")
    team = team_of(user)
    # Without a team an investigator sees only their own searches: only they are listed.
    return users.filter(team_membership__team=team) if team else users.filter(pk=user.pk)
