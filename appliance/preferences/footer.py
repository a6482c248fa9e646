"""What every optional message carries: links to the preference center and to unsubscribe.

Templates may place `{{ preferences_url }}` and `{{ unsubscribe_url }}` themselves; an email
whose template does not gets a short footer with both. Emails also get the RFC 8058 headers
that let mail clients show their own one-click "Unsubscribe" button.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass, replace

from ..config.schema import ClarionConfig
from ..providers.base import EmailMessage
from .links import Links
from .wording import Wording


@dataclass(frozen=True)
class OptOutLinks:
    preferences_url: str
    unsubscribe_url: str
    unsubscribe_mailto: str | None
    category_title: str
    wording: Wording

    def context(self) -> dict[str, str]:
        return {"preferences_url": self.preferences_url, "unsubscribe_url": self.unsubscribe_url}

    def headers(self) -> dict[str, str]:
        targets = [self.unsubscribe_url, *([self.unsubscribe_mailto] if self.unsubscribe_mailto else [])]
        return {
            "List-Unsubscribe": ", ".join(f"<{target}>" for target in targets),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }


def with_links(message: EmailMessage, links: OptOutLinks) -> EmailMessage:
    """The email with the unsubscribe headers, and the footer where the template left the links out."""
    return replace(
        message,
        text=_text_footer(message.text, links),
        html=_html_footer(message.html, links),
        headers={**message.headers, **links.headers()},
    )


def _text_footer(text: str | None, links: OptOutLinks) -> str | None:
    if text is None or links.preferences_url in text:
        return text
    footer = links.wording(
        "footer_text",
        preferences_url=links.preferences_url,
        unsubscribe_url=links.unsubscribe_url,
        category=links.category_title,
    )
    return f"{text.rstrip()}\n\n--\n{footer}\n"


def _html_footer(body: str | None, links: OptOutLinks) -> str | None:
    if body is None or html.escape(links.preferences_url) in body or links.preferences_url in body:
        return body
    words = links.wording
    footer = (
        '<p style="margin-top:32px;font-size:12px;color:#64748b">'
        f'<a href="{html.escape(links.preferences_url)}">{html.escape(words("footer_preferences"))}</a>'
        " &middot; "
        f'<a href="{html.escape(links.unsubscribe_url)}">'
        f"{html.escape(words('footer_unsubscribe', category=links.category_title))}</a></p>"
    )
    closing = body.lower().rfind("</body>")
    return body + footer if closing < 0 else body[:closing] + footer + body[closing:]


def opt_out_links(
    config: ClarionConfig, links: Links, recipient_id: uuid.UUID, locale: str | None, category: str
) -> OptOutLinks | None:
    """The links for a message of `category`; None when recipients may not opt out of it."""
    rules = config.categories.get(category)
    if rules is None or not rules.opt_out:
        return None
    center = config.preference_center
    wording = Wording(center, locale, center.product_name or config.server.product_name)
    return OptOutLinks(
        preferences_url=links.preferences_url(recipient_id),
        unsubscribe_url=links.unsubscribe_url(recipient_id, category),
        unsubscribe_mailto=(
            links.unsubscribe_mailto(center.unsubscribe_mailto, recipient_id, category)
            if center.unsubscribe_mailto
            else None
        ),
        category_title=wording.category_title(category, rules),
        wording=wording,
    )
