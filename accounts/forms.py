from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator


class CodeForm(forms.Form):
    code = forms.RegexField(
        regex=r"^\s*\d{6}\s*$",
        label="6-digit code",
        error_messages={"invalid": "Enter the 6 digits your authenticator app shows."},
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}
        ),
    )

    def clean_code(self):
        return self.cleaned_data["code"].strip()


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="What the token is for.")
    lifetime_days = forms.IntegerField(label="Valid for (days)", min_value=1)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["lifetime_days"]
        field.max_value = settings.API_TOKEN_MAX_LIFETIME_DAYS
        field.validators.append(MaxValueValidator(field.max_value))
        field.initial = settings.API_TOKEN_LIFETIME_DAYS
        field.widget.attrs["max"] = field.max_value
