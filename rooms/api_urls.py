from django.urls import path

from rooms.api import RoomImageDetailApi, SubmissionCreateApi

urlpatterns = [
    path("submissions/", SubmissionCreateApi.as_view(), name="submission-create"),
    path("images/<int:pk>/", RoomImageDetailApi.as_view(), name="room-image-detail"),
]
