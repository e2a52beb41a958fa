from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"
    verbose_name = "Hotels and room photos"

    def ready(self):
        from rooms import checks  # noqa: F401  (registers the system checks)
