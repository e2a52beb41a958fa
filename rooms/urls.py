# Traveller pages (upload, thank-you).
from django.urls import path

from rooms import views

app_name = "rooms"
urlpatterns = [
    path("", views.upload, name="upload"),
    path("thanks/<uuid:public_id>/", views.thanks, name="thanks"),
]
