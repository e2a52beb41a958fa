"""The HTML search form: collects the photo, mask, region and filters.

Only shapes are checked here (numbers are numbers, both of lat/lon given); what the
photo, mask and region mean is checked once, by `search_create`, for the page and
the API alike.
"""

from django import forms
from django.core.exceptions import ValidationError

from rooms.geo import MAX_RADIUS_KM, MIN_RADIUS_KM
from rooms.models import Chain

# Service error keys that are not form fields: where to show them.
SERVICE_FIELDS = {"near": "latitude"}
K_CHOICES = [(5, "5"), (10, "10"), (20, "20"), (50, "50")]


class SearchForm(forms.Form):
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
        if lat is not None and not data.get("radius_km"):
            self.add_error("radius_km", "Give a radius to search near a place.")
        return data

    def search_arguments(self) -> dict:
        """Keyword arguments for `search_create` (besides user and client address)."""
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
        return {
            "image_file": data["image"],
            "mask_file": data["mask"] or None,
            "region": data["region"] or None,
            "filters": filters or None,
            "k": data["k"],
        }

    def add_service_errors(self, error: ValidationError) -> None:
        """Show the service's reasons next to the fields they concern."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, messages in error.message_dict.items():
            target = SERVICE_FIELDS.get(field, field if field in self.fields else None)
            for message in messages:
                # A reason about a field this form lacks keeps its name, to stay readable.
                known = target or field == "__all__"
                self.add_error(target, message if known else f"{field}: {message}")
