"""Submit: the whole front half of the pipeline for a list of requests.

intake (each on its own) -> store (one transaction for all, shared with whatever else arrived
meanwhile: group_commit.py) -> dispatch (after commit). Used by the single and batch API alike,
so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from msgspec.structs import replace

from ..catalog import Catalog
from ..errors import RequestRejected
from .group_commit import GroupCommit
from .intake import Accepted, accept
from .requests import NotificationIn
from .store import Stored


@dataclass(frozen=True)
class Submission:
    request: NotificationIn
    idempotency_key: str | None = None
    variant: str | None = None  # render this A/B variant (a test send); otherwise the template as written


async def submit(
    submissions: Sequence[Submission | RequestRejected],
    *,
    catalog: Catalog,
    committer: GroupCommit,
    caller: str,
    source: str | None = None,
) -> list[Stored | RequestRejected]:
    """Answer every submission in order; already-rejected items pass through untouched.

    `source` is what the notification records as its sender: `api:<caller>` unless given.
    """
    results: list[Stored | RequestRejected | None] = []
    accepted: list[Accepted] = []
    for item in submissions:
        if isinstance(item, RequestRejected):
            results.append(item)
            continue
        try:
            request = accept(item.request, catalog, caller=caller, idempotency_key=item.idempotency_key)
            accepted.append(replace(request, variant=item.variant) if item.variant else request)
            results.append(None)
        except RequestRejected as exc:
            results.append(exc)
    stored = iter(await committer.store(accepted, source or f"api:{caller}") if accepted else [])
    return [result if result is not None else next(stored) for result in results]
