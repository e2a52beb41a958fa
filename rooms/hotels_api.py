"""GET /api/hotels/: public hotel catalogue search (by name and/or near a point)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination

from rooms.models import Chain, Hotel
from rooms.selectors import MAX_RADIUS_KM, hotel_search


class HotelSearchInputSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    near = serializers.CharField(required=False)
    radius_km = serializers.FloatField(required=False, min_value=0.01, max_value=MAX_RADIUS_KM)

    def validate_near(self, value):
        parts = value.split(",")
        if len(parts) != 2:
            raise serializers.ValidationError("Use near=LAT,LON, for example near=45.52,-122.68.")
        try:
            lat, lon = (float(part) for part in parts)
        except ValueError:
            raise serializers.ValidationError("LAT and LON must be numbers.") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise serializers.ValidationError("LAT must be in [-90, 90] and LON in [-180, 180].")
        return (lat, lon)

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
        OpenApiParameter("q", str, description="Part of the hotel or chain name."),
        OpenApiParameter("near", str, description="LAT,LON: nearest hotels first."),
        OpenApiParameter("radius_km", float, description="With near; default 50, max 1000."),
    ]
)
class HotelSearchApi(ListAPIView):
    """Hotels matching a name and/or near a point (then ordered by distance)."""

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
