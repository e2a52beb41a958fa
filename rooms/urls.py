# Traveller pages (upload, thank-you, the private receipt link).
from django.urls import path

from rooms import views

app_name = "rooms"
urlpatterns = [
    path("", views.upload, name="upload"),
    path("thanks/<uuid:public_id>/", views.thanks, name="thanks"),
    # The receipt is the key: only the traveller who uploaded holds it.
    path("receipt/<str:receipt>/", views.receipt, name="receipt"),
]
