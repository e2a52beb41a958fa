"""manage.py seed_demo: demo hotels with generated room photos, and demo accounts.

Photos go through `submission_create`, exactly like a traveller's upload, so they are
checked, stored and embedded (in-process when no Celery broker is configured).
Running it again adds nothing: hotels are keyed on external_ref, and a hotel that
already has photos gets no more.
"""

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from django.db import transaction

from demo.images import photo_jpeg, render_room, style_for
from rooms.models import Chain, Hotel
from rooms.services import submission_create

# (external_ref, name, chain, address, city, country_code, latitude, longitude)
DEMO_HOTELS = [
    ("DEMO-PDX-1", "Northstar Portland Downtown", "Northstar Hotels",
     "515 SW Broadway", "Portland", "US", 45.5187, -122.6792),
    ("DEMO-PDX-2", "Cedar Suites Pearl District", "Cedar Suites",
     "1020 NW Glisan St", "Portland", "US", 45.5264, -122.6822),
    ("DEMO-PDX-3", "Rose City Motor Inn", "",
     "3400 NE Sandy Blvd", "Portland", "US", 45.5332, -122.6286),
    ("DEMO-SEA-1", "Northstar Seattle Waterfront", "Northstar Hotels",
     "1301 Alaskan Way", "Seattle", "US", 47.6070, -122.3409),
    ("DEMO-SEA-2", "Urban Nest Capitol Hill", "Urban Nest",
     "1520 E Pine St", "Seattle", "US", 47.6153, -122.3118),
    ("DEMO-CHI-1", "Cedar Suites River North", "Cedar Suites",
     "440 N Wells St", "Chicago", "US", 41.8899, -87.6339),
    ("DEMO-CHI-2", "Northstar Chicago Loop", "Northstar Hotels",
     "22 W Monroe St", "Chicago", "US", 41.8806, -87.6283),
    ("DEMO-CHI-3", "Lakeview Guest House", "",
     "3300 N Broadway", "Chicago", "US", 41.9424, -87.6446),
]  # fmt: skip
# The first visit takes two views of the room, later ones a single photo: enough to
# search with, and few enough that seeding with in-process embedding stays quick.
FIRST_VISIT_PHOTOS = 2
DEMO_TEAM = "Demo team"


class Command(BaseCommand):
    help = "Create demo hotels with generated room photos, and demo accounts to log in with."

    def add_arguments(self, parser):
        parser.add_argument(
            "--hotels", type=int, default=len(DEMO_HOTELS), help="Seed only the first N hotels."
        )
        parser.add_argument("--no-users", action="store_true", help="Create no demo accounts.")

    def handle(self, *args, hotels, no_users, **options):
        created_images = 0
        for index, row in enumerate(DEMO_HOTELS[:hotels]):
            hotel = hotel_upsert(row)
            created_images += seed_photos(hotel, index)
        self.stdout.write(
            f"Demo hotels: {min(hotels, len(DEMO_HOTELS))}; new photos: {created_images}."
        )
        if not no_users:
            self.report_users()

    def report_users(self):
        for line in ensure_demo_users():
            self.stdout.write(line)
        self.stdout.write(
            self.style.SUCCESS(
                "Log in at http://127.0.0.1:8000/accounts/login/ "
                "(investigators: /investigate/, moderators: /admin/); the first login "
                "asks investigators and staff to set up an authenticator app (TOTP). "
                "Travellers upload at http://127.0.0.1:8000/ without an account."
            )
        )


@transaction.atomic
def hotel_upsert(row) -> Hotel:
    ref, name, chain_name, address, city, country, lat, lon = row
    chain = Chain.objects.get_or_create(name=chain_name)[0] if chain_name else None
    values = dict(
        name=name,
        chain=chain,
        address=address,
        city=city,
        country_code=country,
        latitude=lat,
        longitude=lon,
    )
    hotel = Hotel.objects.filter(external_ref=ref).first() or Hotel(external_ref=ref)
    for key, value in values.items():
        setattr(hotel, key, value)
    hotel.full_clean()
    hotel.save()
    return hotel


def seed_photos(hotel: Hotel, index: int) -> int:
    """2 or 3 visits to the same room, each with photos from different spots."""
    if hotel.submissions.exists():
        return 0
    # Same chain, same decor; each hotel its own layout, so hotels still differ.
    style = style_for(hotel.chain.name if hotel.chain else hotel.external_ref, hotel.external_ref)
    room = render_room(style)
    visits = 2 + index % 2
    created = 0
    view = 0
    for visit in range(visits):
        files = []
        for _ in range(FIRST_VISIT_PHOTOS if visit == 0 else 1):
            jpeg = photo_jpeg(style, view, room=room)
            files.append(SimpleUploadedFile(f"room-{view}.jpg", jpeg, "image/jpeg"))
            view += 1
        result = submission_create(hotel=hotel, room_number=str(101 + index), files=files)
        created += sum(1 for outcome in result.images if not outcome.duplicate)
    return created


def ensure_demo_users() -> list[str]:
    """A superuser (moderation) and an investigator; passwords are random, shown once."""
    from investigations.services import generate_password, investigator_create

    User = get_user_model()
    lines = []
    if User.objects.filter(username="admin").exists():
        lines.append("User 'admin' exists (reset with: manage.py changepassword admin).")
    else:
        password = generate_password()
        User.objects.create_superuser("admin", "", password)
        lines.append(f"Created superuser 'admin', password: {password}")
    if User.objects.filter(username="investigator").exists():
        lines.append(
            "User 'investigator' exists (reset with: manage.py changepassword investigator)."
        )
    else:
        password = generate_password()
        investigator_create(username="investigator", team_name=DEMO_TEAM, password=password)
        lines.append(f"Created investigator 'investigator', password: {password}")
    return lines
