"""uvicorn's server, telling systemd when the pages are listening and when they stop.

``uvicorn.run`` runs the application's lifespan before it binds the socket, so READY=1 cannot
be sent from the application: it is sent here, once ``startup`` has bound and is listening
(``Type=notify``: a unit that depends on the pages starts only when they answer).
"""

from __future__ import annotations

import socket

import uvicorn

from escalation_flow.notify import READY, STOPPING, notify, status


class NotifyingServer(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            notify(READY)
            status(f"serving the staff pages on {self.config.host}:{self.config.port}")

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        notify(STOPPING)
        await super().shutdown(sockets=sockets)


def serve(config: uvicorn.Config) -> None:
    """``uvicorn.run`` with the readiness notifications."""
    NotifyingServer(config).run()
