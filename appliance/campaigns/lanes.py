"""A campaign's fan-out in lanes: its audience split by recipient id into equal ranges, each
planned by its own message, side by side. Pure.

One lane at a time left a worker waiting on the database for half of every batch (G5 in
docs/benchmarks.md); lanes overlap one batch's writes with another's planning, on one worker
or several. Recipient ids are random UUIDs, so equal ranges of the id space hold about equal
shares of any audience. A paced campaign keeps one lane: its rate, not the planning, is the limit.
"""

from __future__ import annotations

import uuid

#: Lanes of an unpaced campaign. More than the threads that usually fan out (G5: two workers of
#: two threads): a worker prefetches messages, so with as many lanes as threads one process held
#: a lane it had no free thread for while a thread of the other sat idle (measured: the two
#: processes at 49 % and 24 % CPU, 13,552 recipients/s; with 8 lanes, 16,721/s).
LANES = 8
#: A lane whose range is exhausted.
DONE = "done"

Lanes = dict[str, str | None]  # lane -> the last recipient id it reached (hex), None before its first
_SPACE = 1 << 128


def laid_out(paced: bool) -> Lanes:
    return {str(lane): None for lane in range(1 if paced else LANES)}


def bounds(lane: int, count: int) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The lane's ids: from the first (None: from the lowest) up to, not including, the second."""
    step = _SPACE // count
    start = uuid.UUID(int=lane * step) if lane else None
    end = uuid.UUID(int=(lane + 1) * step) if lane + 1 < count else None
    return start, end


def still_open(lanes: Lanes) -> list[int]:
    return sorted(int(lane) for lane, reached in lanes.items() if reached != DONE)


def finished(lanes: Lanes) -> bool:
    return all(reached == DONE for reached in lanes.values())
