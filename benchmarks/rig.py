"""Hubs, an asynchronous REST client, Docker helpers and machine facts for the benchmarks.

The hub process comes from the test rig (tests/hubrig.py): same base configuration, same
service token. Here it gets the settings a benchmark needs (both spawner classes, no
cleanup of servers at hub exit, a high spawn limit) and timed start-ups, and it is driven
with aiohttp so that 50 spawns and their progress streams run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import docker

from hubdist.spawners.ownership import claim_volume

from .prepare import REPO

sys.path.insert(0, str(REPO))
from tests import hubrig  # noqa: E402  (the test rig: a real hub and proxy in a subprocess)

TOKEN = hubrig.TOKEN
#: the shortest event loop stall of a hub that a benchmark counts (seconds); JupyterHub
#: measures it every 50 ms and logs from 1 s by default
STALL_LOGGED = 0.1
NAME_PREFIX = "hubdist-bench-"

ARMS = {
    "hubdist": "hubdist.DockerSpawner",
    "dockerspawner": "dockerspawner.DockerSpawner",
}
SHORT = {"hubdist": "hd", "dockerspawner": "ds"}
#: what hubdist's default configuration does with the hub's SQLite file (its hubs here
#: keep JupyterHub's default db_url, a file in their directory); dockerspawner's hubs get
#: JupyterHub's defaults, as its users would
PRODUCT_DATABASE = """
        import os
        from hubdist.database import journal
        c.JupyterHub.db_kwargs = journal.db_kwargs(journal.configured(os.environ))
        """


def arm_order(rep: int) -> list[str]:
    """Alternate which spawner goes first, repetition by repetition."""
    return ["hubdist", "dockerspawner"] if rep % 2 == 0 else ["dockerspawner", "hubdist"]


def arms_and_floor(rep: int) -> list[str]:
    """arm_order(rep) with the floor (no hub) run between the two spawners, so neither gets
    the warmer page cache."""
    first, second = arm_order(rep)
    return [first, "floor", second]


# -- processes we start ------------------------------------------------------------------

_children: dict[int, str] = {}  # pid -> what, for the last-resort cleanup


def track(proc: subprocess.Popen, what: str) -> subprocess.Popen:
    _children[proc.pid] = what
    return proc


def end_process(proc: subprocess.Popen | None, timeout: float = 20) -> None:
    """SIGTERM one process we started (by its pid), SIGKILL if it does not exit."""
    if proc is None:
        return
    _children.pop(proc.pid, None)
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def end_all_children() -> None:
    for pid in list(_children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _children.pop(pid, None)


def pid_is(pid: int, needle: str) -> bool:
    try:
        return needle in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of a process; with children, also of its children that it has reaped
    (containerd-shim reaps the runc it runs to create each container)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def pids_named(*names: str) -> list[int]:
    """Processes whose command name is one of names (read from /proc, nothing signalled)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
    return found


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


ENGINE_PROCESSES = ("dockerd", "containerd", "containerd-shim", "docker-proxy")


def container_cpu_seconds(container_id: str) -> float:
    """CPU a container has used since it started (cgroup v1 cpuacct, else v2 cpu.stat)."""
    for path in (
        f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage",
        f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat",
    ):
        with contextlib.suppress(OSError, ValueError):
            text = Path(path).read_text()
            if path.endswith("cpuacct.usage"):
                return int(text) / 1e9
            return int(text.split("usage_usec", 1)[1].split()[0]) / 1e6
    return 0.0


class CpuAccount:
    """Who used the machine's CPU during a measurement: our hub, proxy and relays, the
    engine (dockerd, containerd, shims, docker-proxy, and the runc runs they reaped), our
    new containers, this program, and the rest: other work on the machine, plus what no
    process is charged for (kernel work in interrupts) and engine helpers still running at
    the end."""

    def __init__(self, engine: Engine, prefix: str, pids: list[int]):
        self.engine, self.prefix, self.pids = engine, prefix, pids
        self.start = self._snapshot()

    @staticmethod
    def _per_pid(pids, children: bool = False) -> dict[int, float]:
        found = {}
        for pid in pids:
            with contextlib.suppress(OSError):
                found[pid] = cpu_seconds(pid, children)
        return found

    def _snapshot(self) -> dict:
        return {
            "machine": machine_cpu_seconds(),
            "ours": self._per_pid(self.pids + [os.getpid()]),
            "engine": self._per_pid(pids_named(*ENGINE_PROCESSES), children=True),
        }

    async def result(self) -> dict:
        """CPU seconds used since this account was opened (containers: since they started,
        so only containers made during the measurement should carry the prefix)."""
        end = self._snapshot()

        def delta(key):
            return sum(v - self.start[key].get(pid, 0.0) for pid, v in end[key].items())

        containers = sum(
            container_cpu_seconds(c["Id"]) for c in await self.engine.containers(self.prefix)
        )
        machine = end["machine"] - self.start["machine"]
        ours = delta("ours")
        engine = delta("engine")
        return {
            "cpu_machine_s": machine,
            "cpu_containers_s": containers,
            "cpu_engine_s": engine,
            "cpu_hub_and_bench_s": ours,
            "cpu_others_s": max(0.0, machine - containers - engine - ours),
        }


def machine_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy since boot (all processes, all CPUs)."""
    busy, _ = _cpu_busy_jiffies()
    return busy / os.sysconf("SC_CLK_TCK")


# -- the hub ---------------------------------------------------------------------------------


class BenchHub(hubrig.Hub):
    """A JupyterHub with one of the two spawners, run by the benchmark venv's python."""

    def __init__(
        self,
        workdir: Path,
        arm: str,
        prefix: str,
        image: str,
        config: str = "",
        env: dict | None = None,
    ):
        self.arm = arm
        bench = f"""
        c.JupyterHub.spawner_class = "{ARMS[arm]}"
        c.JupyterHub.concurrent_spawn_limit = 200
        c.JupyterHub.cleanup_servers = False  # servers outlive the hub (restart scenario)
        c.JupyterHub.api_page_default_limit = 200
        # The benchmark's service token comes from the config, and JupyterHub checks such a
        # token with 16384 rounds of SHA-512 on every request (2-5 ms of the hub's CPU), a
        # cost no user pays: browsers hold a cookie, the culler and the servers get tokens
        # the hub generated (one round). Trusting it as generated keeps that out of the
        # hub's figures, for both arms.
        c.JupyterHub.trust_user_provided_tokens = True
        # JupyterHub's own measure of its event loop: every stall of STALL_LOGGED s or more
        # is logged, so a scenario can say how long the hub could not answer (stalls())
        c.PeriodicMetricsCollector.event_loop_interval_log_threshold = {STALL_LOGGED}
        """
        if arm == "hubdist":  # the product's database setting (HUBDIST_SQLITE_JOURNAL)
            bench += PRODUCT_DATABASE
        super().__init__(
            workdir,
            textwrap.dedent(bench) + textwrap.dedent(config),
            prefix=prefix,
            image=image,
            env=env,
        )
        # the application the hub image runs (hubdist.services.hub); plain JupyterHub for
        # dockerspawner, as its users run it
        self.app = "hubdist.services.hub" if arm == "hubdist" else "jupyterhub"
        self.proxy_apart: ProxyApart | None = None  # the proxy as deployed, if one runs
        self.started_at = 0.0
        self.ready_after = 0.0  # seconds from process start until /hub/api/ answered
        self.ready_at = 0.0  # and the unix time of that answer

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def pids(self) -> list[int]:
        """The hub and its proxy (the one it started, or the one running apart)."""
        found = [self.pid] if self.proc is not None and self.proc.poll() is None else []
        if self.proxy_apart is not None:
            return found + [pid for pid in [self.proxy_apart.chp_pid()] if pid]
        with contextlib.suppress(ValueError, OSError):
            proxy = int((self.workdir / "proxy.pid").read_text().strip())
            if pid_is(proxy, "configurable-http-proxy"):
                found.append(proxy)
        return found

    def launch(self) -> None:
        """Start the hub. With HUBDIST_BENCH_PROFILE=1 in the benchmark's environment it
        runs under cProfile (same process, so its CPU and memory are still the hub's; about
        twice as slow: for finding where time goes, not for figures), each start writing
        profile-<k>.pstats in its directory when it exits."""
        (self.workdir / "jupyterhub_config.py").write_text(self.config_text())
        log = open(self.log_path, "ab")
        profile: list[str] = []
        if os.environ.get("HUBDIST_BENCH_PROFILE") == "1":
            starts = len(list(self.workdir.glob("profile-*.pstats")))
            profile = ["-m", "cProfile", "-o", str(self.workdir / f"profile-{starts}.pstats")]
        self.started_at = time.monotonic()
        self.proc = track(
            subprocess.Popen(
                [sys.executable, *profile, "-m", self.app, "-f", "jupyterhub_config.py"],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            ),
            f"hub {self.arm}",
        )
        log.close()

    async def wait_api(self, client: Client, timeout: float = 90) -> float:
        """Seconds from launch until GET /hub/api/ answers 200."""
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with client.session.get(
                    f"{self.url}/hub/api/", timeout=aiohttp.ClientTimeout(total=2)
                ) as r:
                    if r.status == 200:
                        self.ready_after = time.monotonic() - self.started_at
                        self.ready_at = time.time()
                        return self.ready_after
            await asyncio.sleep(0.05)
        raise RuntimeError(f"hub did not answer in {timeout}s:\n{self.log_tail()}")

    def terminate(self, timeout: float = 30) -> None:
        """SIGTERM the hub (it stops its proxy); make sure the proxy is gone too."""
        if self.proc is not None:
            _children.pop(self.proc.pid, None)
            self.stop(signal.SIGTERM, timeout)
        pid_file = self.workdir / "proxy.pid"
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_file.read_text().strip())
            if pid_is(pid, "configurable-http-proxy"):
                os.kill(pid, signal.SIGTERM)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_starts(self) -> list[float]:
        """Unix times of every "Running JupyterHub version" line: the moment each start of
        the hub had imported its code and loaded its config (the hub logs local time)."""
        found = re.findall(
            r"\[I (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) JupyterHub \S+\] Running JupyterHub",
            self.log_text(),
        )
        return [datetime.strptime(t, "%Y-%m-%d %H:%M:%S.%f").timestamp() for t in found]

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def stalls(self, since: int) -> dict:
        """The hub's event loop stalls of STALL_LOGGED s or more logged after byte ``since``
        of its log (a log_size() taken before): their total, the longest and how many."""
        with open(self.log_path, "rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        stall = r"Event loop was unresponsive for at least ([\d.]+)s"
        found = [float(seconds) for seconds in re.findall(stall, text)]
        return {
            "loop_stalled_s": round(sum(found), 2),
            "loop_stall_max": max(found, default=0.0),
            "loop_stalls": len(found),
        }

    def stops_logged(self, since: int) -> dict[str, float]:
        """Unix time of each user's "User NAME server took X seconds to stop" line after byte
        ``since`` of the log: JupyterHub's line once a stop is complete (spawner stopped,
        route removed, database committed), the same for every spawner."""
        with open(self.log_path, "rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
        stop = r"\[I (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) JupyterHub \S+\] User (\S+) server took"
        return {
            user: datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").timestamp()
            for stamp, user in re.findall(stop, text)
        }

    def initialized_lines(self) -> list[tuple[int, float]]:
        """(N, seconds) of every "Initialized N spawners in X seconds" line so far."""
        found = re.findall(r"Initialized (\d+) spawners in ([\d.]+) seconds", self.log_text())
        return [(int(n), float(s)) for n, s in found]


def shipped_proxy_class() -> str:
    """c.JupyterHub.proxy_class of the shipped config: the class that notices a restarted
    proxy it did not start (hubdist/services/proxy_watch.py)."""
    text = (REPO / "config" / "jupyterhub_config.py").read_text()
    return re.search(r'c\.JupyterHub\.proxy_class = "([\w.]+)"', text).group(1)


def proxy_apart() -> str:
    """A hub's config for a proxy it does not start: hubdist's as deployed (ProxyApart)."""
    return (
        "c.ConfigurableHTTPProxy.should_start = False\n"
        f'c.JupyterHub.proxy_class = "{shipped_proxy_class()}"\n'
    )


class ProxyApart:
    """`hubdist proxy` (the compose proxy service's process) for one BenchHub: CHP, which
    outlives the hub's restarts with its routes, and is restarted with them if it dies."""

    def __init__(self, hub: BenchHub):
        self.hub = hub
        shared = hub.workdir / "shared"
        shared.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "HUBDIST_SHARED_DIR": str(shared),
            "CONFIGPROXY_AUTH_TOKEN": hub.proxy_token,
        }
        env.pop("HUBDIST_DOMAIN", None)
        ports = ["--ip", "127.0.0.1", "--port", str(hub.port)]
        ports += ["--api-ip", "127.0.0.1", "--api-port", str(hub.api_port)]
        with open(hub.workdir / "proxy-wrapper.log", "ab") as out:
            self.proc = track(
                subprocess.Popen(
                    [sys.executable, "-m", "hubdist", "proxy", *ports]
                    + ["--hub-url", f"http://127.0.0.1:{hub.hub_port}"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                ),
                "hubdist proxy",
            )

    def chp_pid(self) -> int | None:
        pid = self.proc.pid
        with contextlib.suppress(OSError, ValueError):
            (child,) = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            return int(child)
        return None

    async def wait_up(self, client: Client, timeout: float = 30) -> None:
        """Until CHP runs and answers HTTP (503 while no hub is up is an answer)."""
        deadline = time.monotonic() + timeout
        while self.chp_pid() is None or not await answers(client, f"{self.hub.url}/"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"hubdist proxy did not come up: see {self.hub.workdir}")
            await asyncio.sleep(0.2)


async def answers(client: Client, url: str) -> bool:
    """Does anything answer HTTP at url?"""
    with contextlib.suppress(Exception):
        async with client.session.get(url, allow_redirects=False):
            return True
    return False


# -- the client ------------------------------------------------------------------------------


@dataclass
class Spawn:
    user: str
    ok: bool = False
    seconds: float | None = None  # from the POST until the 'ready' event
    message: str = ""


@dataclass
class Storm:
    """The outcome of many spawns (or stops) started together."""

    t0: float
    results: list = field(default_factory=list)
    wall: float | None = None  # until the last one finished (None: not all did)

    @property
    def ok(self) -> list[float]:
        return sorted(r.seconds for r in self.results if r.ok)

    @property
    def failures(self) -> list:
        return [r for r in self.results if not r.ok]

    def pct(self, q: float) -> float | None:
        return percentile(self.ok, q)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of values; None if there are none."""
    if not values:
        return None
    values = sorted(values)
    rank = max(1, min(len(values), round(q / 100 * len(values) + 0.5 - 1e-9)))
    return values[rank - 1]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


class Client:
    """The hub's REST API with the benchmark's service token (admin scopes)."""

    def __init__(self):
        self.session = aiohttp.ClientSession(
            headers={"Authorization": f"token {TOKEN}"},
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )
        self.hub: BenchHub | None = None

    async def close(self) -> None:
        await self.session.close()

    def url(self, path: str) -> str:
        return f"{self.hub.url}/hub/api{path}"

    async def request(self, method: str, path: str, body=None, timeout: float = 60):
        async with self.session.request(
            method, self.url(path), json=body, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as r:
            text = await r.text()
            return r.status, (json.loads(text) if text.strip().startswith(("{", "[")) else text)

    async def create_users(self, users: list[str]) -> None:
        status, body = await self.request("POST", "/users", {"usernames": users})
        if status not in (201, 409):
            raise RuntimeError(f"creating users failed: {status} {body}")

    async def spawn(self, user: str, t0: float, options: dict | None, deadline: float) -> Spawn:
        result = Spawn(user)
        body = {"user_options": options} if options else None
        try:
            status, answer = await self.request("POST", f"/users/{user}/server", body)
            if status == 201:
                result.ok, result.seconds = True, time.monotonic() - t0
                return result
            if status != 202:
                result.message = f"POST {status}: {answer}"
                return result
            async with self.session.get(
                self.url(f"/users/{user}/server/progress"),
                timeout=aiohttp.ClientTimeout(total=max(1.0, deadline - time.monotonic())),
            ) as r:
                async for line in r.content:
                    if not line.startswith(b"data:"):
                        continue
                    event = json.loads(line[5:])
                    if event.get("ready"):
                        result.ok, result.seconds = True, time.monotonic() - t0
                        return result
                    if event.get("failed"):
                        result.message = event.get("message", "failed")
                        return result
            result.message = "progress stream ended without 'ready'"
        except asyncio.TimeoutError:
            result.message = "timed out"
        except aiohttp.ClientError as exc:
            result.message = f"client error: {exc}"
        return result

    async def spawn_all(
        self, users: list[str], options: dict | None = None, limit: float = 240
    ) -> Storm:
        """Request every server at the same moment; wait for each one's 'ready' event."""
        t0 = time.monotonic()
        deadline = t0 + limit
        storm = Storm(t0)
        storm.results = await asyncio.gather(*(self.spawn(u, t0, options, deadline) for u in users))
        if not storm.failures:
            storm.wall = max(r.seconds for r in storm.results)
        return storm

    async def users(self, state: str = "") -> list[dict]:
        """Every user's model (with state: only those in it), page by page: the hub gives at
        most 200 a page (api_page_max_limit), fewer than the 500 of the growth scenarios."""
        found: list[dict] = []
        while True:
            query = f"/users?limit=200&offset={len(found)}" + (f"&state={state}" if state else "")
            status, body = await self.request("GET", query)
            if status != 200:
                raise RuntimeError(f"listing users failed: {status} {body}")
            found += body
            if len(body) < 200:
                return found

    async def active(self) -> set[str]:
        """Users with a server that is running, starting or stopping."""
        return {u["name"] for u in await self.users("active")}

    async def ready(self) -> set[str]:
        return {u["name"] for u in await self.users("ready")}

    async def stop_all(
        self, users: list[str], prefix: str, engine: Engine, cap: float, every: float = 0.05
    ) -> Storm:
        """DELETE every server at once; wall = until the hub has logged the end of every
        stop and the engine has destroyed every container of prefix (or None if the cap
        came first), each taken at its own moment: the hub's log line's time, the engine's
        destroy event's. Nothing is asked of the hub or listed by the engine meanwhile
        (listing 500 active users costs the hub 170 ms of CPU, and under that load each
        answer waits seconds in its queue); the floor's stop is timed to the moment its last
        call returns."""
        t0, t0_wall = time.monotonic(), time.time()
        storm = Storm(t0)
        since = self.hub.log_size()
        pending = set(users)
        gone_at: dict[str, float] = {}
        failed: set[str] = set()  # DELETE refused: the hub's list decides at the end

        async def delete(user):
            status = None
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                status, _ = await self.request("DELETE", f"/users/{user}/server", timeout=cap)
            if status not in (202, 204):
                failed.add(user)

        with engine.destroys(prefix) as destroyed:
            present = {c["Names"][0].lstrip("/") for c in await engine.containers(prefix)}
            deletes = [asyncio.ensure_future(delete(u)) for u in users]

            def done() -> bool:
                return pending <= failed and present <= destroyed.keys()

            while time.monotonic() - t0 < cap and not done():
                await asyncio.sleep(every)
                for user, at in self.hub.stops_logged(since).items():
                    if user in pending:
                        gone_at[user] = at - t0_wall
                        pending.discard(user)
            finished = done()
            ended = [at - t0_wall for name, at in destroyed.items() if name in present]
        for task in deletes:
            task.cancel()
        if pending & failed:  # DELETE refused: gone if the hub does not list it as active
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, RuntimeError):
                now = time.monotonic() - t0
                for user in (pending & failed) - await self.active():
                    gone_at[user] = now
                    pending.discard(user)
        containers_left = len(await engine.containers(prefix))
        if finished and not pending and containers_left == 0:
            storm.wall = max([*gone_at.values(), *ended], default=0.0)
        storm.results = [Spawn(u, ok=u in gone_at, seconds=gone_at.get(u)) for u in users]
        storm.containers_left = containers_left  # type: ignore[attr-defined]
        return storm

    async def through_proxy(self, user: str) -> bool:
        """Does /user/<user>/ reach that user's own trivial server through the proxy?"""
        try:
            async with self.session.get(
                f"{self.hub.url}/user/{user}/",
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as r:
                body = await r.text()
                return r.status == 200 and body.strip() == user
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False


# -- Docker, for the benchmark itself (never through the counting relay) -------------------


class Engine:
    def __init__(self):
        self.client = docker.APIClient(
            base_url="unix:///var/run/docker.sock", version="auto", timeout=120
        )
        self.pool = ThreadPoolExecutor(16, thread_name_prefix="bench-docker")

    async def _call(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(
            self.pool, lambda: fn(*args, **kwargs)
        )

    async def containers(self, prefix: str, running_only: bool = False) -> list[dict]:
        found = await self._call(
            self.client.containers, all=not running_only, filters={"name": prefix}
        )
        return [c for c in found if any(n.lstrip("/").startswith(prefix) for n in c["Names"])]

    @contextlib.contextmanager
    def destroys(self, prefix: str):
        """While inside: {name: unix time} of every container of prefix the engine destroys,
        from its event stream (nothing listed, nothing asked of it meanwhile)."""
        seen: dict[str, float] = {}
        stream = self.client.events(decode=True, filters={"type": "container", "event": "destroy"})

        def follow():
            with contextlib.suppress(Exception):  # the stream closed: we are done
                for event in stream:
                    name = ((event.get("Actor") or {}).get("Attributes") or {}).get("name", "")
                    if name.startswith(prefix):
                        seen[name] = event.get("timeNano", time.time_ns()) / 1e9

        thread = threading.Thread(target=follow, name="bench-destroys", daemon=True)
        thread.start()
        try:
            yield seen
        finally:
            stream.close()
            thread.join(5)

    async def start_times(self, prefix: str, t0_wall: float) -> dict:
        """When the engine created and started each container of prefix, in seconds after
        the unix time t0_wall: splits a spawn into orchestration and the server's start."""
        found = await self.containers(prefix)
        infos = await asyncio.gather(
            *(self._call(self.client.inspect_container, c["Id"]) for c in found),
            return_exceptions=True,
        )
        created, started = [], []
        for info in infos:
            if isinstance(info, dict):
                created.append(_docker_time(info["Created"]) - t0_wall)
                started.append(_docker_time(info["State"]["StartedAt"]) - t0_wall)
        if not started:
            return {}
        return {
            "created_last": max(created),
            "started_p50": percentile(started, 50),
            "started_last": max(started),
        }

    async def remove_all(self, prefix: str, keep_runs: frozenset[str] = frozenset()) -> int:
        """Force-remove every container whose name starts with prefix (always ours), except
        those of the runs in keep_runs (names are NAME_PREFIX + run id + "-" + ...)."""
        assert prefix.startswith(NAME_PREFIX), prefix
        kept = tuple(f"{NAME_PREFIX}{run}-" for run in keep_runs)
        found = [
            c
            for c in await self.containers(prefix)
            if not (kept and any(n.lstrip("/").startswith(kept) for n in c["Names"]))
        ]

        def remove(cid):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                self.client.remove_container(cid, force=True, v=True)

        await asyncio.gather(*(self._call(remove, c["Id"]) for c in found))
        return len(found)

    async def remove_claim(self, prefix: str) -> None:
        """The claim volume hubdist's spawner made for a hub's container prefix (ours)."""
        assert prefix.startswith(NAME_PREFIX), prefix
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            await self._call(self.client.remove_volume, claim_volume(prefix))

    async def remove_image(self, image: str) -> None:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            await self._call(self.client.remove_image, image, force=False)

    async def image_present(self, image: str) -> bool:
        try:
            await self._call(self.client.inspect_image, image)
            return True
        except docker.errors.NotFound:
            return False

    def close(self) -> None:
        self.pool.shutdown(wait=False)


def _docker_time(stamp: str) -> float:
    """Unix time of an engine timestamp like 2026-11-25T23:12:45.123456789Z."""
    main, _, rest = stamp.partition(".")
    fraction = rest.rstrip("Z").split("+")[0][:6] if rest else "0"
    moment = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return moment.timestamp() + float(f"0.{fraction}")


# -- load and machine ------------------------------------------------------------------------


def _cpu_busy_jiffies() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class LoadSampler:
    """Samples the 1-minute load average and CPU use every 2 s in a thread."""

    def __init__(self, interval: float = 2.0):
        self.interval = interval
        self.samples: list[tuple[float, float, float]] = []  # (time, load1, cpu busy %)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-load")

    def start(self) -> LoadSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        busy0, total0 = _cpu_busy_jiffies()
        while not self._stop.wait(self.interval):
            busy, total = _cpu_busy_jiffies()
            pct = 100 * (busy - busy0) / max(1, total - total0)
            busy0, total0 = busy, total
            load1 = float(Path("/proc/loadavg").read_text().split()[0])
            self.samples.append((time.monotonic(), load1, pct))

    def stop(self) -> None:
        self._stop.set()

    def between(self, t0: float, t1: float) -> dict:
        inside = [s for s in self.samples if t0 <= s[0] <= t1]
        if not inside:
            return {}
        loads = [s[1] for s in inside]
        cpus = [s[2] for s in inside]
        return {
            "load1_mean": statistics.mean(loads),
            "load1_max": max(loads),
            "cpu_busy_mean": statistics.mean(cpus),
        }


def idle_cpu_busy(seconds: float = 5.0) -> float:
    """CPU busy % of the whole machine over a few seconds (run while we do nothing)."""
    busy0, total0 = _cpu_busy_jiffies()
    time.sleep(seconds)
    busy, total = _cpu_busy_jiffies()
    return 100 * (busy - busy0) / max(1, total - total0)


def machine_facts() -> dict:
    def run(*cmd: str) -> str:
        result = subprocess.run(cmd, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else "?"

    meminfo = Path("/proc/meminfo").read_text()
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
    model = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    info = json.loads(run("docker", "info", "--format", "{{json .}}") or "{}")
    foreign = [
        n
        for n in run("docker", "ps", "--format", "{{.Names}}").splitlines()
        if n and not n.startswith(NAME_PREFIX)
    ]
    commit = run("git", "-C", str(REPO), "rev-parse", "--short", "HEAD")
    dirty = run("git", "-C", str(REPO), "status", "--porcelain", "--", "hubdist")
    import dockerspawner
    import jupyterhub

    return {
        "cpus": os.cpu_count(),
        "cpu_model": model.group(1).strip() if model else "?",
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": run("uname", "-r"),
        "docker_server": info.get("ServerVersion", "?"),
        "docker_client": run("docker", "version", "--format", "{{.Client.Version}}"),
        "storage_driver": info.get("Driver", "?"),
        "cgroup": f"v{info.get('CgroupVersion', '?')} ({info.get('CgroupDriver', '?')})",
        "swarm": (info.get("Swarm") or {}).get("LocalNodeState", "?"),
        "python": sys.version.split()[0],
        "jupyterhub": jupyterhub.__version__,
        "dockerspawner": dockerspawner.__version__,
        "chp": run("configurable-http-proxy", "--version"),
        "hubdist_commit": commit + (" + uncommitted changes in hubdist/" if dirty else ""),
        "other_containers_at_start": len(foreign),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }
