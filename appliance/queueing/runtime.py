"""A worker's runtime: database, providers, courier and sweeper, living on the worker's loop.

Dramatiq runs async actors on one event-loop thread per process (its AsyncIO middleware);
connections belong to the loop that opened them, so everything here is opened on that loop
when the worker boots and closed before it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence

import dramatiq
import redis.asyncio as aioredis
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import AsyncIO, Middleware

from ..campaigns.fanout import fan_out_batch, open_lanes
from ..campaigns.recovery import watch
from ..catalog import Catalog
from ..config.schema import Priority
from ..db.engine import Database
from ..db.types import utcnow
from ..inbox.feed import Feed, MemoryFeed
from ..inbox.redis_feed import RedisFeed
from ..observability.context import bound
from ..pipeline.courier import Courier
from ..pipeline.dispatch import Dispatcher
from ..pipeline.route import Gates
from ..pipeline.sweeper import release_all, run_sweeper
from ..providers.base import Provider
from ..providers.factory import build_providers
from ..resilience.stores import breakers, embedded_stores, redis_client, scaled_stores
from ..settings import Settings
from .actors import DeliveryActors
from .broker import create_broker

log = logging.getLogger(__name__)

#: ms at most between polls of an idle queue (Dramatiq backs off up to it): a message waits about
#: half of it on average. A worker given high-priority queues only (`clarion worker -Q sms.high`)
#: polls faster: its queues are idle most of the time, and an OTP's latency is the point.
IDLE_POLL_MS = 100
HIGH_POLL_MS = 20
#: s of a campaign's fan-out in one message: long enough that polls are rare, short enough that
#: other campaigns sharing the worker take turns.
FAN_OUT_SLICE_S = 2.0


class WorkerRuntime:
    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.broker = create_broker(settings)
        delivery = catalog.config.delivery
        self.actors = DeliveryActors(
            self.broker, catalog.config.channels, self.handle, fan_out=self.fan_out, time_limit=delivery.lease
        )
        self.dispatcher = Dispatcher(self.broker, self.actors)
        self._courier: Courier | None = None
        self._database: Database | None = None
        self._providers: dict[str, Provider] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._campaign_watch: asyncio.Task[None] | None = None
        self._redis: aioredis.Redis | None = None
        # Embedded mode: the API reads these same in-memory circuits (GET /v1/providers), and
        # its inbox streams listen on the feed the inbox provider rings.
        self.circuits, self._limiter = embedded_stores()
        self.feed: Feed = MemoryFeed()

    async def start(self) -> None:
        # Each worker thread may hold a deferred claim or fan-out batch at a time.
        threads = self.catalog.config.delivery.worker_threads
        self._database = Database(self.settings.database_url, deferred_room=threads)
        if self.settings.embedded:
            await release_all(self._database, now=utcnow())
        else:
            self._redis = redis_client(self.settings)
            self.circuits, self._limiter = scaled_stores(self._redis, self.settings.redis_namespace)
            self.feed = RedisFeed(self._redis, self.settings.redis_namespace)
        self._providers = build_providers(self.catalog, self._database, self.feed)
        for provider in self._providers.values():
            await provider.start()
        rates = {name: spec.rate_limit for name, spec in self.catalog.config.providers.items()}
        gates = Gates(breakers(self.circuits, self.catalog), self._limiter, rates)
        self._courier = Courier(self._database, self.catalog, self._providers, gates, self.dispatcher)
        delivery = self.catalog.config.delivery
        self._sweeper = asyncio.create_task(
            run_sweeper(
                self._database,
                self.dispatcher,
                frozenset(channel.value for channel in self.catalog.config.channels),
                interval=delivery.sweep_interval,
                queue_lease=delivery.queue_lease,
            )
        )

        self._campaign_watch = asyncio.create_task(
            watch(
                self._database,
                self.catalog,
                self.dispatcher.fan_out,
                interval=delivery.sweep_interval,
                quiet_for=delivery.queue_lease,
            )
        )

    async def stop(self) -> None:
        for task in (self._sweeper, self._campaign_watch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for provider in self._providers.values():
            await provider.close()
        if self._database is not None:
            await self._database.dispose()
        if self._redis is not None:
            await self._redis.aclose()

    async def handle(self, delivery_ids: Sequence[str], priority: Priority) -> None:
        if self._courier is None:
            raise RuntimeError("this process does not run delivery workers (start `clarion worker`)")
        await self._courier.deliver(delivery_ids, priority)

    async def fan_out(self, campaign_id: str, lane: int | None = None) -> None:
        """A lane's batches for up to FAN_OUT_SLICE_S, then a message for the rest of it, enqueued
        at the pace of the campaign's send rate. Batches back to back in one message: a message
        per batch waited for the consumer's next poll each time (a third of G5's fan-out,
        measured). Without a lane (a launch, a resume, a recovery): a message per open lane."""
        if self._database is None:
            raise RuntimeError("this process does not run workers (start `clarion worker`)")
        campaign = uuid.UUID(campaign_id)
        if lane is None:
            for open_lane in await open_lanes(self._database, campaign):
                self.dispatcher.fan_out(campaign, lane=open_lane)
            return
        until = time.monotonic() + FAN_OUT_SLICE_S
        with bound(campaign_id=campaign_id):
            while True:
                batch = await fan_out_batch(self._database, self.catalog, campaign, lane, utcnow())
                # A refused one is re-sent once its lease lapses. In a thread: Dramatiq's enqueue is a
                # blocking round trip to Redis per message, and this event loop also runs the
                # process's other lanes, which plan and write meanwhile.
                await asyncio.to_thread(self.dispatcher.dispatch, batch.dispatches)
                if not batch.more:
                    return
                if batch.next_in or time.monotonic() >= until:  # paced, or other work's turn
                    self.dispatcher.fan_out(campaign, lane=lane, after=batch.next_in)
                    return

    def worker(self, *, queues: set[str] | None = None, threads: int | None = None) -> dramatiq.Worker:
        """A Dramatiq worker bound to this runtime; call .start() and later .stop()."""
        _fast_event_loops()
        self.broker.add_middleware(_Lifecycle(self), after=AsyncIO)
        return dramatiq.Worker(
            self.broker,
            queues=queues,
            worker_threads=threads or self.catalog.config.delivery.worker_threads,
            worker_timeout=HIGH_POLL_MS
            if queues and queues <= self.actors.high_priority_queues()
            else IDLE_POLL_MS,
        )


class _Lifecycle(Middleware):
    """Opens the runtime on Dramatiq's event loop before any consumer starts, and closes it once
    every worker thread has finished its message.

    Added after AsyncIO: `before_*` hooks run in list order, so that loop exists at boot, and
    `after_*` hooks in reverse order, so it still runs at shutdown. (`before_worker_shutdown`
    would close sessions under sends still in flight.)
    """

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        _on_loop(self.runtime.start())

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        _on_loop(self.runtime.stop())


def _on_loop(coroutine: object) -> None:
    thread = get_event_loop_thread()
    if thread is None:
        raise RuntimeError("Dramatiq's AsyncIO middleware is missing from the broker")
    thread.run_coroutine(coroutine)  # type: ignore[arg-type]


def _fast_event_loops() -> None:
    """Dramatiq's event-loop thread makes its loop through the policy: uvloop's where it is
    installed (uvicorn runs the API on it too). Every database wait registers a reader with the loop,
    which costs uvloop less than asyncio's selector loop (a high-priority send took ~9 % less of
    a worker's CPU, measured). The embedded mode's deliveries run on this loop too."""
    try:
        import uvloop
    except ImportError:  # not built for every platform; asyncio's own loop works the same
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
