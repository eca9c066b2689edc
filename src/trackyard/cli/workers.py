"""Several server processes on one port, each with its own listening socket.

uvicorn's own `--workers` shares one listening socket between processes: a
burst of new keep-alive connections is accepted by whichever process wakes
first, and SDK connection pools then keep all their traffic on it while the
other core idles (docs/performance.md). With `SO_REUSEPORT` each process
listens on its own socket and the kernel spreads connections over them.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("uvicorn.error")
# A worker that dies this soon after starting failed to start: stop, don't loop.
STARTUP_SECONDS = 5.0


def can_share_port() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def reuseport_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def serve_worker(options: dict[str, Any]) -> None:
    """One worker process: its own socket on the shared port, then uvicorn."""
    config = uvicorn.Config(**options)
    uvicorn.Server(config).run(sockets=[reuseport_socket(config.host, config.port)])


class Workers:
    """Starts `count` worker processes, restarts one that dies, stops all on
    SIGINT or SIGTERM (each finishes its requests: uvicorn's graceful exit)."""

    def __init__(self, options: dict[str, Any], count: int) -> None:
        self._options = options
        self._count = count
        self._context = multiprocessing.get_context("spawn")
        self._stopping = False

    def run(self) -> int:
        # Bound, never listening: a busy port fails here, and no connection
        # is ever queued on this socket.
        with reuseport_socket(self._options["host"], self._options["port"]):
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._stop)
            processes = [self._start() for _ in range(self._count)]
            try:
                return self._watch(processes)
            finally:
                self._stop_all(processes)

    def _start(self) -> tuple[BaseProcess, float]:
        process = self._context.Process(target=serve_worker, args=(self._options,))
        process.start()
        return process, time.monotonic()

    def _watch(self, processes: list[tuple[BaseProcess, float]]) -> int:
        while not self._stopping:
            for n, (process, started) in enumerate(processes):
                if process.is_alive():
                    continue
                if time.monotonic() - started < STARTUP_SECONDS:
                    log.error("worker %s exited at start (code %s)", process.pid, process.exitcode)
                    return 1
                log.warning("worker %s died (code %s); restarting", process.pid, process.exitcode)
                processes[n] = self._start()
            time.sleep(0.5)
        return 0

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _stop_all(self, processes: list[tuple[BaseProcess, float]]) -> None:
        for process, _ in processes:
            if process.is_alive():
                process.terminate()
        for process, _ in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
