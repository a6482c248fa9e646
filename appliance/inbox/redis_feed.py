"""Scaled mode: a ring is published on Redis, and every `clarion serve` replica, subscribed,
wakes its own listeners. Workers only publish; `start` is for the replicas that serve streams."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis

from .feed import Feed

log = logging.getLogger(__name__)

#: How long a replica waits before subscribing again after Redis dropped the connection.
RESUBSCRIBE_AFTER_S = 1.0


class RedisFeed(Feed):
    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        super().__init__()
        self.client = client
        self.channel = f"{namespace}:inbox"
        self._listener: asyncio.Task[None] | None = None

    async def ring(self, recipient_id: str) -> None:
        await self.client.publish(self.channel, recipient_id)

    async def start(self) -> None:
        """Subscribe before returning, so no ring published after start-up is missed."""
        pubsub = await self._subscribe()
        self._listener = asyncio.create_task(self._listen(pubsub))

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def _subscribe(self) -> aioredis.client.PubSub:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.channel)
        return pubsub

    async def _listen(self, pubsub: aioredis.client.PubSub) -> None:
        while True:
            try:
                async for message in pubsub.listen():
                    self.doorbells.ring(message["data"].decode())
            except (aioredis.RedisError, OSError) as exc:
                log.warning("inbox feed: lost the Redis subscription (%s); subscribing again", exc)
            finally:
                await pubsub.aclose()
            pubsub = await self._resubscribe()
            self.doorbells.ring_all()  # whatever was rung while we were away

    async def _resubscribe(self) -> aioredis.client.PubSub:
        while True:
            await asyncio.sleep(RESUBSCRIBE_AFTER_S)
            try:
                return await self._subscribe()
            except (aioredis.RedisError, OSError) as exc:
                log.warning("inbox feed: Redis is still unreachable (%s)", exc)
