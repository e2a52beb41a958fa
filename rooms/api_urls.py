from django.urls import path

from rooms.api import SubmissionCreateApi, SubmissionStatusApi

urlpatterns = [
    path("submissions/", SubmissionCreateApi.as_view(), name="submission-create"),
    # The receipt is the key: only the traveller who uploaded holds it.
    path("submissions/<str:receipt>/", SubmissionStatusApi.as_view(), name="submission-status"),
]
