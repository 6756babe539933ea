"""Keep one child program running: the proxy's configurable-http-proxy, the edge's Caddy.

- the child is restarted when it dies, after 1 s, doubling up to 30 s while it keeps dying,
  back to 1 s once it has run for a minute. It never gives up: the container's health check
  is what reports a child that cannot stay up;
- SIGTERM or SIGINT stop the child (SIGTERM, then SIGKILL after 10 s) and then the
  supervisor. The child runs in a session of its own, so tini's group-wide signal reaches
  it only through the supervisor, which then knows not to restart it;
- the child gets SIGTERM from the kernel if the supervisor dies without stopping it
  (SIGKILL, a crash): an orphaned child would hold its ports, and the supervisor's
  next start (systemd, a restarted container) could never bind them;
- ``before_start``: called before every start (the edge repairs Caddy's storage);
- ``after_exit``: called when the child has died, before the wait to restart it (the proxy
  holds the hub's route changes until the new child has its routes);
- ``after_restart``: a coroutine run after every start but the first, beside the child (the
  proxy puts its routes back);
- ``on_line``: the child's standard error is read line by line and handed to it (the edge
  turns Caddy's log into messages an administrator can act on); without it the child
  writes to the supervisor's own standard error.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable

STOP_TIMEOUT = 10.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A preexec_fn asking the kernel to SIGTERM the child when ``parent`` dies."""
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here, not between fork and exec

    def arrange() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # it died before the request took hold
            os._exit(1)

    return arrange


class Backoff:
    """Seconds to wait before the next restart: doubling while the child keeps dying young."""

    def __init__(self, first: float = 1.0, maximum: float = 30.0, stable_after: float = 60.0):
        self.first, self.maximum, self.stable_after = first, maximum, stable_after
        self.delay = first

    def after_exit(self, ran_for: float) -> float:
        if ran_for >= self.stable_after:
            self.delay = self.first
        delay = self.delay
        self.delay = min(self.delay * 2, self.maximum)
        return delay


class Supervisor:
    """Keeps one child process running until told to stop."""

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        backoff: Backoff | None = None,
        *,
        name: str = "hubdist proxy",
        on_line: Callable[[str], None] | None = None,
        before_start: Callable[[], None] | None = None,
        after_restart: Callable[[], Awaitable[None]] | None = None,
        after_exit: Callable[[], None] | None = None,
    ):
        self.command = command
        self.env = env
        self.backoff = backoff or Backoff()
        self.name = name
        self.on_line = on_line
        self.before_start = before_start
        self.after_restart = after_restart
        self.after_exit = after_exit
        self.child: asyncio.subprocess.Process | None = None
        self._stopping = asyncio.Event()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        restarts = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            if self.before_start:
                self.before_start()
            self.child = await asyncio.create_subprocess_exec(
                *self.command,
                env=self.env,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
                stderr=asyncio.subprocess.PIPE if self.on_line else None,
            )
            self.log(f"started {self.command[0]} (pid {self.child.pid})")
            if restarts and self.after_restart:
                asyncio.ensure_future(self.after_restart())
            restarts += 1
            code = await self._wait_child()
            if self._stopping.is_set():
                self.log(f"{self.command[0]} stopped (exit code {code})")
                break
            if self.after_exit:
                self.after_exit()
            ran_for = time.monotonic() - started
            delay = self.backoff.after_exit(ran_for)
            self.log(
                f"{self.command[0]} exited with code {code} after {ran_for:.1f} s; "
                f"restarting in {delay:g} s"
            )
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except asyncio.TimeoutError:
                pass
        return 0

    def stop(self) -> None:
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def log(self, message: str) -> None:
        print(f"{self.name}: {message}", file=sys.stderr, flush=True)

    async def _wait_child(self) -> int:
        """The child's exit code; once a stop is asked, stop it (SIGTERM, then SIGKILL)."""
        assert self.child is not None
        waiting = asyncio.ensure_future(self._child_done())
        stop_asked = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({waiting, stop_asked}, return_when=asyncio.FIRST_COMPLETED)
        stop_asked.cancel()
        if self.child.returncode is None:
            self.child.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(waiting, STOP_TIMEOUT)
        except asyncio.TimeoutError:
            self.log(f"{self.command[0]} ignored SIGTERM for {STOP_TIMEOUT:g} s; killing it")
            self.child.kill()
            return await self.child.wait()

    async def _child_done(self) -> int:
        assert self.child is not None
        if self.on_line and self.child.stderr:
            async for raw in self.child.stderr:
                line = raw.decode(errors="replace").rstrip("\n")
                try:
                    self.on_line(line)
                except Exception as exc:  # reading the log must never stop the child
                    self.log(f"could not handle the line {line[:200]!r}: {exc!r}")
        return await self.child.wait()
