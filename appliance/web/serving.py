"""`clarion serve`: uvicorn on a listening socket that outlives each app, so the config can be
reloaded in place.

A reload (from the configuration page, or SIGHUP) lets the running app shut down as it would
for SIGTERM — requests in flight answered, embedded workers finishing their deliveries — and
starts a new one on the same socket with the new catalog. Connections that arrive meanwhile
wait in the socket's backlog instead of being refused. Everything accepted is in the database,
so nothing is lost across the switch.
"""

from __future__ import annotations

import logging
import signal
import socket
from dataclasses import dataclass, field

import uvicorn
from litestar import Litestar

from .. import heap
from ..catalog import Catalog, reread
from ..settings import Settings
from .app import create_app

log = logging.getLogger(__name__)

#: How long a stopping app lets open requests finish before it closes them.
STREAMS_CUT_AFTER_S = 5


def server_config(app: Litestar, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,  # uvicorn's lines go through our handler, in the chosen format
        # Inbox streams never end by themselves: cut them at shutdown (EventSource reconnects),
        # or a reload would wait on them forever.
        timeout_graceful_shutdown=STREAMS_CUT_AFTER_S,
        # No route is a WebSocket (the inbox streams are server-sent events): without this,
        # uvicorn imports the websockets package to offer the upgrade (~1 MB resident, G6).
        ws="none",
    )


@dataclass
class ReloadableServer:
    settings: Settings
    catalog: Catalog
    host: str
    port: int
    _next: Catalog | None = None
    _server: uvicorn.Server | None = field(default=None, repr=False)

    def run(self) -> None:
        listening = socket.create_server((self.host, self.port), backlog=2048)
        signal.signal(signal.SIGHUP, lambda *_: self.reload_from_disk())
        while True:
            self._next = None
            app = create_app(self.settings, self.catalog, reload=self.reload)
            self._server = uvicorn.Server(server_config(app, self.settings))
            heap.freeze_what_is_built()
            # A copy per app: uvicorn closes the one it was given when that app stops.
            self._server.run(sockets=[listening.dup()])
            if self._next is None:  # stopped for good (SIGTERM, SIGINT)
                break
            self.catalog = self._next
            log.info("configuration reloaded from %s", self.catalog.loaded.path)
        listening.close()

    def reload(self, catalog: Catalog) -> None:
        """Switch to `catalog` (already loaded and valid) once the running app has stopped."""
        self._next = catalog
        if self._server is not None:
            self._server.should_exit = True

    def reload_from_disk(self) -> None:
        fresh = reread(self.catalog)
        if fresh is not None:
            self.reload(fresh)
