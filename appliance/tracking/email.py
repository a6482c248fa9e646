"""What tracking a category's HTML emails get, and putting it into one delivery's HTML."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ..config.schema import CategoryConfig
from .rewrite import track_html
from .tokens import TrackingLinks

#: Clarion's own pages that recipients must reach directly, never through a redirect.
UNTRACKED_PATHS = ("/preferences/", "/unsubscribe/")


@dataclass(frozen=True)
class EmailTracking:
    links: TrackingLinks
    opens: bool
    clicks: bool

    def apply(self, delivery_id: uuid.UUID, html: str) -> str:
        keep = tuple(f"{self.links.base}{path}" for path in UNTRACKED_PATHS)
        return track_html(
            html,
            (lambda url: self.links.click_url(delivery_id, url)) if self.clicks else None,
            self.links.pixel_url(delivery_id) if self.opens else None,
            keep=keep,
        )


def email_tracking(links: TrackingLinks, category: CategoryConfig) -> EmailTracking | None:
    """The category's tracking, or None when it tracks neither opens nor clicks."""
    if not (category.tracks_opens or category.tracks_clicks):
        return None
    return EmailTracking(links, opens=category.tracks_opens, clicks=category.tracks_clicks)
