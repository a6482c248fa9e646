"""What the web process holds: the catalog, its database, the dispatcher, and in embedded
mode the delivery workers running as threads beside the API."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import dramatiq
from litestar.di import NamedDependency

from ..catalog import Catalog
from ..db.engine import Database
from ..db.migrate import upgrade
from ..pipeline.dispatch import Dispatcher
from ..queueing.runtime import WorkerRuntime
from ..settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    runtime: WorkerRuntime
    database: Database = field(init=False)
    worker: dramatiq.Worker | None = None

    @property
    def dispatcher(self) -> Dispatcher:
        return self.runtime.dispatcher

    async def start(self) -> None:
        if self.settings.migrate_on_start:
            upgrade(self.settings.database_url)
        self.database = Database(self.settings.database_url)
        if self.settings.embedded:
            self.worker = self.runtime.worker()
            self.worker.start()
            log.info("embedded mode: %d delivery worker threads in this process", self.worker.worker_threads)

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        await self.database.dispose()


#: How handlers ask for the services: `services: ServicesDep`.
ServicesDep = NamedDependency[Services]
