"""The real-time inbox stream between real processes: over Redis with two `clarion serve`
replicas and a `clarion worker` (a message delivered through one replica reaches a stream open
on the other), and embedded in one process; a reconnect with Last-Event-ID misses nothing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import AUTH, ROOT
from tests.integration.test_inbox_api import CONFIG, token
from tests.live_server import CLARION, live_server, live_worker

pytestmark = pytest.mark.slow
WAIT_S = 10


@dataclass(frozen=True)
class Replicas:
    sender: str  # where the notification is sent
    listener: str  # where the recipient's stream is open


@pytest.fixture(params=["scaled", "embedded"])
def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Replicas]:
    if request.param == "embedded":
        with live_server(tmp_path, CONFIG) as url:
            yield Replicas(url, url)
        return
    env = {
        "CLARION_DATABASE_URL": request.getfixturevalue("pg_url"),
        "CLARION_BROKER_URL": request.getfixturevalue("redis_url"),
        "CLARION_REDIS_NAMESPACE": f"clarion-test-{uuid.uuid4().hex[:8]}",
        "CLARION_MIGRATE": "0",  # migrated once below, not by two replicas racing
    }
    upgrade = [str(CLARION), "db", "upgrade"]
    subprocess.run(upgrade, env={**os.environ, **env}, check=True, cwd=ROOT, capture_output=True)
    for name in ("a", "b", "w"):
        (tmp_path / name).mkdir()
    with ExitStack() as running:
        running.enter_context(live_worker(tmp_path / "w", CONFIG, env))
        urls = [running.enter_context(live_server(tmp_path / name, CONFIG, env)) for name in ("a", "b")]
        yield Replicas(*urls)


@dataclass(frozen=True)
class Event:
    kind: str
    id: str | None
    data: dict[str, Any]


class Stream:
    """One open EventSource-like connection, read event by event."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()

    async def next(self) -> Event:
        return await asyncio.wait_for(self._next(), WAIT_S)

    async def _next(self) -> Event:
        fields: dict[str, str] = {}
        async for line in self.lines:
            if not line:
                if "data" in fields:
                    return Event(fields.get("event", "message"), fields.get("id"), json.loads(fields["data"]))
                fields.clear()  # a comment or the `retry:` preamble
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    async def until(self, kind: str) -> Event:
        while (event := await self.next()).kind != kind:
            pass
        return event


@asynccontextmanager
async def stream(base: str, recipient: str, last_event_id: str | None = None) -> AsyncIterator[Stream]:
    signature = token(recipient)["Authorization"].removeprefix("Bearer ")
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(5, read=WAIT_S + 5)) as client,
        client.stream(
            "GET", f"{base}/v1/inbox/{recipient}/stream", params={"token": signature}, headers=headers
        ) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield Stream(response)


async def send_comment(base: str, recipient: str, n: int) -> str:
    body = {
        "to": {"id": recipient, "attributes": {"plan": "pro"}},
        "category": "activity",
        "template": "comment",
        "data": {"who": "Ada", "text": f"Comment {n}", "n": n},
    }
    async with httpx.AsyncClient(timeout=5) as client:
        sent = await client.post(f"{base}/v1/notifications", json=body, headers=AUTH)
        assert sent.status_code == 202, sent.text
        return str(sent.json()["id"])


async def delivered(base: str, notification_id: str) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(WAIT_S * 20):
            body = (await client.get(f"{base}/v1/notifications/{notification_id}", headers=AUTH)).json()
            if body["status"] == "sent":
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"not delivered: {body}")


async def test_a_message_reaches_the_stream_at_once_and_a_reconnect_replays_what_it_missed(
    replicas: Replicas,
) -> None:
    recipient = f"streamer-{uuid.uuid4().hex[:8]}"
    async with stream(replicas.listener, recipient) as live:
        assert (await live.next()).data == {"unread": 0, "unseen": 0}
        loop = asyncio.get_running_loop()
        started = loop.time()
        await send_comment(replicas.sender, recipient, 1)
        first = await live.until("message")
        assert loop.time() - started < 5
        assert (first.data["title"], first.data["body"], first.data["read"]) == (
            "Ada commented",
            "Comment 1",
            False,
        )
        assert first.id == str(first.data["id"])
        assert (await live.until("counts")).data == {"unread": 1, "unseen": 1}

    # Offline: two more arrive. EventSource reconnects with the last id it saw, here to the other replica.
    for n in (2, 3):
        await delivered(replicas.sender, await send_comment(replicas.sender, recipient, n))
    async with stream(replicas.sender, recipient, last_event_id=first.id) as resumed:
        missed = [await resumed.next(), await resumed.next()]
        assert [(e.kind, e.data["body"]) for e in missed] == [
            ("message", "Comment 2"),
            ("message", "Comment 3"),
        ]
        assert [int(e.id or 0) for e in missed] == sorted({int(e.id or 0) for e in missed})
        assert int(missed[0].id or 0) > int(first.id or 0)
        assert (await resumed.next()).data == {"unread": 3, "unseen": 3}


async def test_the_stream_refuses_a_token_for_another_recipient(replicas: Replicas) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        signature = token("someone-else")["Authorization"].removeprefix("Bearer ")
        answer = await client.get(f"{replicas.listener}/v1/inbox/me/stream", params={"token": signature})
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
