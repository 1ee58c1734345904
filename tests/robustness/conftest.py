"""Fixtures of the robustness suite; registers the ``ci`` Hypothesis profile (see profiles.py)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from tests.robustness import profiles

profiles.register()


class Listener:
    """A TCP listener on 127.0.0.1 that counts connection attempts (nothing may ever connect)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture(scope="session")
def listener() -> Iterator[Listener]:
    """A local 'DTD server' the payloads point at; tests assert it was never contacted."""
    server = Listener()
    yield server
    server.close()
