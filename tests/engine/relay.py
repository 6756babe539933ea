"""A relay in front of the real engine's socket, which the tests can start late (an engine
that is down), make drop a connection (an engine that closes a kept-alive one), or ask what
the hub sent (the create request of a container that cannot start here)."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from pathlib import Path

ENGINE_SOCKET = "/var/run/docker.sock"


class DroppingRelay:
    """Unix socket relay to the engine; ``drop_next()`` makes it close the connection the
    next request comes on, without passing that request on; ``requests_to()`` tells what
    was sent."""

    def __init__(self, path: Path):
        self.path = path
        self.dropped = 0
        self._sent: list[bytearray] = []  # what each connection sent to the engine
        self._drop = threading.Event()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def drop_next(self) -> None:
        self._drop.set()

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._server.accept()
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(ENGINE_SOCKET)
                threading.Thread(
                    target=self._requests, args=(client, upstream), daemon=True
                ).start()
                threading.Thread(target=self._copy, args=(upstream, client), daemon=True).start()

    def requests_to(self, path: str) -> list[dict]:
        """The JSON bodies of the POST requests to the engine API path ``path`` (e.g.
        "/containers/create"), in the order each connection sent them."""
        found = []
        head = re.compile(rb"POST /v[0-9.]+" + re.escape(path.encode()) + rb"[? ]")
        for sent in self._sent:
            data = bytes(sent)
            for match in head.finditer(data):
                headers_end = data.index(b"\r\n\r\n", match.start()) + 4
                length = re.search(
                    rb"(?i)content-length: *(\d+)", data[match.start() : headers_end]
                )
                body = data[headers_end : headers_end + int(length.group(1))] if length else b""
                found.append(json.loads(body or b"{}"))
        return found

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        sent = bytearray()
        self._sent.append(sent)
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self._drop.is_set():
                    self._drop.clear()
                    self.dropped += 1
                    break  # closed with the request unanswered
                sent += data
                upstream.sendall(data)
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    @staticmethod
    def _copy(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
