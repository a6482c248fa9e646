"""The preference center and one-click unsubscribe, asserted as HTML through the test client.

Every link is the one a recipient gets: taken from the footer and the List-Unsubscribe header of
an email the sandbox captured. What changed is read back from the database, consent log included.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from unittest.mock import patch
from urllib.parse import urlsplit

import pytest
from itsdangerous import TimestampSigner
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, select

from appliance.catalog import Catalog, load_catalog
from appliance.db.engine import Database
from appliance.db.models import ConsentEvent, Preference, Recipient
from appliance.preferences.links import Links
from appliance.preferences.wording import ENGLISH, FRENCH
from appliance.settings import Settings
from appliance.web.app import create_app
from appliance.web.center.theme import readable_on
from tests.conftest import AUTH, ROOT, Stack

THEMED_CONFIG = ROOT / "tests" / "configs" / "preference-center.yaml"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
OPTIONAL_CHANNELS = [  # the example config's optional categories x channels, in its order
    ("orders", "email"), ("orders", "push"), ("orders", "webhook"),
    ("reminders", "push"), ("reminders", "email"), ("reminders", "sms"),
    ("marketing", "email"), ("marketing", "push"), ("marketing", "in_app"),
]  # fmt: skip
MARKETING_OFF = {("marketing", "email"): False, ("marketing", "push"): False, ("marketing", "in_app"): False}


# ---------- helpers ----------


@dataclass(frozen=True)
class EmailLinks:
    """What the newsletter gave its recipient: paths on this server, and the header as sent."""

    preferences: str
    unsubscribe: str
    list_unsubscribe: str
    recipient_id: uuid.UUID


@dataclass(frozen=True)
class Stored:
    unsubscribed_all: bool
    choices: dict[tuple[str, str], bool]
    events: list[tuple[str, str, str, str]]  # subject, old, new, source


class Inputs(HTMLParser):
    """The checkboxes of a page (name -> ticked), and its form actions."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.boxes: dict[str, bool] = {}
        self.actions: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("type") == "checkbox":
            self.boxes[str(found["name"])] = "checked" in found
        if tag == "form":
            self.actions.append(str(found.get("action")))


def new_id() -> str:
    return f"reader-{uuid.uuid4().hex[:10]}"


def newsletter(recipient: str, locale: str | None = None) -> dict[str, Any]:
    to = {"id": recipient, "email": f"{recipient}@example.com", **({"locale": locale} if locale else {})}
    return {"to": to, "category": "marketing", "template": "newsletter", "data": {"headline": "Spring news"}}


async def send_and_settle(
    client: AsyncTestClient, body: dict[str, Any], timeout_s: float = 10
) -> dict[str, Any]:
    response = await client.post("/v1/notifications", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + timeout_s
    while True:
        found = (await client.get(f"/v1/notifications/{response.json()['id']}", headers=AUTH)).json()
        if found["status"] not in ("queued", "sending"):
            return dict(found)
        assert time.monotonic() < deadline, f"not settled in {timeout_s}s: {found}"
        await asyncio.sleep(0.05)


async def links_from_newsletter(
    client: AsyncTestClient, catalog: Catalog, locale: str | None = None
) -> EmailLinks:
    recipient = new_id()
    await send_and_settle(client, newsletter(recipient, locale))
    messages = (await client.get("/v1/sandbox/messages", params={"channel": "email"}, headers=AUTH)).json()
    email = next(m for m in messages["messages"] if m["to"] == f"{recipient}@example.com")
    header = email["payload"]["headers"]["List-Unsubscribe"]
    assert email["payload"]["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    footer = re.search(r'href="([^"]+/preferences/[^"]+)"', email["html"])
    https = re.search(r"<(https?://[^>]+)>", header)
    assert footer and https, f"no links in {email}"
    preferences = urlsplit(footer.group(1)).path
    return EmailLinks(
        preferences=preferences,
        unsubscribe=urlsplit(https.group(1)).path,
        list_unsubscribe=header,
        recipient_id=catalog.links.read_preferences(preferences.rsplit("/", 1)[1]),
    )


def database(client: AsyncTestClient) -> Database:
    return client.app.state.services.database  # type: ignore[no-any-return]


async def stored(client: AsyncTestClient, recipient_id: uuid.UUID) -> Stored:
    async with database(client).sessions() as session:
        recipient = await session.get(Recipient, recipient_id)
        assert recipient is not None
        rows = await session.scalars(select(Preference).where(Preference.recipient_id == recipient_id))
        events = await session.scalars(
            select(ConsentEvent).where(ConsentEvent.recipient_id == recipient_id).order_by(ConsentEvent.id)
        )
        return Stored(
            unsubscribed_all=recipient.unsubscribed_all,
            choices={(row.category, row.channel): row.enabled for row in rows},
            events=[(e.subject, e.old, e.new, e.source) for e in events],
        )


@contextmanager
def signed_days_ago(days: int) -> Iterator[None]:
    """Tokens made inside are dated `days` ago (itsdangerous reads the time through this method)."""
    issued = int(time.time()) - days * 86400
    with patch.object(TimestampSigner, "get_timestamp", lambda _self: issued):
        yield


def token_of(path: str) -> str:
    return path.rsplit("/", 1)[1]


def tampered(path: str) -> str:
    """The same link with the last characters of its signature changed."""
    return path[:-4] + ("AAAA" if not path.endswith("AAAA") else "BBBB")


@pytest.fixture
async def themed(tmp_path: Path) -> AsyncIterator[Stack]:
    """An embedded stack on SQLite, configured with an operator's brand and French wording."""
    settings = Settings(config_path=str(THEMED_CONFIG), database_url=f"sqlite:///{tmp_path / 'themed.db'}")
    catalog = load_catalog(THEMED_CONFIG, environ={})
    async with AsyncTestClient(app=create_app(settings, catalog), base_url="http://127.0.0.1:8000") as client:
        yield Stack(client=client, settings=settings, catalog=catalog)


# ---------- the preference page ----------


async def test_the_page_lists_every_optional_channel_as_a_toggle_and_the_rest_as_always_sent(
    stack: Stack,
) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog)

    page = await stack.client.get(links.preferences)

    assert page.status_code == 200
    assert '<html lang="en"' in page.text
    inputs = Inputs(page.text)
    assert list(inputs.boxes) == [*(f"{c}.{ch}" for c, ch in OPTIONAL_CHANNELS), "unsubscribed_all"]
    assert all(inputs.boxes[name] for name in inputs.boxes if name != "unsubscribed_all")
    assert inputs.boxes["unsubscribed_all"] is False
    assert inputs.actions == [links.preferences]
    always = page.text.split('id="always-title"')[1]
    assert "Security" in always and "One-time codes" in always and "<input" not in always
    assert '<label class="toggle" for="marketing.email">' in page.text
    assert "<script" not in page.text


async def test_the_page_keeps_its_link_private_and_runs_no_script(stack: Stack) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog)

    page = await stack.client.get(links.preferences)

    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-robots-tag"].startswith("noindex")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert "frame-ancestors 'none'" in policy
    css = await stack.client.get("/ui/static/center.css")
    assert css.status_code == 200 and "--accent" in css.text


async def test_saving_stores_and_logs_what_changed_and_leaves_defaults_as_defaults(stack: Stack) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog)
    ticked = {name: "on" for name in Inputs((await stack.client.get(links.preferences)).text).boxes}
    del ticked["unsubscribed_all"], ticked["marketing.email"], ticked["orders.webhook"]

    saved = await stack.client.post(links.preferences, data=ticked, follow_redirects=False)

    assert saved.status_code == 303
    assert saved.headers["location"] == f"{links.preferences}?saved=1"
    after = await stored(stack.client, links.recipient_id)
    turned_off = {("marketing", "email"), ("orders", "webhook")}
    # A toggle left at its default stays a default: a later change of the default still applies.
    assert after.choices == dict.fromkeys(turned_off, False)
    logged = [
        (f"{category}.{channel}", "default", "opted_out", "preference_center")
        for category, channel in turned_off
    ]
    assert sorted(after.events) == sorted(logged)
    page = await stack.client.get(saved.headers["location"])
    assert "Your preferences are saved." in page.text
    boxes = Inputs(page.text).boxes
    assert boxes["marketing.email"] is False and boxes["orders.webhook"] is False
    assert boxes["marketing.push"] is True


async def test_saving_the_same_form_again_changes_and_logs_nothing(stack: Stack) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog)
    form = {"orders.email": "on", "reminders.push": "on"}
    await stack.client.post(links.preferences, data=form, follow_redirects=False)
    first = await stored(stack.client, links.recipient_id)

    await stack.client.post(links.preferences, data=form, follow_redirects=False)

    assert await stored(stack.client, links.recipient_id) == first


async def test_unsubscribing_from_everything_optional_and_back(stack: Stack) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog)
    everything_on = {name: "on" for name in Inputs((await stack.client.get(links.preferences)).text).boxes}

    await stack.client.post(links.preferences, data=everything_on, follow_redirects=False)

    after = await stored(stack.client, links.recipient_id)
    assert after.unsubscribed_all is True
    assert ("all", "subscribed", "unsubscribed", "preference_center") in after.events
    page = await stack.client.get(links.preferences)
    assert Inputs(page.text).boxes["unsubscribed_all"] is True
    assert "You are unsubscribed from everything optional" in page.text

    del everything_on["unsubscribed_all"]
    await stack.client.post(links.preferences, data=everything_on, follow_redirects=False)
    assert (await stored(stack.client, links.recipient_id)).unsubscribed_all is False


async def test_a_french_recipient_reads_the_page_in_french_with_the_yaml_category_titles(
    stack: Stack,
) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog, locale="fr-CA")

    page = await stack.client.get(links.preferences)

    assert '<html lang="fr"' in page.text
    assert '<h1 class="center__title">Préférences de notification</h1>' in page.text
    assert '<legend class="category__title">Actualités et offres</legend>' in page.text  # from the YAML
    assert "Lettres d&#39;information et offres." in page.text
    assert "Me désabonner de tout ce qui est facultatif" in page.text
    assert "Toujours envoyés" in page.text
    assert '<span class="toggle__label">E-mail</span>' in page.text


# ---------- links that cannot be honoured ----------


async def test_a_tampered_link_shows_a_friendly_page_and_changes_nothing(stack: Stack) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog)
    before = await stored(stack.client, links.recipient_id)

    shown = await stack.client.get(tampered(links.preferences))
    posted = await stack.client.post(tampered(links.preferences), data={"unsubscribed_all": "on"})
    clicked = await stack.client.post(tampered(links.unsubscribe), data=ONE_CLICK)

    for answer in (shown, posted, clicked):
        assert answer.status_code == 400
        assert "This link does not work" in answer.text
        assert "Nothing was changed." in answer.text
        assert answer.headers["cache-control"] == "no-store"
        assert "Traceback" not in answer.text
    assert await stored(stack.client, links.recipient_id) == before


async def test_an_expired_link_is_answered_410_and_changes_nothing(stack: Stack) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog)
    with signed_days_ago(400):  # the example config keeps links for 365 days
        old_preferences = urlsplit(stack.catalog.links.preferences_url(links.recipient_id)).path
        old_unsubscribe = urlsplit(stack.catalog.links.unsubscribe_url(links.recipient_id, "marketing")).path

    shown = await stack.client.get(old_preferences)
    posted = await stack.client.post(old_preferences, data={"unsubscribed_all": "on"})
    clicked = await stack.client.post(old_unsubscribe, data=ONE_CLICK)

    for answer in (shown, posted, clicked):
        assert answer.status_code == 410
        assert "This link has expired" in answer.text
    assert await stored(stack.client, links.recipient_id) == Stored(False, {}, [])


async def test_a_link_for_a_deleted_recipient_reads_as_a_broken_link(stack: Stack) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog)
    async with database(stack.client).transaction() as session:
        await session.execute(delete(Recipient).where(Recipient.id == links.recipient_id))

    shown = await stack.client.get(links.preferences)
    confirm = await stack.client.get(links.unsubscribe)
    clicked = await stack.client.post(links.unsubscribe, data=ONE_CLICK)

    assert [a.status_code for a in (shown, confirm, clicked)] == [400, 400, 400]
    assert all("This link does not work" in a.text for a in (shown, confirm, clicked))


async def test_unsubscribing_from_a_category_no_longer_in_the_config_changes_nothing(stack: Stack) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog)
    before = await stored(stack.client, links.recipient_id)
    removed = urlsplit(stack.catalog.links.unsubscribe_url(links.recipient_id, "old-newsletter")).path
    mandatory = urlsplit(stack.catalog.links.unsubscribe_url(links.recipient_id, "security")).path

    for path in (removed, mandatory):
        for answer in (await stack.client.get(path), await stack.client.post(path, data=ONE_CLICK)):
            assert answer.status_code == 404
            assert "This unsubscribe link no longer applies" in answer.text
            assert "/preferences/" in answer.text  # the way to everything else
    assert await stored(stack.client, links.recipient_id) == before


async def test_a_mangled_query_string_gets_the_friendly_page_too(stack: Stack) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog)

    answer = await stack.client.get(f"{links.preferences}?saved=perhaps")

    assert answer.status_code == 400
    assert "This link does not work" in answer.text


# ---------- one-click unsubscribe ----------


async def test_one_click_with_the_email_header_values_unsubscribes_from_the_category(stack: Stack) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog)

    answer = await stack.client.post(links.unsubscribe, data=ONE_CLICK)

    assert answer.status_code == 200
    assert "You are unsubscribed from News and offers." in answer.text
    after = await stored(stack.client, links.recipient_id)
    assert after.choices == MARKETING_OFF
    assert after.unsubscribed_all is False
    assert {source for *_, source in after.events} == {"one_click"}
    assert len(after.events) == 3


async def test_one_click_is_idempotent(stack: Stack) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog)
    await stack.client.post(links.unsubscribe, data=ONE_CLICK)
    first = await stored(stack.client, links.recipient_id)

    again = await stack.client.post(links.unsubscribe, data=ONE_CLICK)

    assert again.status_code == 200
    assert await stored(stack.client, links.recipient_id) == first


async def test_a_forged_one_click_token_unsubscribes_no_one(stack: Stack) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog)
    forger = Links("a-secret-that-is-not-the-servers", "http://127.0.0.1:8000", timedelta(days=1))
    forged = urlsplit(forger.unsubscribe_url(links.recipient_id, "marketing")).path
    wrong_purpose = f"/unsubscribe/{token_of(links.preferences)}"  # a preferences token, reused

    for path in (forged, wrong_purpose):
        answer = await stack.client.post(path, data=ONE_CLICK)
        assert answer.status_code == 400
        assert "This link does not work" in answer.text
    assert await stored(stack.client, links.recipient_id) == Stored(False, {}, [])


async def test_opening_the_unsubscribe_link_only_asks(stack: Stack) -> None:
    links = await links_from_newsletter(stack.client, stack.catalog)

    first = await stack.client.get(links.unsubscribe)
    await stack.client.get(links.unsubscribe)  # mail scanners open links more than once

    assert first.status_code == 200
    assert "Unsubscribe from News and offers?" in first.text
    assert Inputs(first.text).actions == [links.unsubscribe]
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in first.text
    manage = re.search(r'href="([^"]+)">Manage all your preferences', first.text)
    assert manage, first.text
    assert stack.catalog.links.read_preferences(token_of(manage.group(1))) == links.recipient_id
    assert first.headers["referrer-policy"] == "no-referrer"
    assert await stored(stack.client, links.recipient_id) == Stored(False, {}, [])


# ---------- the operator's theme and wording ----------


async def test_the_page_wears_the_operators_name_logo_and_colour(themed: Stack) -> None:
    links = await links_from_newsletter(themed.client, themed.catalog)

    page = await themed.client.get(links.preferences)

    assert "<title>Notification preferences · Acme &lt;Mail&gt;</title>" in page.text
    assert (
        '<img class="center__logo" src="https://cdn.example.com/acme-logo.svg" alt="Acme &lt;Mail&gt;">'
        in page.text
    )
    assert 'style="--accent: #fde047; --on-accent: #111827;"' in page.text  # dark text on a light accent
    assert "Choose what Acme &lt;Mail&gt; sends you" in page.text
    assert "<Mail>" not in page.text


async def test_list_unsubscribe_also_offers_the_operators_mailbox(themed: Stack) -> None:
    links = await links_from_newsletter(themed.client, themed.catalog)

    https, mailto = (target.strip("<> ") for target in links.list_unsubscribe.split(","))

    assert urlsplit(https).path == links.unsubscribe
    assert mailto.startswith("mailto:unsubscribe@acme.example?subject=unsubscribe%20")


async def test_french_wording_from_the_yaml_overrides_the_built_in_one(themed: Stack) -> None:
    links = await links_from_newsletter(themed.client, themed.catalog, locale="fr")

    page = await themed.client.get(links.preferences)

    assert '<h1 class="center__title">Vos préférences Acme</h1>' in page.text
    assert '<legend class="category__title">Nouveautés</legend>' in page.text
    assert "Nos lettres et nos offres." in page.text
    assert "Weekly digest" in page.text  # no French title given: the config's own
    boxes = Inputs(page.text).boxes
    assert boxes["digest.email"] is False and boxes["marketing.email"] is True  # digest is opt-in


async def test_a_broken_link_is_explained_in_the_browsers_language(themed: Stack) -> None:
    links = await links_from_newsletter(themed.client, themed.catalog)

    answer = await themed.client.get(
        tampered(links.preferences), headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
    )

    assert answer.status_code == 400
    assert '<html lang="fr"' in answer.text
    assert "Ce lien ne fonctionne pas" in answer.text


# ---------- pure parts ----------


def test_english_and_french_have_the_same_keys() -> None:
    assert set(ENGLISH) == set(FRENCH)


@pytest.mark.parametrize(
    ("accent", "text"), [("#4f46e5", "#ffffff"), ("#fde047", "#111827"), ("#000000", "#ffffff")]
)
def test_text_on_the_accent_colour_stays_readable(accent: str, text: str) -> None:
    assert readable_on(accent) == text
