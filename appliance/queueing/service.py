"""`clarion worker`: delivery workers until SIGTERM or SIGINT, and a config reload on SIGHUP.

A reload reads the file first and changes nothing if it has problems. When it is valid, the
running workers stop as they would for SIGTERM — each finishing the message it holds — and new
ones start with the new catalog. Messages wait in Redis meanwhile; deliveries are leased in
the database, so none is lost or sent twice by the switch.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

import dramatiq

from .. import heap
from ..catalog import Catalog, reread
from ..settings import Settings
from .runtime import WorkerRuntime

log = logging.getLogger(__name__)

#: Starts workers for a catalog; the caller stops them.
StartWorkers = Callable[[Catalog], dramatiq.Worker]


def serve_workers(settings: Settings, catalog: Catalog, start: StartWorkers) -> None:
    stop, reload, wake = threading.Event(), threading.Event(), threading.Event()

    def on(flag: threading.Event) -> Callable[..., None]:
        return lambda *_: (flag.set(), wake.set())

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on(stop))
    signal.signal(signal.SIGHUP, on(reload))
    running = start(catalog)
    while not stop.is_set():
        wake.wait()
        wake.clear()
        if reload.is_set() and not stop.is_set():
            reload.clear()
            fresh = reread(catalog)
            if fresh is not None:
                running.stop()
                catalog, running = fresh, start(fresh)
                log.info("configuration reloaded from %s", fresh.loaded.path)
    running.stop()


def delivery_workers(settings: Settings, queues: set[str] | None, threads: int | None) -> StartWorkers:
    """Start workers on `queues` (all when None) for each catalog they are given."""

    def start(catalog: Catalog) -> dramatiq.Worker:
        worker = WorkerRuntime(settings, catalog).worker(queues=queues, threads=threads)
        # Before the threads take messages: a batch in flight would be frozen with the rest.
        heap.freeze_what_is_built()
        heap.collect_young_less_often()
        worker.start()
        return worker

    return start
