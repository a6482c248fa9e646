"""From a link's token to what it may act on: a recipient, and for unsubscribe an optional category.

Every refusal is a LinkProblem or a CategoryGone; `errors.py` turns them into pages. A recipient
deleted since the link was sent is refused like a broken link, so the pages never tell whether
someone is a recipient.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from ...config.schema import CategoryConfig, ClarionConfig
from ...db.models import Recipient
from ...preferences.links import LinkProblem


class CategoryGone(Exception):
    """The category an unsubscribe link names was removed, or may no longer be turned off."""

    def __init__(self, recipient_id: uuid.UUID, category: str) -> None:
        self.recipient_id = recipient_id
        self.category = category
        super().__init__(f"category {category!r} cannot be unsubscribed from")


async def recipient_for(session: AsyncSession, recipient_id: uuid.UUID) -> Recipient:
    recipient = await session.get(Recipient, recipient_id)
    if recipient is None:
        raise LinkProblem(expired=False)
    return recipient


def optional_category(config: ClarionConfig, recipient_id: uuid.UUID, category: str) -> CategoryConfig:
    """The rules of a category the recipient may unsubscribe from, as the config says today."""
    rules = config.categories.get(category)
    if rules is None or not rules.opt_out:
        raise CategoryGone(recipient_id, category)
    return rules
