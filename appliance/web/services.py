"""What the web process holds: the catalog, its database, the dispatcher, the scheduler (it
runs jobs only in the replica that leads), and in embedded mode the delivery workers running
as threads beside the API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import dramatiq
import redis.asyncio as aioredis
from litestar.di import NamedDependency

from ..catalog import Catalog
from ..db.engine import Database
from ..inbox.feed import Feed
from ..inbox.redis_feed import RedisFeed
from ..pipeline.dispatch import Dispatcher
from ..pipeline.group_commit import GroupCommit
from ..queueing.runtime import WorkerRuntime
from ..resilience.circuit import CircuitStore
from ..resilience.redis_circuits import RedisCircuitStore
from ..resilience.stores import redis_client, sign_in_limiter
from ..scheduling.context import JobContext
from ..scheduling.scheduler import Scheduler
from ..security.login_throttle import LoginThrottle
from ..settings import Settings

log = logging.getLogger(__name__)


#: Switches the process to a new, valid catalog (see web/serving.py).
Reload = Callable[[Catalog], None]


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    runtime: WorkerRuntime
    reload: Reload | None = None
    database: Database = field(init=False)
    committer: GroupCommit = field(init=False)  # what the API's sends go through
    circuits: CircuitStore = field(init=False)
    scheduler: Scheduler = field(init=False)
    sign_ins: LoginThrottle = field(init=False)
    feed: Feed = field(init=False)  # wakes the inbox streams this replica serves
    worker: dramatiq.Worker | None = None
    _redis: aioredis.Redis | None = None

    @property
    def dispatcher(self) -> Dispatcher:
        return self.runtime.dispatcher

    async def start(self) -> None:
        if self.settings.migrate_on_start:
            # Imported here: Alembic (11 MB) stays out of a replica started with --no-migrate.
            from ..db.migrate import upgrade

            upgrade(self.settings.database_url)
        self.database = Database(self.settings.database_url)
        self.committer = GroupCommit(self.database, self.dispatcher, self.catalog)
        if self.settings.embedded:
            self.circuits = self.runtime.circuits
            self.feed = self.runtime.feed
            self.worker = self.runtime.worker()
            self.worker.start()
            log.info("embedded mode: %d delivery worker threads in this process", self.worker.worker_threads)
        else:
            self._redis = redis_client(self.settings)
            self.circuits = RedisCircuitStore(self._redis, f"{self.settings.redis_namespace}:circuit")
            self.feed = RedisFeed(self._redis, self.settings.redis_namespace)
        limiter = sign_in_limiter(self._redis, self.settings.redis_namespace)
        self.sign_ins = LoginThrottle(limiter, self.catalog.config.server.sign_in)
        await self.feed.start()
        self.scheduler = Scheduler(self.settings.database_url)
        await self.scheduler.start(JobContext(self.database, self.dispatcher, self.catalog))

    async def stop(self) -> None:
        await self.scheduler.stop()  # first: its running jobs still use the database and workers
        await self.feed.stop()
        if self.worker is not None:
            # In a thread: its threads' last records may wait on a write turn handed on by this loop.
            await asyncio.to_thread(self.worker.stop)
        await self.database.dispose()
        if self._redis is not None:
            await self._redis.aclose()


#: How handlers ask for the services: `services: ServicesDep`.
ServicesDep = NamedDependency[Services]
