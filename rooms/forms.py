"""The traveller upload form (plain HTML POST; upload.js sends the same fields).

Photo checks live in the service; the page's script repeats the cheap ones before
sending, with the limits this module's callers render into the page.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from rooms.models import Hotel
from rooms.submit_once import parse_capture_times

# The `hotel` value of "My hotel is not listed": the traveller proposes one.
PROPOSE = "new"


class MultiplePhotoInput(forms.FileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """Every selected file, unchecked: `submission_create` validates count and content."""

    widget = MultiplePhotoInput(attrs={"accept": "image/*", "capture": True})

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data]
        return [f for f in files if f]


class HotelChoiceField(forms.ModelChoiceField):
    """A listed hotel, or PROPOSE."""

    def to_python(self, value):
        return PROPOSE if value == PROPOSE else super().to_python(value)


class HotelProposalForm(forms.Form):
    """The hotel the traveller is in, when it is not listed (fields prefixed "new-")."""

    name = forms.CharField(max_length=200, label=_("Hotel name"))
    address = forms.CharField(max_length=300, required=False, label=_("Street address"))
    city = forms.CharField(max_length=120, label=_("City"))
    country_code = forms.RegexField(
        regex=r"^[A-Za-z]{2}$",
        label=_("Country (two-letter code, e.g. US, FR)"),
        error_messages={"invalid": _("Use the two-letter country code, e.g. US or FR.")},
    )
    latitude = forms.FloatField(min_value=-90, max_value=90, label=_("Latitude"))
    longitude = forms.FloatField(min_value=-180, max_value=180, label=_("Longitude"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="new", **kwargs)
        position_needed = _("The hotel's position is needed: tap “Use my location” at the hotel.")
        for name in ("latitude", "longitude"):
            self.fields[name].error_messages["required"] = position_needed

    def clean_country_code(self):
        return self.cleaned_data["country_code"].upper()


class UploadForm(forms.Form):
    hotel = HotelChoiceField(
        queryset=Hotel.objects.filter(status=Hotel.Status.LISTED),
        widget=forms.HiddenInput,  # the page renders its own list of search results
        error_messages={
            "required": _("Choose your hotel: search by name or use your location."),
            "invalid_choice": _("That hotel is not in our list; search again and choose one."),
        },
    )
    room_number = forms.CharField(max_length=20, label=_("Room number"))
    images = PhotosField(label=_("Photos (1 to 4)"))
    # Sent by upload.js: the same random token with every try of one submission.
    client_token = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, data=None, files=None, **kwargs):
        super().__init__(data, files, **kwargs)
        self.proposal = HotelProposalForm(data)

    @property
    def proposing(self) -> bool:
        return self.is_bound and self.data.get("hotel") == PROPOSE

    def is_valid(self) -> bool:
        valid = super().is_valid()
        # Both checked, so every error shows at once.
        return (self.proposal.is_valid() if self.proposing else True) and valid

    def clean(self):
        cleaned = super().clean()
        photos = cleaned.get("images") or []
        try:
            cleaned["captured_at"] = parse_capture_times(
                self.data.getlist("captured_at"), len(photos)
            )
        except forms.ValidationError as error:
            self.add_error("images", error)
        return cleaned
