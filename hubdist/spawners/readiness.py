"""Is a server answering HTTP yet?

A TCP connect is not enough: Docker's userland proxy accepts connections on a published
port before anything listens in the container. One HTTP request that gets any HTTP status
line back is proof that the server itself is up (JupyterHub then does its own check).
"""

from __future__ import annotations

import asyncio


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
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
