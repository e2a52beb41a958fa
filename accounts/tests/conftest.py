"""Users for the account tests: an investigator (`ivy`), a superuser (`root`), a traveller
(`tom`, no privileges), all with the same password."""

import pytest

from investigations.services import investigator_create

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def ivy(db):
    user, _ = investigator_create(username="ivy", team_name="Team I", password=PASSWORD)
    return user


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.org", PASSWORD)


@pytest.fixture
def tom(django_user_model):
    return django_user_model.objects.create_user("tom", "tom@example.org", PASSWORD)


def password_login(client, username, url="/accounts/login/", password=PASSWORD, **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def admin_login(client, username, password=PASSWORD, **extra):
    data = {"username": username, "password": password, "next": "/admin/"}
    return client.post("/admin/login/?next=/admin/", data, **extra)
