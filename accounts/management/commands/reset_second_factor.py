"""manage.py reset_second_factor USERNAME: delete the user's TOTP devices and end their
sessions; they enrol a new device at their next login (check who asks first)."""

from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice


class Command(BaseCommand):
    help = "Remove a user's second-factor devices (lost phone); they enrol again at login."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        User = get_user_model()
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"no user {username!r}") from None
        deleted, _ = TOTPDevice.objects.filter(user=user).delete()
        ended = 0
        for session in Session.objects.iterator():
            if session.get_decoded().get("_auth_user_id") == str(user.pk):
                session.delete()
                ended += 1
        self.stdout.write(f"{username}: {deleted} device(s) removed, {ended} session(s) ended.")
