"""The moderation queue's keyboard shortcuts, in headless Chromium (Debian's
/usr/bin/chromium, never a downloaded browser; skipped when absent, except under CI)."""

import os

import pytest
from django.contrib.auth.models import Group, Permission

from accounts.testing import browser_login
from investigations.permissions import MODERATORS_GROUP
from rooms.models import Hotel, RoomImage, Submission
from rooms.tests.test_admin import make_image
from testsupport.browser import launch_chromium

PASSWORD = "correct-horse-battery-staple"

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def chromium(monkeypatch):
    with launch_chromium(monkeypatch) as browser:
        yield browser


@pytest.fixture
def moderator(django_user_model):
    # get_or_create: a live-server test's flushed database may have lost migration rows.
    group, _ = Group.objects.get_or_create(name=MODERATORS_GROUP)
    group.permissions.add(*Permission.objects.filter(content_type__app_label="rooms"))
    user = django_user_model.objects.create_user("mona", password=PASSWORD, is_staff=True)
    user.groups.add(group)
    return user


def change_path(image):
    return f"/admin/rooms/roomimage/{image.pk}/change/"


def test_a_moderator_works_through_the_queue_with_the_keyboard(
    chromium, live_server, moderator, hotel, image_bytes
):
    submission = Submission.objects.create(hotel=hotel, room_number="204", receipt_digest="k")
    face, explicit, other = (
        make_image(submission, 1, image_bytes, flagged_reason="face detected"),
        make_image(submission, 2, image_bytes, flagged_reason="explicit: X", quarantined=True),
        make_image(submission, 3, image_bytes, flagged_reason="face detected"),
    )
    page = chromium.new_page()
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    base = live_server.url
    browser_login(page, base, "mona", PASSWORD, next_url=change_path(face))

    if os.environ.get("TC_SCREENSHOT_DIR"):
        page.screenshot(path=f"{os.environ['TC_SCREENSHOT_DIR']}/photo.png", full_page=True)
    assert page.is_visible("text=a approve, h hide")
    assert page.eval_on_selector(".moderation-photo", "img => img.naturalWidth") > 0
    page.keyboard.press("j")
    page.wait_for_url(base + change_path(explicit))
    page.keyboard.press("k")
    page.wait_for_url(base + change_path(face))

    page.keyboard.press("a")  # approved, and on to the next photo waiting
    page.wait_for_url(base + change_path(explicit))
    face.refresh_from_db()
    assert face.reviewed_by == moderator and face.is_public
    page.keyboard.press("a")  # no Approve button for explicit content: nothing happens
    page.keyboard.press("h")
    page.wait_for_url(base + change_path(other))
    assert RoomImage.objects.get(pk=explicit.pk).status == RoomImage.Status.HIDDEN

    page.keyboard.press("q")
    page.wait_for_url(base + "/admin/rooms/roomimage/?moderation=review")
    assert page.locator("#result_list tbody tr").count() == 1
    page.click("#result_list button.moderation-approve")  # the row's own button
    page.wait_for_selector("text=Approved photo #")
    assert page.url == base + "/admin/rooms/roomimage/?moderation=review"  # back to the list
    assert page.locator("#result_list").count() == 0  # nothing left waiting
    assert RoomImage.objects.get(pk=other.pk).reviewed_by == moderator
    page.goto(base + "/admin/")
    assert page.inner_text("#photos-waiting") == "0 photos to review"
    if os.environ.get("TC_SCREENSHOT_DIR"):
        page.screenshot(path=f"{os.environ['TC_SCREENSHOT_DIR']}/home.png")
    if os.environ.get("TC_SCREENSHOT_DIR"):
        page.screenshot(path=f"{os.environ['TC_SCREENSHOT_DIR']}/queue.png", full_page=True)
    assert not refused


def test_a_moderator_merges_a_proposal_choosing_the_hotel_by_typing(
    chromium, live_server, moderator, hotel
):
    from rooms.proposals import propose_hotel

    proposal = propose_hotel(
        name="Riverside Annex", city="Portland", country_code="US", latitude=45.5, longitude=-122.6
    )
    page = chromium.new_page()
    refused = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    base = live_server.url
    browser_login(page, base, "mona", PASSWORD, next_url="/admin/rooms/hotel/")
    page.check(f"input[name=_selected_action][value='{proposal.pk}']")
    page.select_option("select[name=action]", "merge_proposals")
    page.click("button[name=index]")
    page.click(".select2-selection")  # the autocomplete field
    page.fill(".select2-search__field", "Harb")
    page.click(".select2-results__option:has-text('Harbour Inn Riverside')")
    page.click("input[type=submit][value=Merge]")
    page.wait_for_selector("text=merged into Harbour Inn Riverside")
    assert not Hotel.objects.filter(pk=proposal.pk).exists()
    assert not refused
