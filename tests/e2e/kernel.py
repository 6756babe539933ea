"""Run code in a user's kernel the way JupyterLab does: one websocket, through the proxy.

Shared by the end-to-end tests. A test that restarts the hub or the proxy keeps one
``KernelSocket`` open across the restart and executes on it again: that the same
connection still works is the point, so nothing here reconnects behind the caller's back.

Synchronous on purpose (the tests use requests): each KernelSocket owns an event loop and
runs every operation to completion on it, so the connection lives on between calls.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timezone

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect


class KernelError(AssertionError):
    """The kernel answered with an error, or the connection ended or went silent."""


class KernelSocket:
    """An open ``/api/kernels/<id>/channels`` websocket of a single-user server."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
        ca_certs: str | None = None,
    ):
        """``ca_certs``: the roots to trust for wss:// (default: the system's)."""
        self.url = url
        self.timeout = timeout
        self.session = uuid.uuid4().hex
        self._loop = asyncio.new_event_loop()
        request = HTTPRequest(
            url, headers=headers or {}, request_timeout=timeout, ca_certs=ca_certs
        )
        self._ws: WebSocketClientConnection = self._run(self._connect(request))

    @classmethod
    def for_kernel(
        cls, server_url: str, kernel_id: str, headers: dict[str, str] | None = None, **kw
    ) -> KernelSocket:
        """``server_url`` is the server's http URL through the proxy, e.g.
        http://127.0.0.1:8000/user/alice/."""
        ws_url = "ws" + server_url.rstrip("/").removeprefix("http")
        return cls(f"{ws_url}/api/kernels/{kernel_id}/channels", headers, **kw)

    def execute(self, code: str) -> str:
        """Run ``code``; its standard output once the kernel says it is done."""
        return self._run(self._execute(code))

    def stay(self, seconds: float) -> None:
        """Keep the connection for ``seconds`` as a browser does, answering the server's pings
        (Jupyter closes a websocket whose client has not answered them for 90 s)."""
        self._run(asyncio.sleep(seconds))

    def close(self) -> None:
        if not self._loop.is_closed():
            self._loop.run_until_complete(self._close())  # tornado writes on the running loop
            self._loop.close()

    async def _close(self) -> None:
        self._ws.close()
        await asyncio.sleep(0)

    def __enter__(self) -> KernelSocket:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the Jupyter messaging protocol, JSON over the websocket --------------------------

    @staticmethod
    async def _connect(request: HTTPRequest) -> WebSocketClientConnection:
        return await websocket_connect(request)  # on the running loop: ours

    async def _execute(self, code: str) -> str:
        msg_id = uuid.uuid4().hex
        await self._ws.write_message(json.dumps(self._message(msg_id, code)))
        output, replied, idle = [], None, False
        while replied is None or not idle:  # the output may come before or after the reply
            msg = await self._receive()
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue  # status of other requests, the kernel's start-up, ...
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                output.append(content["text"])
            elif kind == "error":
                raise KernelError(f"{content['ename']}: {content['evalue']}")
            elif kind == "execute_reply":
                replied = content
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        if replied.get("status") != "ok":
            raise KernelError(f"execute_reply: {replied}")
        return "".join(output)

    async def _receive(self) -> dict:
        try:
            raw = await asyncio.wait_for(self._ws.read_message(), self.timeout)
        except asyncio.TimeoutError:
            raise KernelError(f"no message from the kernel in {self.timeout} s") from None
        if raw is None:
            raise KernelError(f"the websocket {self.url} was closed: {self._ws.close_reason}")
        return json.loads(raw)

    def _message(self, msg_id: str, code: str) -> dict:
        return {
            "channel": "shell",
            "header": {
                "msg_id": msg_id,
                "msg_type": "execute_request",
                "session": self.session,
                "username": "",
                "version": "5.3",
                "date": datetime.now(timezone.utc).isoformat(),
            },
            "parent_header": {},
            "metadata": {},
            "content": {
                "code": code,
                "silent": False,
                "store_history": False,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
            "buffers": [],
        }

    def _run(self, coro):
        return self._loop.run_until_complete(coro)
