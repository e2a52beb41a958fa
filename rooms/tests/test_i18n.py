"""The traveller pages in the visitor's language: Accept-Language, the switcher's cookie,
<html lang dir>, translated form errors and statuses; investigator pages stay English;
the catalogues complete (locale/README.md)."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from rooms import intake, presenting
from rooms.tests.test_withdraw import upload

SHIPPED = ("es", "fr", "pt")  # complete; Arabic covers the pages for the right-to-left check


def html_tag(response) -> str:
    return re.search(r"<html[^>]*>", response.content.decode()).group(0)


@pytest.mark.parametrize("language", [*SHIPPED, "ar"])
def test_catalogue_has_no_untranslated_or_fuzzy_entry(language):
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.fail("msgfmt is missing: install GNU gettext (apt-get install gettext)")
    po = settings.BASE_DIR / "locale" / language / "LC_MESSAGES" / "django.po"
    result = subprocess.run(
        [msgfmt, "--check", "--statistics", "-o", "/dev/null", str(po)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr  # placeholders match the English
    if language in SHIPPED:
        assert re.fullmatch(r"\d+ translated messages\.\n", result.stderr), result.stderr


def test_catalogues_hold_every_string_of_the_traveller_pages(tmp_path):
    # makemessages over the rooms app and base.html, as locale/README.md has it: a string
    # marked for translation but missing from the catalogues would show in English.
    if shutil.which("xgettext") is None:
        pytest.fail("xgettext is missing: install GNU gettext (apt-get install gettext)")
    shutil.copytree(
        settings.BASE_DIR / "rooms",
        tmp_path / "rooms",
        ignore=shutil.ignore_patterns("tests", "static", "__pycache__"),
    )
    (tmp_path / "templates").mkdir()
    shutil.copy(settings.BASE_DIR / "templates" / "base.html", tmp_path / "templates")
    (tmp_path / "locale").mkdir()
    subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "es", "--no-location"],
        cwd=tmp_path,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": ""},
        check=True,
        capture_output=True,
    )
    marked = msgids(tmp_path / "locale" / "es" / "LC_MESSAGES" / "django.po")
    assert len(marked) > 100
    for language in [*SHIPPED, "ar"]:
        po = settings.BASE_DIR / "locale" / language / "LC_MESSAGES" / "django.po"
        held = msgids(po)
        assert held == marked, (
            f"{language}: run makemessages (locale/README.md); "
            f"missing {sorted(marked - held)}, no longer used {sorted(held - marked)}"
        )


def msgids(po) -> set[str]:
    """The msgids of a catalogue (its header's empty one left out)."""
    text = po.read_text(encoding="utf-8")
    entries = re.findall(r'^msgid ((?:".*"\n)+)', text, re.M)
    ids = {"".join(re.findall(r'"(.*)"', entry)) for entry in entries}
    return ids - {""}


def test_compiled_catalogues_are_in_place():
    # `make install` compiles them; without the .mo files every page is English.
    for language in [*SHIPPED, "ar"]:
        assert (settings.BASE_DIR / "locale" / language / "LC_MESSAGES" / "django.mo").exists()


@pytest.mark.parametrize(
    "accept, lang, heading, button",
    [
        ("es-ES,es;q=0.9", "es", "Ayuda a encontrar a víctimas de trata", "Enviar fotos"),
        ("fr-FR,fr;q=0.9,en;q=0.5", "fr", "Aidez à retrouver des victimes", "Envoyer les photos"),
        ("pt-BR,pt;q=0.9", "pt", "Ajude a encontrar vítimas", "Enviar fotos"),
        ("de-DE,de;q=0.9", "en", "Help find trafficking victims", "Send photos"),
    ],
)
def test_upload_page_follows_accept_language(client, db, accept, lang, heading, button):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=accept)
    html = response.content.decode()
    assert html_tag(response) == f'<html lang="{lang}" dir="ltr">'
    assert heading in html and f">{button}</button>" in html
    # The script's words come translated too.
    config = re.search(r'id="upload-config"[^>]*>(.*?)</script>', html, re.S).group(1)
    assert button in config


def test_arabic_is_right_to_left(client, db):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="ar")
    html = response.content.decode()
    assert html_tag(response) == '<html lang="ar" dir="rtl">'
    assert "أضف صور غرفتك في الفندق" in html  # the title
    assert ">إرسال الصور</button>" in html


def test_switcher_choice_outlasts_accept_language(client, db):
    page = client.get("/?q=inn", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    switcher = re.search(r'<form class="language".*?</form>', page, re.S).group(0)
    assert 'action="/i18n/setlang/"' in switcher and 'name="next" value="/?q=inn"' in switcher
    assert '<option value="fr" lang="fr">Français</option>' in switcher
    assert '<option value="es" lang="es" selected>Español</option>' in switcher

    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/?q=inn"})
    assert response.status_code == 302 and response["Location"] == "/?q=inn"
    again = client.get("/?q=inn", HTTP_ACCEPT_LANGUAGE="es")
    assert html_tag(again) == '<html lang="fr" dir="ltr">'
    assert "Trouvez votre hôtel" in again.content.decode()


def test_form_errors_in_the_visitors_language(client, hotel):
    response = client.post("/", {"room_number": ""}, HTTP_ACCEPT_LANGUAGE="es")
    html = response.content.decode()
    assert response.status_code == 400
    assert "Elige tu hotel: búscalo por nombre o usa tu ubicación." in html
    assert "Este campo es requerido." in html  # Django's own catalogue, room number
    answer = client.post(
        "/", {"hotel": "new"}, HTTP_ACCEPT_LANGUAGE="pt", HTTP_ACCEPT="application/json"
    ).json()
    reasons = {error["field"]: error["reason"] for error in answer["errors"]}
    assert reasons["new-latitude"].startswith("Precisamos da localização do hotel")


def test_thank_you_and_receipt_pages_translated(client, hotel):
    receipt = upload(client, {"hotel": hotel.id})
    thanks = client.get(_thanks_url(client), HTTP_ACCEPT_LANGUAGE="es")
    html = thanks.content.decode()
    assert html_tag(thanks) == '<html lang="es" dir="ltr">'
    assert "¡Gracias!" in html and "Tu enlace de recibo privado" in html
    assert "habitación 7</strong> en <strong>Harbour Inn Riverside" in html
    assert "Recibida, a la espera de ser procesada" in html  # each photo's status
    page = client.get(f"/receipt/{receipt}/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Retirer ces photos" in page and "Reçue, en attente de traitement" in page
    refused = client.post(f"/receipt/{receipt}/", {}, HTTP_ACCEPT_LANGUAGE="pt")
    assert "Marque a caixa para confirmar" in refused.content.decode()


def _thanks_url(client) -> str:
    public_id = next(iter(client.session["rooms_own_submissions"]))
    return f"/thanks/{public_id}/"


@pytest.mark.parametrize(
    "status",
    [
        presenting.RECEIVED,
        presenting.PROCESSING,
        presenting.READY,
        presenting.FAILED,
        presenting.IN_REVIEW,
        presenting.REMOVED,
    ],
)
def test_every_public_status_is_translated_in_its_own_words(status):
    english = str(status.text)
    for language in SHIPPED:
        with translation.override(language):
            translated = str(status.text)
        assert translated and translated != english, language


def test_refused_uploads_in_the_visitors_language(client, hotel):
    not_image = SimpleUploadedFile("notes.jpg", b"plain text", "image/jpeg")
    data = {"hotel": hotel.id, "room_number": "7", "images": [not_image]}
    page = client.post("/", data, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "notes.jpg: no es una imagen reconocible; usa JPEG, PNG, WebP o HEIC" in page
    data["images"] = [SimpleUploadedFile("empty.jpg", b"", "image/jpeg")]
    answer = client.post("/api/submissions/", data, HTTP_ACCEPT_LANGUAGE="fr").json()
    assert answer["detail"] == "Aucune photo n'a été enregistrée : 1 fichier a été refusé."
    assert answer["errors"] == [{"file": "empty.jpg", "reason": "le fichier est vide"}]


def test_a_refusal_speaks_the_language_where_it_is_shown(settings):
    # Lazy: an investigator page (English) that reuses the intake shows it in English,
    # whatever language was active when the file was refused.
    settings.UPLOAD_MAX_BYTES = 10
    with translation.override("es"), pytest.raises(intake.FileRejected) as refused:
        intake.process_upload(SimpleUploadedFile("big.jpg", b"x" * 20))
    reason = refused.value.reason
    with translation.override("pt"):
        assert str(reason) == "o arquivo ultrapassa o limite de envio de 10 bytes"
    with translation.override("en"):
        assert str(reason) == "file is larger than the 10 byte upload limit"


def test_investigator_pages_stay_english(client, db):
    response = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="es")
    html = response.content.decode()
    assert html_tag(response) == '<html lang="en" dir="ltr">'
    assert ">Add hotel photos</a>" in html and 'class="language"' not in html
    arabic = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="ar")
    assert html_tag(arabic) == '<html lang="en" dir="ltr">'


def test_admin_stays_english(client, admin_user):
    client.force_login(admin_user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"  # the switcher's choice
    response = client.get("/admin/rooms/hotel/", HTTP_ACCEPT_LANGUAGE="es")
    html = response.content.decode()
    assert response.status_code == 200 and response["Content-Language"] == "en"
    assert '<html lang="en"' in html and "Select hotel to change" in html
    # The traveller pages still speak the visitor's language.
    assert "Trouvez votre hôtel" in client.get("/").content.decode()


def test_api_refusals_follow_accept_language(client, db):
    answer = client.get("/api/submissions/not-a-receipt/", HTTP_ACCEPT_LANGUAGE="fr")
    assert answer.status_code == 404
    assert answer.json()["detail"] == "Aucun envoi n'a ce reçu."
    assert client.get("/api/submissions/not-a-receipt/").json()["detail"] == (
        "No submission has this receipt."
    )
