"""How a campaign's row is locked to change it: FOR NO KEY UPDATE, everywhere.

A fan-out batch's notifications hold FOR KEY SHARE on the campaign row through their foreign
key, and so do the other lanes' (campaigns/lanes.py). FOR UPDATE would wait for those while
they wait for it (a deadlock, seen with four lanes); FOR NO KEY UPDATE changes everything but
the id and does not conflict with them.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select

from ..db.models import Campaign


def for_change(campaign_id: uuid.UUID) -> Select[tuple[Campaign]]:
    return select(Campaign).where(Campaign.id == campaign_id).with_for_update(key_share=True)
