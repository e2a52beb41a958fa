import getpass
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from investigations.services import generate_password, investigator_create


class Command(BaseCommand):
    help = (
        "Create an investigator in a team (created if new) and print an API token. "
        "Asks for a password on a terminal; otherwise generates one and prints it."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--team", required=True, help="Team name (shares searches).")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--generate-password",
            dest="generate",
            action="store_true",
            help="Do not prompt; print a new one.",
        )

    def handle(self, *args, username, team, email, generate, **options):
        generated = generate or not sys.stdin.isatty()
        password = generate_password() if generated else self._prompt_password()
        try:
            user, token = investigator_create(
                username=username, team_name=team, email=email, password=password
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"Created investigator {user.username} in team {team}.")
        if generated:
            self.stdout.write(f"Password: {password}")
        self.stdout.write(f"API token: {token}")

    def _prompt_password(self):
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("passwords do not match")
        try:
            validate_password(password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        return password
