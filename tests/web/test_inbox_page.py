"""The operator's Inbox page and the widget files: the page embeds the bell for the chosen
recipient with a token signed for them (never the secret), and the widget is public."""

from __future__ import annotations

import hashlib
import hmac
import html
import re

from tests.conftest import Stack
from tests.web.test_ui_pages import sign_in

DEMO_SECRET = b"insecure-demo-inbox-secret"  # config/example.yaml, CLARION_INBOX_SECRET unset


async def test_the_inbox_page_embeds_the_bell_for_the_chosen_recipient(stack: Stack) -> None:
    await sign_in(stack.client)
    page = await stack.client.get("/ui/inbox", params={"recipient": "user-42"})
    assert page.status_code == 200
    assert '<a href="/ui/inbox" class="nav__link" aria-current="page">Inbox</a>' in page.text
    tag = re.search(r'<script src="/widget/bell\.js"[^>]*>', page.text)
    assert tag, page.text
    expected = hmac.new(DEMO_SECRET, b"user-42", hashlib.sha256).hexdigest()
    assert f'data-token="{expected}"' in tag.group(0) and 'data-recipient="user-42"' in tag.group(0)
    assert DEMO_SECRET.decode() not in page.text
    assert '"category": "marketing"' in html.unescape(page.text)  # how to send them an in-app message


async def test_without_a_recipient_the_page_shows_how_to_embed_it(stack: Stack) -> None:
    await sign_in(stack.client)
    page = await stack.client.get("/ui/inbox")
    assert "Embed it in your app" in page.text and "data-token=" in page.text
    assert "/widget/bell.js" in page.text and 'id="bell-demo"' not in page.text


async def test_the_page_needs_an_operator_and_the_widget_does_not(stack: Stack) -> None:
    assert (await stack.client.get("/ui/inbox", follow_redirects=False)).status_code in (302, 303, 401)
    for path, kind in (("/widget/bell.js", "javascript"), ("/widget/bell.css", "text/css")):
        answer = await stack.client.get(path)
        assert answer.status_code == 200 and kind in answer.headers["content-type"], path
        assert "public" in answer.headers["cache-control"]
