"""Is a server answering HTTP (or, with internal SSL, TLS) yet?

A TCP connect is not enough: Docker's userland proxy accepts connections on a published
port before anything listens in the container. One HTTP request that gets any HTTP status
line back is proof that the server itself is up (JupyterHub then does its own check).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator

#: How often the hub asks a starting server whether it answers: every FASTEST seconds
#: while few start, less often as more wait, so that all the asking together stays near
#: ASKS_PER_SECOND up to 8 waiting; beyond, each is still asked every SLOWEST seconds (250
#: asks a second for 50), so that no server waits more than 0.2 s to be seen. A lone start
#: is seen within 0.05 s of its server listening (a user's usual wait); an ask costs the
#: hub 0.1-0.3 ms of CPU (25 asks per spawn in benchmark S2's storm of 50, profiled).
FASTEST = 0.05
SLOWEST = 0.2
ASKS_PER_SECOND = 40

_asking = 0  # starts of this hub now waiting for their server to answer


@contextlib.contextmanager
def waiting_for_an_answer() -> Iterator[None]:
    global _asking
    _asking += 1
    try:
        yield
    finally:
        _asking -= 1


def ask_interval(waiting: int | None = None) -> float:
    """Seconds between two asks of one starting server, with ``waiting`` starts asking
    (default: as many as wait now)."""
    waiting = _asking if waiting is None else waiting
    return min(SLOWEST, max(FASTEST, waiting / ASKS_PER_SECOND))


async def answers_http(host: str, port: int, path: str = "/", timeout: float = 2.0) -> bool:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    try:
        request = f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n"
        writer.write(request.encode("latin-1"))
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout)
        return status_line.startswith(b"HTTP/")
    except (OSError, asyncio.TimeoutError, UnicodeEncodeError):
        return False
    finally:
        await _close(writer)


async def answers_tls(host: str, port: int, timeout: float = 2.0) -> bool:
    """For internal SSL, where a plain request gets no status line: a TLS handshake that
    completes, or that the server ends with a TLS alert (it wants the hub's client
    certificate), shows a server listening. Docker's proxy with nothing behind it just
    closes the connection."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only asking whether something speaks TLS here
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context), timeout
        )
    except ssl.SSLError as exc:
        return not isinstance(exc, ssl.SSLEOFError)
    except (OSError, asyncio.TimeoutError):
        return False
    await _close(writer)
    return True


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:  # ssl.SSLError included: the peer may hang up first
        pass
