"""Two small relays the benchmarks put in front of a server, each run as its own process.

``docker``: a Unix-socket relay in front of the Docker engine that writes one line per HTTP
request (``<unix time> <METHOD> <path>``) to a log, so the benchmark can count the API calls
a hub makes. The hub is pointed at it with ``DOCKER_HOST=unix:///path/to/relay.sock``.
Requests are parsed only far enough to find where each one ends (Content-Length or chunked
body); a connection that upgrades (attach, exec) is piped through untouched from then on.

``throttle``: a TCP relay that passes the server's answers on at no more than ``--rate``
bytes per second in total over all connections (a token bucket), and writes how many bytes
went through to a stats file twice a second. Used in front of a local registry to make an
image pull take a known time.

    python -m benchmarks.relay docker --listen SOCK --upstream /var/run/docker.sock --log FILE
    python -m benchmarks.relay throttle --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT \\
        --rate 40e6 --stats FILE
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

CHUNK = 64 * 1024


@contextlib.contextmanager
def _eof_when_done(writer: asyncio.StreamWriter):
    """A copy ends quietly on a dropped connection; either way the other side then sees EOF."""
    try:
        yield
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, before=None):
    """Copy until EOF; ``before(n)`` is awaited before each chunk of n bytes is written."""
    with _eof_when_done(writer):
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            if before is not None:
                await before(len(data))
            writer.write(data)
            await writer.drain()


def _close(*writers: asyncio.StreamWriter) -> None:
    for writer in writers:
        with contextlib.suppress(Exception):
            writer.close()


# -- the counting Docker relay ---------------------------------------------------------------


class RequestLog:
    def __init__(self, path: Path):
        self.file = open(path, "a", buffering=1)  # line-buffered: readers see every line

    def write(self, method: str, target: str) -> None:
        self.file.write(f"{time.time():.4f} {method} {target}\n")


async def _forward_requests(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: RequestLog
) -> None:
    """Client -> engine: forward request by request, logging each request line."""
    with _eof_when_done(writer):
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # the client closed the connection between requests
            except asyncio.LimitOverrunError:
                # not HTTP as we know it: stop parsing, pass the rest through
                await _pipe(reader, writer)
                return
            lines = head.decode("latin-1").split("\r\n")
            method, _, rest = lines[0].partition(" ")
            target = rest.rsplit(" ", 1)[0]
            headers = {}
            for line in lines[1:]:
                key, sep, value = line.partition(":")
                if sep:
                    headers[key.strip().lower()] = value.strip()
            log.write(method, target)
            writer.write(head)
            if "chunked" in headers.get("transfer-encoding", "").lower():
                await _forward_chunked(reader, writer)
            else:
                length = int(headers.get("content-length") or 0)
                while length > 0:
                    data = await reader.read(min(CHUNK, length))
                    if not data:
                        return
                    writer.write(data)
                    length -= len(data)
            await writer.drain()
            if "upgrade" in headers.get("connection", "").lower() or "upgrade" in headers:
                await _pipe(reader, writer)  # hijacked stream (attach, exec): raw from here
                return


async def _forward_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        writer.write(size_line)
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            # trailers (usually none) end with an empty line
            while True:
                line = await reader.readuntil(b"\r\n")
                writer.write(line)
                if line == b"\r\n":
                    return
        writer.write(await reader.readexactly(size + 2))  # data and its CRLF


async def serve_docker(listen: str, upstream: str, log_path: Path) -> None:
    log = RequestLog(log_path)

    async def handle(c_reader, c_writer):
        try:
            u_reader, u_writer = await asyncio.open_unix_connection(upstream, limit=2**20)
        except OSError:
            _close(c_writer)
            return
        try:
            await asyncio.gather(
                _forward_requests(c_reader, u_writer, log), _pipe(u_reader, c_writer)
            )
        finally:
            _close(c_writer, u_writer)

    with contextlib.suppress(FileNotFoundError):
        os.unlink(listen)
    server = await asyncio.start_unix_server(handle, listen, limit=2**20)
    os.chmod(listen, 0o660)
    async with server:
        await server.serve_forever()


# -- the throttling TCP relay ---------------------------------------------------------------


class TokenBucket:
    """At most ``rate`` bytes per second in total, with a burst of one chunk."""

    def __init__(self, rate: float):
        self.rate = rate
        self.next_free = time.monotonic()
        self.total = 0

    async def take(self, n: int) -> None:
        now = time.monotonic()
        start = max(now, self.next_free)
        self.next_free = start + n / self.rate
        self.total += n
        if start > now:
            await asyncio.sleep(start - now)


async def serve_throttle(listen: str, upstream: str, rate: float, stats: Path) -> None:
    bucket = TokenBucket(rate)
    up_host, up_port = upstream.rsplit(":", 1)
    host, port = listen.rsplit(":", 1)

    async def handle(c_reader, c_writer):
        try:
            u_reader, u_writer = await asyncio.open_connection(up_host, int(up_port))
        except OSError:
            _close(c_writer)
            return
        try:
            await asyncio.gather(
                _pipe(c_reader, u_writer), _pipe(u_reader, c_writer, before=bucket.take)
            )
        finally:
            _close(c_writer, u_writer)

    async def write_stats():
        while True:
            stats.write_text(f"{bucket.total}\n")
            await asyncio.sleep(0.5)

    server = await asyncio.start_server(handle, host, int(port))
    async with server:
        asyncio.ensure_future(write_stats())
        await server.serve_forever()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.relay")
    sub = parser.add_subparsers(dest="kind", required=True)
    d = sub.add_parser("docker", help="count Docker API requests")
    d.add_argument("--listen", required=True, help="Unix socket to create")
    d.add_argument("--upstream", default="/var/run/docker.sock")
    d.add_argument("--log", required=True, type=Path)
    t = sub.add_parser("throttle", help="throttle a TCP server's answers")
    t.add_argument("--listen", required=True, help="HOST:PORT")
    t.add_argument("--upstream", required=True, help="HOST:PORT")
    t.add_argument("--rate", type=float, required=True, help="bytes per second")
    t.add_argument("--stats", required=True, type=Path)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if args.kind == "docker":
        coro = serve_docker(args.listen, args.upstream, args.log)
    else:
        coro = serve_throttle(args.listen, args.upstream, args.rate, args.stats)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(coro)


if __name__ == "__main__":
    main()
