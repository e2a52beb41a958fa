"""The traveller upload form (plain HTML POST). Photo checks live in the service."""

from django import forms

from rooms.models import Hotel


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


class UploadForm(forms.Form):
    hotel = forms.ModelChoiceField(
        queryset=Hotel.objects.all(),
        widget=forms.HiddenInput,  # the page renders its own list of search results
        error_messages={
            "required": "Choose your hotel: search by name or use your location.",
            "invalid_choice": "That hotel is not in our list; search again and choose one.",
        },
    )
    room_number = forms.CharField(max_length=20, label="Room number")
    images = PhotosField(label="Photos (1 to 4)")
