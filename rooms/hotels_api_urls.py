from django.urls import path

from rooms.hotels_api import HotelSearchApi

urlpatterns = [path("", HotelSearchApi.as_view(), name="hotel-search")]
