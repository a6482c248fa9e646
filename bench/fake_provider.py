"""A fast local fake HTTP provider: answers every webhook POST 200 after `--delay-ms`.

    python -m bench.fake_provider --port 9100 --delay-ms 20

It counts what it receives and keeps, for each probe (G4), when it arrived (wall clock), so a
scenario can ask `GET /stats` how many came and `GET /arrivals` when (accept -> provider latency).
It runs in its own process so its CPU is not charged to the process measuring.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aiohttp import web

DELIVERY_HEADER = "X-Clarion-Delivery"


class FakeProvider:
    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.received = 0
        self.arrivals: dict[str, float] = {}  # notification id -> time.time() of its first arrival

    async def hook(self, request: web.Request) -> web.Response:
        arrived = time.time()
        body = await request.read()  # a real provider reads the body; so does this one
        delivery = request.headers.get(DELIVERY_HEADER)
        if b'"probe"' in body:  # G4's high-priority probes: when each one got here
            self.arrivals.setdefault(json.loads(body)["notification_id"], arrived)
        self.received += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return web.json_response({"id": delivery or "raw"})

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response({"received": self.received, "probes": len(self.arrivals)})

    async def arrivals_of(self, request: web.Request) -> web.Response:
        return web.json_response(self.arrivals)

    async def reset(self, request: web.Request) -> web.Response:
        self.received, self.arrivals = 0, {}
        return web.json_response({})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        app.router.add_get("/stats", self.stats)
        app.router.add_get("/arrivals", self.arrivals_of)
        app.router.add_post("/reset", self.reset)
        return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()  # the fake must not be the bottleneck
    except ImportError:
        pass
    web.run_app(
        FakeProvider(args.delay_ms / 1000).app(),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
