"""Writing tracking into an HTML email: every web link through the click redirect, a pixel at
the end of the body. Pure.

The HTML is parsed (the standard library's tolerant parser), not matched with patterns, and only
the `href` values of `<a>` tags change: everything else, byte for byte, stays as the template
rendered it. Within a start tag the attributes are read one after another as the parser reads
them, so text such as `title="see href=x"` is never taken for the link; of two `href`s the first
counts, as in browsers. Links that are not web links (mailto:, tel:, #anchors) and the links of the
preference center and unsubscribe pages are left alone: those must work without a detour.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from html.parser import HTMLParser

_WEB = ("http://", "https://")
# One start tag already found by the parser, read as `html.parser` reads it (its tag-name and
# attribute patterns): the tag name, then one attribute at a time, its value quoted or not.
_TAG_NAME = re.compile(r"<[a-zA-Z][^\t\n\r\f />\x00]*(?:\s|/(?!>))*")
_ATTRIBUTE = re.compile(
    r"""((?<=['"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*('[^']*'|"[^"]*"|(?!['"])[^>\s]*))?(?:\s|/(?!>))*"""
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
PIXEL = '<img src="{src}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">'


class _Anchors(HTMLParser):
    """The offset and text of every `<a href>` start tag, in document order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, int, str, str]] = []  # (line, column, raw tag, href)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # Browsers follow the first of two `href`s, so that is the link.
        href = next((value for name, value in attrs if name == "href"), None) if tag == "a" else None
        raw = self.get_starttag_text()
        if href is not None and raw is not None:
            line, column = self.getpos()
            self.found.append((line, column, raw, href))


def tracked_links(body: str, *, keep: Iterable[str] = ()) -> list[str]:
    """The web links of `body` that tracking rewrites, in order."""
    return [href for _, _, _, href in _anchors(body) if _tracked(href, tuple(keep))]


def track_html(
    body: str, click_url: Callable[[str], str] | None, pixel_url: str | None, *, keep: Iterable[str] = ()
) -> str:
    """`body` with its web links sent through `click_url` and the pixel added before `</body>`."""
    if click_url is not None:
        body = _rewrite_links(body, click_url, tuple(keep))
    if pixel_url is not None:
        body = _add_pixel(body, pixel_url)
    return body


def _anchors(body: str) -> list[tuple[int, int, str, str]]:
    parser = _Anchors()
    parser.feed(body)
    parser.close()
    return parser.found


def _tracked(href: str, keep: tuple[str, ...]) -> bool:
    url = href.strip()
    return url.lower().startswith(_WEB) and not url.startswith(keep)


def _rewrite_links(body: str, click_url: Callable[[str], str], keep: tuple[str, ...]) -> str:
    starts = _line_starts(body)
    pieces, done = [], 0
    for line, column, raw, href in _anchors(body):
        offset = starts[line - 1] + column
        if not _tracked(href, keep) or body[offset : offset + len(raw)] != raw:
            continue
        value = _href_value(raw)
        if value is None or _unquoted(raw[value[0] : value[1]]) != href:
            continue  # read differently from the parser: leave the link as it was rather than guess
        target = html.escape(click_url(href.strip()))
        pieces += [body[done:offset], raw[: value[0]], f'"{target}"', raw[value[1] :]]
        done = offset + len(raw)
    return "".join([*pieces, body[done:]])


def _href_value(raw: str) -> tuple[int, int] | None:
    """Where the value of the tag's first `href` is written in `raw` (quotes included)."""
    name = _TAG_NAME.match(raw)
    at = name.end() if name else len(raw)
    while (attribute := _ATTRIBUTE.match(raw, at)) is not None and attribute.end() > at:
        if attribute.group(1).lower() == "href":
            return attribute.span(3) if attribute.group(3) is not None else None
        at = attribute.end()
    return None


def _unquoted(written: str) -> str:
    """An attribute value as the parser hands it over: without its quotes, entities decoded."""
    if len(written) >= 2 and written[0] == written[-1] and written[0] in "\"'":
        written = written[1:-1]
    return html.unescape(written)


def _line_starts(body: str) -> list[int]:
    """Where each line starts, counted as the parser counts them: by "\\n" alone."""
    starts = [0]
    for line in body.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    return starts


def _add_pixel(body: str, pixel_url: str) -> str:
    pixel = PIXEL.format(src=html.escape(pixel_url))
    ends = list(_BODY_END.finditer(body))
    if not ends:
        return body + pixel
    at = ends[-1].start()
    return body[:at] + pixel + body[at:]
