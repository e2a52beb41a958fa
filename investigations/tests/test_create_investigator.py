"""manage.py create_investigator."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from investigations.permissions import is_investigator


@pytest.mark.django_db
def test_creates_an_investigator_with_a_token(capsys):
    call_command("create_investigator", "carol", "--team", "Team C", "--email", "c@example.org")
    out = capsys.readouterr().out
    carol = get_user_model().objects.get(username="carol")
    assert is_investigator(carol) and carol.email == "c@example.org"
    assert carol.team_membership.team.name == "Team C"
    token = out.split("API token: ")[1].strip()
    password = out.split("Password: ")[1].split()[0]  # generated: stdin is not a terminal
    assert carol.check_password(password)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.post("/api/searches/", {}).status_code == 400  # authorised, no image


@pytest.mark.django_db
def test_refuses_an_existing_username(traveller):
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_investigator", "traveller", "--team", "Team A")
    assert not is_investigator(traveller)
