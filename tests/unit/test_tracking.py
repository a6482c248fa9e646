"""Tracking written into HTML: links rewritten and nothing else touched; tokens that cannot be
forged or moved; machine-made opens and clicks told from people's."""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.tracking.automation import automated
from appliance.tracking.rewrite import track_html, tracked_links
from appliance.tracking.tokens import TamperedToken, TrackingLinks

LINKS = TrackingLinks("a-secret-of-the-server", "https://clarion.example.com")
DELIVERY = uuid.UUID("00000000-0000-4000-8000-000000000001")


def click(url: str) -> str:
    return LINKS.click_url(DELIVERY, url)


def test_web_links_go_through_the_redirect_and_the_pixel_closes_the_body() -> None:
    body = (
        '<html><body><p>Hi <a class="x" href="https://shop.example.com/sale?a=1&amp;b=2">sale</a>,'
        ' <a href="mailto:help@example.com">mail</a>, <a href="#top">top</a>'
        " <a href='http://example.com/old'>old</a>\n<a\n  href=https://example.com/bare>bare</a></p></body></html>"
    )
    tracked = track_html(body, click, LINKS.pixel_url(DELIVERY))

    hrefs = re.findall(r"""href=["']?([^"' >]+)""", tracked)
    assert hrefs[1:3] == ["mailto:help@example.com", "#top"]
    targets = [
        LINKS.read_click(html.unescape(h).rsplit("/", 1)[1]).url for h in (hrefs[0], hrefs[3], hrefs[4])
    ]
    assert targets == [
        "https://shop.example.com/sale?a=1&b=2",
        "http://example.com/old",
        "https://example.com/bare",
    ]
    assert '<a class="x" href="https://clarion.example.com/t/c/' in tracked
    assert tracked.endswith('style="display:block;border:0;width:1px;height:1px"></body></html>')
    assert LINKS.read_open(tracked.split("/t/o/")[1].split('"')[0]) == DELIVERY


def test_the_preference_and_unsubscribe_links_stay_direct() -> None:
    keep = ("https://clarion.example.com/preferences/", "https://clarion.example.com/unsubscribe/")
    body = '<a href="https://clarion.example.com/unsubscribe/abc">stop</a><a href="https://x.example/">x</a>'
    assert tracked_links(body, keep=keep) == ["https://x.example/"]
    assert 'href="https://clarion.example.com/unsubscribe/abc"' in track_html(body, click, None, keep=keep)


def test_html_without_a_body_tag_gets_the_pixel_at_the_end() -> None:
    assert track_html("<p>hi</p>", None, "https://p/x.gif").startswith('<p>hi</p><img src="https://p/x.gif"')


texts = st.text(
    alphabet=st.characters(blacklist_characters="<>&\"'", blacklist_categories=("Cs",)), max_size=30
)
urls = st.builds(
    lambda path: f"https://example.com/{path}", st.from_regex(r"[a-z0-9/?=._-]{0,20}", fullmatch=True)
)


@given(st.lists(st.tuples(texts, urls), max_size=6), texts)
def test_only_the_hrefs_change_and_each_leads_back_to_its_link(
    parts: list[tuple[str, str]], tail: str
) -> None:
    body = "".join(f'{text}<a href="{url}">{text}</a>' for text, url in parts) + tail
    tracked = track_html(body, click, None)
    tokens = re.findall(r'href="https://clarion\.example\.com/t/c/([^"]+)"', tracked)
    assert [LINKS.read_click(token).url for token in tokens] == [url for _, url in parts]
    assert re.sub(r'href="[^"]*"', 'href=""', tracked) == re.sub(r'href="[^"]*"', 'href=""', body)


def test_href_written_inside_another_attribute_is_not_the_link() -> None:
    body = (
        """<a title=' href=x' data-x="a href=https://evil.example/" href=https://example.com/a>a</a>"""
        '<a href="https://example.com/first" href="https://example.com/second">b</a>'
        '<a/href="https://example.com/slash">c</a>'
    )
    tracked = track_html(body, lambda url: f"T({url})", None)
    assert tracked == (
        """<a title=' href=x' data-x="a href=https://evil.example/" href="T(https://example.com/a)">a</a>"""
        '<a href="T(https://example.com/first)" href="https://example.com/second">b</a>'
        '<a/href="T(https://example.com/slash)">c</a>'
    )
    assert tracked_links(body) == [
        "https://example.com/a",
        "https://example.com/first",  # of two hrefs browsers follow the first
        "https://example.com/slash",
    ]


# Attribute values that look like links or hrefs themselves, written in every quoting.
decoys = st.sampled_from(
    ["", "x", " href=x", "href=https://evil.example/", "a > b", "https://decoy.example/"]
)
other_attributes = st.lists(
    st.tuples(st.sampled_from(["title", "class", "data-href", "alt"]), decoys, st.sampled_from(['"', "'"])),
    max_size=2,
)


@st.composite
def anchors(draw: st.DrawFn) -> tuple[str, str, str]:
    """(the tag as a template might write it, its URL, the tag as tracking must write it)."""
    url = draw(urls)
    name = draw(st.sampled_from(["href", "HREF", "Href"]))
    equals = draw(st.sampled_from(["=", " = ", "=\n"]))
    quote = draw(st.sampled_from(['"', "'", ""]))
    before, after = ("".join(f" {n}={q}{v}{q}" for n, v, q in draw(other_attributes)) for _ in range(2))
    written = f"<a{before} {name}{equals}{quote}{url}{quote}{after}>"
    tracked = f'<a{before} {name}{equals}"{html.escape(click(url))}"{after}>'
    return written, url, tracked


@given(st.lists(st.tuples(texts, anchors()), max_size=5), texts)
def test_every_web_link_is_rewritten_whatever_its_attributes_and_nothing_else_changes(
    parts: list[tuple[str, tuple[str, str, str]]], tail: str
) -> None:
    body = "".join(f"{text}{tag}{text}</a>" for text, (tag, _, _) in parts) + tail
    expected = "".join(f"{text}{tracked}{text}</a>" for text, (_, _, tracked) in parts) + tail
    assert track_html(body, click, None) == expected
    assert tracked_links(body) == [url for _, (_, url, _) in parts]


def test_a_changed_or_foreign_token_is_refused() -> None:
    token = click("https://example.com/a").rsplit("/", 1)[1]
    payload, signature = token.rsplit(".", 1)
    for bad in (payload + "x." + signature, payload[:-2] + "." + signature, "garbage"):
        with pytest.raises(TamperedToken):
            LINKS.read_click(bad)
    other_server = TrackingLinks("another-secret", "https://clarion.example.com")
    with pytest.raises(TamperedToken):
        other_server.read_click(token)
    with pytest.raises(TamperedToken):  # an open token is no click token, and the other way round
        LINKS.read_click(LINKS.pixel_url(DELIVERY).rsplit("/", 1)[1])


@pytest.mark.parametrize(
    ("agent", "method", "since", "expected"),
    [
        ("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Safari/605.1.15", "GET", 120, None),
        (
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
            "GET",
            60,
            "mail proxy",
        ),
        ("Mozilla/5.0", "GET", 60, "mail proxy"),  # Apple Mail Privacy Protection
        ("Mozilla/5.0 (compatible; Barracuda Sentinel)", "GET", 60, "link scanner"),
        ("Mozilla/5.0 (compatible; Cisco IronPort URL scanner)", "GET", 60, "link scanner"),
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", "GET", 60, "bot"),
        ("python-requests/2.32", "GET", 60, "script"),
        ("Mozilla/5.0 Safari/605.1.15", "HEAD", 60, "HEAD request (a link check)"),
        ("", "GET", 60, "no user agent"),
        ("Mozilla/5.0 Safari/605.1.15", "GET", 0.5, "within 2s of sending (a prefetch)"),
    ],
)
def test_machines_are_told_from_people(agent: str, method: str, since: float, expected: str | None) -> None:
    assert automated(agent, method=method, since_sent=timedelta(seconds=since)) == expected
