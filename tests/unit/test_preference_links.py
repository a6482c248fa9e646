"""Signed preference links, and what optional emails carry: footer and RFC 8058 headers."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest

from appliance.config.schema import PreferenceCenterConfig
from appliance.preferences.footer import OptOutLinks, with_links
from appliance.preferences.links import LinkProblem, Links
from appliance.preferences.wording import Wording
from appliance.providers.base import EmailMessage, Envelope

SECRET = "a-secret-of-sixteen-chars"
RECIPIENT = uuid.uuid4()


def links(ttl: timedelta = timedelta(days=1), secret: str = SECRET) -> Links:
    return Links(secret, "https://notify.example.com/", ttl)


def token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_a_preference_link_names_its_recipient() -> None:
    url = links().preferences_url(RECIPIENT)
    assert url.startswith("https://notify.example.com/preferences/")
    assert links().read_preferences(token(url)) == RECIPIENT


def test_an_unsubscribe_link_names_recipient_and_category() -> None:
    found = links().read_unsubscribe(token(links().unsubscribe_url(RECIPIENT, "marketing")))
    assert (found.recipient_id, found.category) == (RECIPIENT, "marketing")


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature altered
        lambda t: links(secret="another-secret-16ch").preferences_url(uuid.uuid4()).rsplit("/", 1)[1],
        lambda t: "not-a-token",
    ],
)
def test_a_forged_or_altered_preference_link_is_refused(forge) -> None:
    with pytest.raises(LinkProblem) as problem:
        links().read_preferences(forge(token(links().preferences_url(RECIPIENT))))
    assert not problem.value.expired


def test_a_link_made_for_one_purpose_does_not_serve_another() -> None:
    unsubscribe = token(links().unsubscribe_url(RECIPIENT, "marketing"))
    with pytest.raises(LinkProblem):
        links().read_preferences(unsubscribe)
    with pytest.raises(LinkProblem):
        links().read_unsubscribe(token(links().preferences_url(RECIPIENT)))


def test_an_old_link_expires() -> None:
    url = links().preferences_url(RECIPIENT)
    time.sleep(1.1)  # itsdangerous timestamps have one-second resolution
    with pytest.raises(LinkProblem) as problem:
        links(ttl=timedelta(seconds=0)).read_preferences(token(url))
    assert problem.value.expired


def optional(mailto: str | None = None, locale: str | None = None) -> OptOutLinks:
    made = links()
    return OptOutLinks(
        preferences_url=made.preferences_url(RECIPIENT),
        unsubscribe_url=made.unsubscribe_url(RECIPIENT, "marketing"),
        unsubscribe_mailto=made.unsubscribe_mailto(mailto, RECIPIENT, "marketing") if mailto else None,
        category_title="News",
        wording=Wording(PreferenceCenterConfig(), locale, "Acme"),
    )


def email(text: str | None = "Hello.", html: str | None = None) -> EmailMessage:
    return EmailMessage(Envelope("d", "n", "r", "marketing", "news"), "a@example.com", "Hi", text, html)


def test_an_optional_email_gets_one_click_headers_with_https_and_mailto() -> None:
    extra = optional(mailto="unsubscribe@example.com")
    headers = with_links(email(), extra).headers
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = headers["List-Unsubscribe"].split(", ")
    assert https == f"<{extra.unsubscribe_url}>"
    assert mailto.startswith("<mailto:unsubscribe@example.com?subject=unsubscribe%20")


def test_the_footer_is_added_once_and_only_where_the_template_left_the_links_out() -> None:
    extra = optional()
    sent = with_links(email(html="<html><body><p>Hello</p></body></html>"), extra)
    assert sent.text is not None and extra.preferences_url in sent.text and extra.unsubscribe_url in sent.text
    assert sent.html is not None and sent.html.index("preferences/") < sent.html.index("</body>")
    placed = email(text=f"Manage: {extra.preferences_url}")
    assert with_links(placed, extra).text == placed.text


def test_the_footer_speaks_the_recipients_language() -> None:
    sent = with_links(email(), optional(locale="fr-CA"))
    assert sent.text is not None and "Vous désabonner de « News »" in sent.text
