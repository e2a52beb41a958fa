"""GET /api/hotels/: public hotel catalogue search (by words and/or near a point)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination

from rooms.geo import DEFAULT_RADIUS_KM, MAX_RADIUS_KM, MIN_RADIUS_KM, parse_point
from rooms.models import Chain, Hotel
from rooms.selectors import hotel_search


class HotelSearchInputSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    near = serializers.CharField(required=False)
    radius_km = serializers.FloatField(
        required=False, min_value=MIN_RADIUS_KM, max_value=MAX_RADIUS_KM
    )

    def validate_near(self, value):
        try:
            return parse_point(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs):
        if "radius_km" in attrs and "near" not in attrs:
            raise serializers.ValidationError({"radius_km": "radius_km needs near=LAT,LON."})
        return attrs


class ChainSerializer(serializers.ModelSerializer):
    class Meta:
        model = Chain
        fields = ["id", "name"]


class HotelSerializer(serializers.ModelSerializer):
    chain = ChainSerializer(allow_null=True)

    class Meta:
        model = Hotel
        fields = [
            "id",
            "name",
            "chain",
            "address",
            "city",
            "country_code",
            "latitude",
            "longitude",
        ]


class NearbyHotelSerializer(HotelSerializer):
    distance_km = serializers.FloatField()

    class Meta(HotelSerializer.Meta):
        fields = [*HotelSerializer.Meta.fields, "distance_km"]


class HotelPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100


@extend_schema(
    parameters=[
        OpenApiParameter(
            "q",
            str,
            description="Words of the hotel's name, chain, city or street, in any order "
            "(up to 8, 200 characters). Every word must match; case and accents are "
            "ignored and small typos forgiven ('nortstar' finds Northstar, 'Sao Paulo' "
            "São Paulo). Best match first. Proposed hotels are never listed.",
        ),
        OpenApiParameter(
            "near",
            str,
            description="LAT,LON in decimal degrees: only hotels within radius_km, "
            "nearest first (then best match), each with its distance_km.",
        ),
        OpenApiParameter(
            "radius_km",
            float,
            description=f"With near: from {MIN_RADIUS_KM:g} to {MAX_RADIUS_KM:g} km, "
            f"default {DEFAULT_RADIUS_KM:g}.",
        ),
    ]
)
class HotelSearchApi(ListAPIView):
    """Search the hotel catalogue by words and/or near a point."""

    pagination_class = HotelPagination
    serializer_class = HotelSerializer

    def get_queryset(self):
        params = HotelSearchInputSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        self.search = params.validated_data
        return hotel_search(**self.search)

    def get_serializer_class(self):
        if getattr(self, "search", {}).get("near") is not None:
            return NearbyHotelSerializer
        return HotelSerializer
