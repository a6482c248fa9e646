"""Applying what a recipient asked for, through the consent ledger.

Mail providers may POST the same one-click link twice at once. On PostgreSQL both requests can
then try to insert the same preference row; the loser is retried once, finds the row written,
and changes nothing. (SQLite serialises writers, so it never gets there.)
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from ...db.engine import Database
from ...db.models import Recipient
from ...db.types import utcnow
from ...preferences import ledger
from ...preferences.ledger import PreferenceChange
from .access import recipient_for


async def apply_change(
    database: Database, recipient_id: uuid.UUID, wanted: PreferenceChange, *, source: str
) -> Recipient:
    try:
        return await _apply(database, recipient_id, wanted, source)
    except IntegrityError:
        return await _apply(database, recipient_id, wanted, source)


async def _apply(
    database: Database, recipient_id: uuid.UUID, wanted: PreferenceChange, source: str
) -> Recipient:
    async with database.transaction() as session:
        recipient = await recipient_for(session, recipient_id)
        await ledger.change(session, recipient, wanted, source=source, now=utcnow())
    return recipient
