"""The scenarios of issue #5 item 4, each run for hubdist and dockerspawner 14 in turn.

Every scenario is bounded in count and time, and removes what it made (containers named
``hubdist-bench-<run>-...``, the hubs and relays it started) even when it fails.
Results go into ``ctx.results[scenario][arm]`` as a list of dicts, one per repetition.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import docker
from aiohttp import web

from . import latency, prepare
from .prepare import LAB_IMAGE, STUBBORN_IMAGE, TRIVIAL_IMAGE, log
from .rig import (
    NAME_PREFIX,
    SHORT,
    BenchHub,
    Client,
    CpuAccount,
    Engine,
    LoadSampler,
    ProxyApart,
    arm_order,
    arms_and_floor,
    container_cpu_seconds,
    cpu_of,
    cpu_seconds,
    end_process,
    hubrig,
    median,
    percentile,
    pids_named,
    proxy_apart,
    rss_mb,
    track,
)

# How long each part may take before it is cut off (seconds)
SPAWN_LIMIT = 240
STOP_CAP = 120  # dockerspawner needs > 500 s for 50 servers that ignore SIGTERM
GRACE = 10  # both spawners' default: docker stop's grace period
POLL_INTERVAL = 5  # c.Spawner.poll_interval for the Docker-calls scenario
PULL_RATE = 40e6  # bytes/s the registry relay lets through
RESTARTS = 3  # hub restarts per spawner in S6 (each one is a few seconds)


@dataclass
class Context:
    run_id: str
    run_dir: Path
    scale: float
    reps: dict[str, int]
    engine: Engine
    sampler: LoadSampler
    results: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)  # scenario -> [text]
    # PNGs go beside the RESULTS.md being written; plots: (scenario, markdown) blocks that
    # the report shows in its Plots section, in the order they were added
    figure_dir: Path | None = None
    plots: list = field(default_factory=list)

    def n(self, full: int) -> int:
        return max(2, round(full * self.scale))

    def record(self, scenario: str, arm: str, data: dict) -> None:
        self.results.setdefault(scenario, {}).setdefault(arm, []).append(data)

    def note(self, scenario: str, text: str) -> None:
        self.notes.setdefault(scenario, []).append(text)

    def plot(self, scenario: str, markdown: str) -> None:
        """A block (an image link and what it shows) for the report's Plots section."""
        self.plots.append((scenario, markdown))


def users(n: int, start: int = 0, stem: str = "u") -> list[str]:
    return [f"{stem}{i:02d}" for i in range(start, start + n)]


@contextlib.asynccontextmanager
async def hub_session(
    ctx: Context,
    name: str,
    arm: str,
    image: str,
    config: str = "",
    env: dict | None = None,
    apart: bool = False,
):
    """A fresh hub (own dir, ports, database, container prefix) for one arm of a scenario;
    with apart, its proxy runs as hubdist deploys it (ProxyApart), not started by the hub."""
    prefix = f"{NAME_PREFIX}{ctx.run_id}-{name}-{SHORT[arm]}"
    config += proxy_apart() if apart else ""
    hub = BenchHub(ctx.run_dir / f"{name}-{arm}", arm, prefix, image, config, env)
    client = Client()
    client.hub = hub
    try:
        if apart:
            hub.proxy_apart = ProxyApart(hub)
            await hub.proxy_apart.wait_up(client)
        hub.launch()
        await hub.wait_api(client)
        yield hub, client, prefix
    finally:
        # containers first: a hub with stops queued behind one thread would not exit
        await ctx.engine.remove_all(prefix)
        hub.terminate()
        if hub.proxy_apart is not None:
            end_process(hub.proxy_apart.proc)
        await client.close()
        await ctx.engine.remove_all(prefix)  # anything a dying spawn made meanwhile
        await ctx.engine.remove_claim(prefix)  # hubdist's claim on the prefix, a volume


def load_during(ctx: Context, t0: float) -> dict:
    return ctx.sampler.between(t0, time.monotonic())


def storm_summary(storm, ctx: Context, t0: float, cpu: dict | None = None) -> dict:
    """Figures of a spawn storm; cpu: a CpuAccount's result for it."""
    return {
        **(cpu or {}),
        "n": len(storm.results),
        "wall": storm.wall,
        "p50": storm.pct(50),
        "p95": storm.pct(95),
        "max": max(storm.ok) if storm.ok else None,
        "failed": len(storm.failures),
        "failures": [f"{r.user}: {r.message}"[:300] for r in storm.failures][:5],
        **load_during(ctx, t0),
    }


# -- S2: 50 simultaneous spawns of a trivial server ---------------------------------------


async def s2(ctx: Context) -> None:
    n = ctx.n(50)
    for rep in range(ctx.reps.get("S2", 1)):
        for arm in arms_and_floor(rep):
            if arm == "floor":
                log(f"S2 rep {rep + 1}: floor, {n} trivial containers without a hub")
                ctx.record("S2", "floor", await floor(ctx, TRIVIAL_IMAGE, n, f"s2floor{rep}"))
                log(f"  wall {fmt(ctx.results['S2']['floor'][-1]['wall'])} s")
                continue
            log(f"S2 rep {rep + 1}: {n} trivial spawns, {arm}")
            async with hub_session(ctx, f"s2r{rep}", arm, TRIVIAL_IMAGE) as (hub, client, prefix):
                storm, data = await measured_storm(ctx, hub, client, prefix, n)
                ctx.record("S2", arm, data)
                log(f"  wall {fmt(storm.wall)} s, p50 {fmt(data['p50'])}, failed {data['failed']}")


async def measured_storm(ctx: Context, hub, client, prefix: str, n: int):
    """n users spawning at once on ``hub``: the storm, and its summary with the CPU the
    machine and the hub used and when the engine started each container."""
    names = users(n)
    await client.create_users(names)
    cpu0, t0, t0_wall = cpu_seconds(hub.pid), time.monotonic(), time.time()
    account = CpuAccount(ctx.engine, prefix, hub.pids())
    log_at = hub.log_size()
    storm = await client.spawn_all(names, limit=SPAWN_LIMIT)
    data = storm_summary(storm, ctx, t0, await account.result())
    data.update(hub.stalls(log_at))
    data.update(await ctx.engine.start_times(prefix, t0_wall))
    data["hub_cpu_s"] = cpu_seconds(hub.pid) - cpu0
    return storm, data


# -- S1 and S3a: 20 JupyterLab servers started at once, then stopped at once ---------------


async def s1_s3a(ctx: Context) -> None:
    n = ctx.n(20)
    for rep in range(ctx.reps.get("S1", 1)):
        for arm in arms_and_floor(rep):
            if arm == "floor":
                log(f"S1 rep {rep + 1}: floor, {n} containers of {LAB_IMAGE} without a hub")
                data = await floor(ctx, LAB_IMAGE, n, f"s1floor{rep}", stop=True)
                ctx.record("S1", "floor", data)
                ctx.record("S3a", "floor", {"wall": data.get("stop_wall")})
                log(f"  wall {fmt(data['wall'])} s; stopping them: {fmt(data.get('stop_wall'))} s")
                continue
            log(f"S1 rep {rep + 1}: {n} JupyterLab spawns, {arm}")
            async with hub_session(ctx, f"s1r{rep}", arm, LAB_IMAGE) as (hub, client, prefix):
                storm, data = await measured_storm(ctx, hub, client, prefix, n)
                ctx.record("S1", arm, data)
                log(
                    f"  wall {fmt(storm.wall)} s, p50 {fmt(data['p50'])}, "
                    f"p95 {fmt(data['p95'])}, failed {data['failed']}"
                )
                if storm.failures:
                    ctx.note("S3a", f"{arm}: only {len(storm.ok)} of {n} servers started")
                await asyncio.sleep(3)  # let the servers settle (first activity reports)
                log(f"S3a rep {rep + 1}: stopping {len(storm.ok)} JupyterLab servers, {arm}")
                started = [r.user for r in storm.results if r.ok]
                t0, log_at = time.monotonic(), hub.log_size()
                stop = await client.stop_all(started, prefix, ctx.engine, cap=STOP_CAP)
                ctx.record("S3a", arm, stop_summary(stop, ctx, t0) | hub.stalls(log_at))
                log(f"  all stopped and removed after {fmt(stop.wall)} s")


# -- S1s (the issue's S1'): one JupyterLab spawn with nothing else going on --------------

SINGLE_SPAWNS = 5  # per arm and repetition; one server at a time, stopped before the next


async def s1_single(ctx: Context) -> None:
    """What the spawner adds to a user's wait when nothing else happens: one JupyterLab
    spawn, time to ready, against the same container made and started through the Docker
    API (the floor); one at a time, each stopped and removed before the next."""
    for rep in range(ctx.reps.get("S1s", 1)):
        for arm in arms_and_floor(rep):
            log(f"S1s rep {rep + 1}: {SINGLE_SPAWNS} single JupyterLab spawns, {arm}")
            if arm == "floor":
                times = []
                for i in range(SINGLE_SPAWNS):
                    data = await floor(ctx, LAB_IMAGE, 1, f"s1sfloor{rep}{i}", stop=True)
                    times.append(data["wall"])
            else:
                async with hub_session(ctx, f"s1s{rep}", arm, LAB_IMAGE) as (hub, client, prefix):
                    times = [
                        await single_spawn(ctx, client, prefix, user)
                        for user in users(SINGLE_SPAWNS, stem="one")
                    ]
            ok = [t for t in times if t is not None]
            ctx.record("S1s", arm, {
                "wall": median(ok) if len(ok) == len(times) else None,
                "samples": times,
                "failed": len(times) - len(ok),
            })  # fmt: skip
            log(f"  time to ready {', '.join(fmt(t) for t in times)} s")


async def single_spawn(ctx: Context, client, prefix: str, user: str) -> float | None:
    """One spawn's time to ready (None if it failed); the server is then stopped and its
    container removed, so the next spawn meets the same machine."""
    await client.create_users([user])
    spawn = await client.spawn_all([user], limit=SPAWN_LIMIT)
    await asyncio.sleep(1)  # as after the floor's start: the server's first requests
    await client.stop_all([user], prefix, ctx.engine, cap=STOP_CAP)
    return spawn.wall


def stop_summary(stop, ctx: Context, t0: float) -> dict:
    return {
        "n": len(stop.results),
        "wall": stop.wall,
        "stopped_by_cap": len(stop.ok),
        "containers_left": stop.containers_left,
        "p50": stop.pct(50),
        **load_during(ctx, t0),
    }


async def floor(
    ctx: Context,
    image: str,
    n: int,
    name: str,
    stop: bool = False,
    publish: bool = True,
    lab: bool | None = None,
) -> dict:
    """The engine's floor: n containers of image made and started at once straight through
    the Docker API, as `docker run -d -p 127.0.0.1::8888 IMAGE` does (create, start), with
    no hub and no CLI process per container; seconds until each one's server answers HTTP.
    Without ``publish``, no port is published (no docker-proxy per container, as with the
    hubs' use_internal_ip): the server is reached at its address on the bridge.

    For the JupyterLab image a stub answers the server's start-up check of its hub
    (GET /hub/api/), which the hub answers in a spawn; the trivial server needs none.
    With ``stop``, the servers are then stopped (grace 10 s) and removed, all at once,
    through the API too: the floor of a stop. ``lab``: the image runs jupyterhub-singleuser
    (default: only LAB_IMAGE does).
    """
    gateway = hubrig.bridge_gateway()
    port = hubrig.free_port()
    prefix = f"{NAME_PREFIX}{ctx.run_id}-{name}"
    lab = image == LAB_IMAGE if lab is None else lab

    async def hub_api(request):
        version = prepare.JUPYTERHUB_VERSION
        return web.json_response({"version": version}, headers={"X-JupyterHub-Version": version})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hub_api)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, gateway, port).start()
    api = docker.APIClient(version="auto", timeout=120, max_pool_size=n)
    pool = ThreadPoolExecutor(n, thread_name_prefix="bench-floor")
    session = aiohttp.ClientSession()
    loop = asyncio.get_running_loop()

    ids: dict[str, str] = {}

    def run(user: str) -> str:
        env = {
            "JUPYTERHUB_API_TOKEN": "hubdist-bench-floor",
            "JUPYTERHUB_API_URL": f"http://{gateway}:{port}/hub/api",
            "JUPYTERHUB_BASE_URL": "/",
            "JUPYTERHUB_CLIENT_ID": f"jupyterhub-user-{user}",
            "JUPYTERHUB_USER": user,
            "JUPYTERHUB_SERVICE_PREFIX": f"/user/{user}/",
            "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:8888/user/{user}/",
            "JUPYTERHUB_OAUTH_CALLBACK_URL": f"/user/{user}/oauth_callback",
        }
        bindings = {8888: ("127.0.0.1",)} if publish else None
        host_config = api.create_host_config(port_bindings=bindings)
        cid = api.create_container(
            image, name=f"{prefix}-{user}", environment=env, ports=[8888], host_config=host_config
        )["Id"]
        ids[user] = cid
        api.start(cid)
        if not publish:
            return f"http://{api.inspect_container(cid)['NetworkSettings']['IPAddress']}:8888"
        return f"http://127.0.0.1:{api.port(cid, 8888)[0]['HostPort']}"

    t0, t0_wall = time.monotonic(), time.time()
    account = CpuAccount(ctx.engine, prefix, [])

    cpu_at_ready: dict[str, float] = {}

    async def one(i: int) -> float | None:
        user = f"f{i:02d}"
        server = await loop.run_in_executor(pool, run, user)
        url = server + (f"/user/{user}/api" if lab else "/")
        while time.monotonic() - t0 < SPAWN_LIMIT:
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status < 500:
                        # its CPU to ready: read now, not when the last server is ready
                        cpu_at_ready[user] = container_cpu_seconds(ids[user])
                        return time.monotonic() - t0
            await asyncio.sleep(0.1)
        return None

    try:
        times = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
        ok = sorted(t for t in times if isinstance(t, float))
        problems = [str(t)[:200] for t in times if not isinstance(t, float)]
        data = {
            "n": n,
            **(await account.result()),
            "wall": max(ok) if len(ok) == n else None,
            "times": ok,
            "p50": percentile(ok, 50),
            "p95": percentile(ok, 95),
            "failed": n - len(ok),
            "failures": problems[:3],
            "cpu_at_ready": sorted(cpu_at_ready.values()),
            **load_during(ctx, t0),
            **(await ctx.engine.start_times(prefix, t0_wall)),
        }
        if stop:
            await asyncio.sleep(3)  # as the hub scenarios do before stopping

            def stop_one(cid: str) -> None:
                api.stop(cid, timeout=GRACE)
                # force, as hubdist's own removal: under a storm of 500 the engine has
                # answered a stop before the container left "running" (a 409 without force)
                api.remove_container(cid, v=True, force=True)

            t1 = time.monotonic()
            await asyncio.gather(*(loop.run_in_executor(pool, stop_one, c) for c in ids.values()))
            data["stop_wall"] = time.monotonic() - t1
        return data
    finally:
        await session.close()
        await ctx.engine.remove_all(prefix)
        await runner.cleanup()
        pool.shutdown(wait=False)
        api.close()


# -- S3b: stopping 50 servers whose PID 1 ignores SIGTERM -----------------------------------


async def s3b(ctx: Context) -> None:
    n = ctx.n(50)
    for arm in arms_and_floor(0):
        if arm == "floor":
            log(f"S3b: floor, {n} containers ignoring SIGTERM, stopped without a hub")
            data = await floor(ctx, STUBBORN_IMAGE, n, "s3bfloor", stop=True)
            ctx.record("S3b", "floor", {"wall": data.get("stop_wall"), "start": data})
            log(f"  stop wall {fmt(data.get('stop_wall'))} s")
            continue
        log(f"S3b: {n} spawns of a server ignoring SIGTERM, {arm}")
        async with hub_session(ctx, "s3b", arm, STUBBORN_IMAGE) as (hub, client, prefix):
            names = users(n)
            await client.create_users(names)
            storm = await client.spawn_all(names, limit=SPAWN_LIMIT)
            started = [r.user for r in storm.results if r.ok]
            log(
                f"  {len(started)} started in {fmt(storm.wall)} s; stopping them all at once "
                f"(cap {STOP_CAP} s)"
            )
            t0, log_at = time.monotonic(), hub.log_size()
            stop = await client.stop_all(started, prefix, ctx.engine, cap=STOP_CAP)
            data = stop_summary(stop, ctx, t0) | hub.stalls(log_at)
            data["spawn_wall"] = storm.wall
            data["spawn_failed"] = len(storm.failures)
            ctx.record("S3b", arm, data)
            log(
                f"  stop wall {fmt(stop.wall)} s; stopped by the cap: {len(stop.ok)} of "
                f"{len(started)}"
            )


# -- S5, S7, S6: Docker calls per poll, hub memory, hub restart (one hub per arm) ----------


def count_requests(log_path: Path, t0: float, t1: float) -> Counter:
    """Requests in the relay's log between two wall-clock times, by normalized endpoint."""
    found: Counter = Counter()
    if not log_path.exists():
        return found
    for line in log_path.read_text().splitlines():
        stamp, _, rest = line.partition(" ")
        if t0 <= float(stamp) < t1:
            method, _, target = rest.partition(" ")
            found[f"{method} {normalize(target)}"] += 1
    return found


def normalize(target: str) -> str:
    path = target.split("?", 1)[0]
    parts = path.strip("/").split("/")
    if parts and parts[0].startswith("v1."):
        parts = parts[1:]
    if len(parts) >= 3 and parts[0] in ("containers", "images", "services", "volumes"):
        parts[1] = "{id}"
    return "/" + "/".join(parts)


def start_relay(workdir: Path) -> tuple[subprocess.Popen, Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    sock, log_path = workdir / "docker.sock", workdir / "docker-requests.log"
    proc = track(
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.relay",
                "docker",
                "--listen",
                str(sock),
                "--upstream",
                "/var/run/docker.sock",
                "--log",
                str(log_path),
            ],
            cwd=prepare.REPO,
            stdout=open(workdir / "relay.out", "ab"),
            stderr=subprocess.STDOUT,
        ),
        "docker relay",
    )
    for _ in range(100):
        if sock.exists():
            return proc, sock, log_path
        time.sleep(0.05)
    end_process(proc)
    raise RuntimeError("the Docker relay did not start")


async def s5_s6_s7(ctx: Context) -> None:
    small, total = ctx.n(10), ctx.n(50)
    window = 6 * POLL_INTERVAL
    for arm in arm_order(0):
        workdir = ctx.run_dir / f"s5-{arm}"
        relay, sock, relay_log = start_relay(workdir / "relay")
        config = f"c.Spawner.poll_interval = {POLL_INTERVAL}\n"
        try:
            async with hub_session(
                ctx, "s5", arm, TRIVIAL_IMAGE, config, env={"DOCKER_HOST": f"unix://{sock}"}
            ) as (hub, client, prefix):
                data: dict = {
                    "empty_start": hub.ready_after,
                    # from the first log line (code imported) until /hub/api/ answered
                    "empty_start_after_imports": hub.ready_at - hub.log_starts()[0],
                    "n_small": small,
                    "n_total": total,
                }
                names = users(total)
                await client.create_users(names)
                await asyncio.sleep(2)
                data["rss_0"] = rss_mb(hub.pid)
                for label, group in (("10", names[:small]), ("50", names[small:])):
                    log(f"S5: {arm}, spawning {len(group)} more servers")
                    w0 = time.time()
                    storm = await client.spawn_all(group, limit=SPAWN_LIMIT)
                    if storm.failures:
                        raise RuntimeError(f"spawns failed: {storm.failures[:3]}")
                    spawn_calls = count_requests(relay_log, w0, time.time())
                    data[f"calls_per_spawn_{label}"] = sum(spawn_calls.values()) / len(group)
                    await asyncio.sleep(3)  # the spawns' own calls are over
                    log(
                        f"  counting Docker calls for {window} s ({window // POLL_INTERVAL} "
                        f"poll intervals of {POLL_INTERVAL} s)"
                    )
                    w0 = time.time()
                    await asyncio.sleep(window)
                    calls = count_requests(relay_log, w0, time.time())
                    data[f"calls_per_interval_{label}"] = (
                        sum(calls.values()) * POLL_INTERVAL / window
                    )
                    data[f"calls_by_endpoint_{label}"] = dict(calls.most_common())
                    data[f"rss_{label}"] = rss_mb(hub.pid)
                    log(
                        f"  {sum(calls.values())} calls: "
                        f"{data[f'calls_per_interval_{label}']:.1f} per interval; "
                        f"hub RSS {data[f'rss_{label}']:.0f} MB"
                    )
                ctx.record(
                    "S7",
                    arm,
                    {"rss_0": data["rss_0"], "rss_10": data["rss_10"], "rss_50": data["rss_50"]},
                )
                for _ in range(RESTARTS):
                    restarted = await restart(ctx, hub, client, names, prefix)
                    restarted["empty_start"] = data["empty_start"]
                    restarted["empty_start_after_imports"] = data["empty_start_after_imports"]
                    ctx.record("S6", arm, restarted)
                    if restarted["lost"]:
                        break  # the next restart would measure fewer servers
                # the servers the restarted hub found again, stopped at once
                log(f"S5: {arm}, stopping the {total} servers")
                w0 = time.time()
                await client.stop_all(names, prefix, ctx.engine, cap=STOP_CAP)
                stop_calls = count_requests(relay_log, w0, time.time())
                data["calls_per_stop"] = sum(stop_calls.values()) / total
                data["calls_per_stop_by_endpoint"] = dict(stop_calls.most_common())
                log(f"  {data['calls_per_stop']:.1f} Docker calls per stop")
                ctx.record("S5", arm, data)
        finally:
            end_process(relay)


async def restart(
    ctx: Context,
    hub: BenchHub,
    client: Client,
    names: list[str],
    prefix: str,
    scenario: str = "S6",
    limit: float = 90,
) -> dict:
    """SIGTERM the hub with every server running, start it again, and time until the API
    answers and every server is ready in the API and reachable through the proxy (within
    limit seconds of the new process's start)."""
    log(f"{scenario}: {hub.arm}, restarting the hub with {len(names)} running servers")
    hub.stop()  # SIGTERM; a proxy the hub started stops with it (cleanup_proxy), not the servers
    running_before = len(await ctx.engine.containers(prefix, running_only=True))
    # what users see meanwhile: a proxy apart keeps its routes, one the hub started is gone
    down = await asyncio.gather(*(client.through_proxy(u) for u in names))
    lines_before = len(hub.initialized_lines())
    hub.launch()
    t0 = hub.started_at
    api_after = await hub.wait_api(client)
    ready_after = verified_after = verified_at = None
    verified: set[str] = set()
    ready: set[str] = set()
    while time.monotonic() - t0 < limit:
        with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError, RuntimeError):
            if ready_after is None:
                ready = await client.ready()
                if ready >= set(names):
                    ready_after = time.monotonic() - t0
            checks = [u for u in names if u not in verified]
            results = await asyncio.gather(*(client.through_proxy(u) for u in checks))
            verified |= {u for u, ok in zip(checks, results, strict=True) if ok}
            if ready_after is not None and len(verified) == len(names):
                verified_after = time.monotonic() - t0
                verified_at = time.time()
                break
        await asyncio.sleep(0.05)
    lines = hub.initialized_lines()[lines_before:]
    running_after = len(await ctx.engine.containers(prefix, running_only=True))
    data = {
        "n": len(names),
        "api_after": api_after,
        # from the restarted hub's first log line (its code imported) to every server verified
        "reconcile": verified_at - hub.log_starts()[-1] if verified_at else None,
        "all_ready_after": ready_after,
        "all_verified_after": verified_after,
        "initialized": lines[-1] if lines else None,
        "lost": len(names) - len(verified & ready) if verified_after is None else 0,
        "answering_while_down": sum(down),
        "containers_running_before": running_before,
        "containers_running_after": running_after,
    }
    log(
        f"  /hub/api after {fmt(api_after)} s, all ready after {fmt(ready_after)} s, all "
        f"verified through the proxy after {fmt(verified_after)} s; {data['initialized']}"
    )
    return data


# -- S4: five spawns while another user's spawn pulls 400 MB -----------------------------------


async def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status < 500:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


async def s4(ctx: Context) -> None:
    n = 5
    workdir = ctx.run_dir / "s4"
    workdir.mkdir(parents=True, exist_ok=True)
    registry = throttle = None
    reg_port, pull_port = hubrig.free_port(), hubrig.free_port()
    try:
        config = prepare.registry_config(workdir, reg_port)
        registry = track(
            subprocess.Popen(
                [prepare.REGISTRY_BIN, "serve", str(config)],
                stdout=open(workdir / "registry.log", "ab"),
                stderr=subprocess.STDOUT,
            ),
            "registry",
        )
        await wait_http(f"http://127.0.0.1:{reg_port}/v2/")
        await asyncio.to_thread(prepare.push_big_image, reg_port)
        stats = workdir / "throttle.bytes"
        throttle = track(
            subprocess.Popen(
                [
                    sys.executable, "-m", "benchmarks.relay", "throttle",
                    "--listen", f"127.0.0.1:{pull_port}", "--upstream", f"127.0.0.1:{reg_port}",
                    "--rate", str(PULL_RATE), "--stats", str(stats),
                ],
                cwd=prepare.REPO,
                stdout=open(workdir / "throttle.out", "ab"),
                stderr=subprocess.STDOUT,
            ),
            "throttle relay",
        )  # fmt: skip
        await wait_http(f"http://127.0.0.1:{pull_port}/v2/")
        big = f"127.0.0.1:{pull_port}/{prepare.BIG_REPO}:{prepare.big_source()}"
        pull_pids = [registry.pid, throttle.pid]
        for rep in range(ctx.reps.get("S4", 1)):
            for arm in arms_and_floor(rep):
                if arm == "floor":
                    await s4_floor(ctx, rep, n, big)
                else:
                    await s4_arm(ctx, arm, rep, n, big, stats, pull_pids)
    finally:
        end_process(throttle)
        end_process(registry)


async def s4_floor(ctx: Context, rep: int, n: int, big: str) -> None:
    """The same without a hub: n JupyterLab containers started through the API, alone and
    while the engine pulls the big image (`docker pull` through the API). What the pull
    costs the other starts on this machine, whatever the spawner."""
    await ctx.engine.remove_image(big)
    try:
        log(f"S4 rep {rep + 1}: floor, {n} JupyterLab containers without a hub, alone")
        alone = await floor(ctx, LAB_IMAGE, n, f"s4floor{rep}a")
        log(f"S4 rep {rep + 1}: floor, {n} JupyterLab containers while the engine pulls")
        repo, tag = big.rsplit(":", 1)

        def pull() -> float:
            t = time.monotonic()
            for _ in ctx.engine.client.pull(repo, tag, stream=True, decode=True):
                pass
            return time.monotonic() - t

        pulling = asyncio.get_running_loop().run_in_executor(None, pull)
        await asyncio.sleep(1.0)
        during = await floor(ctx, LAB_IMAGE, n, f"s4floor{rep}d")
        pull_seconds = await pulling
        a, d = alone["p50"], during["p50"]
        ctx.record(
            "S4",
            "floor",
            {
                "alone": alone,
                "during": during,
                "pull_seconds": pull_seconds,
                "ratio": d / a if a and d else None,
            },
        )
        log(f"  median alone {fmt(a)} s, during the pull {fmt(d)} s; pull {pull_seconds:.1f} s")
    finally:
        await ctx.engine.remove_image(big)


async def s4_arm(ctx, arm: str, rep: int, n: int, big: str, stats: Path, pull_pids) -> None:
    await ctx.engine.remove_image(big)
    if await ctx.engine.image_present(big):
        raise RuntimeError(f"{big} is still on the engine; it would not be pulled")
    config = f"c.DockerSpawner.allowed_images = [{LAB_IMAGE!r}, {big!r}]\n"
    engine_pids = pids_named("dockerd", "containerd")
    try:
        async with hub_session(ctx, f"s4r{rep}", arm, LAB_IMAGE, config) as (hub, client, prefix):
            base, busy = users(n, stem="b"), users(n, stem="p")
            await client.create_users(base + busy + ["puller"])
            log(f"S4 rep {rep + 1}: {arm}, {n} JupyterLab spawns without a pull")
            t0, t0_wall = time.monotonic(), time.time()
            account = CpuAccount(ctx.engine, prefix, hub.pids())
            alone = await client.spawn_all(base, limit=SPAWN_LIMIT)
            data = {"alone": storm_summary(alone, ctx, t0, await account.result())}
            data["alone"].update(await ctx.engine.start_times(f"{prefix}-b0", t0_wall))
            await client.stop_all(base, prefix, ctx.engine, cap=60)
            await asyncio.sleep(2)
            log(
                f"S4 rep {rep + 1}: {arm}, {n} JupyterLab spawns while 'puller' pulls "
                f"{prepare.BIG_BYTES // 1_000_000} MB at {PULL_RATE / 1e6:.0f} MB/s"
            )
            bytes0 = int(stats.read_text() or 0) if stats.exists() else 0
            pull_cpu0, engine_cpu0 = cpu_of(pull_pids), cpu_of(engine_pids)
            account = CpuAccount(ctx.engine, prefix, hub.pids() + pull_pids)
            tp = time.monotonic()
            puller = asyncio.ensure_future(
                client.spawn("puller", tp, {"image": big}, tp + SPAWN_LIMIT)
            )
            await asyncio.sleep(1.0)  # the pull is under way
            t0, t0_wall = time.monotonic(), time.time()
            during = await client.spawn_all(busy, limit=SPAWN_LIMIT)
            data["during"] = storm_summary(during, ctx, t0)
            data["during"].update(await ctx.engine.start_times(f"{prefix}-p0", t0_wall))
            pulled = await puller
            # from the pull's start until it and the 5 spawns are done
            data["during"].update(await account.result())
            # what serving and unpacking the pull cost: registry + relay, engine (dockerd,
            # containerd: download, unpack), both including its ordinary work meanwhile
            data["pull_serving_cpu_s"] = cpu_of(pull_pids) - pull_cpu0
            data["engine_cpu_s"] = cpu_of(engine_pids) - engine_cpu0
            await asyncio.sleep(0.6)
            data["puller_seconds"] = pulled.seconds
            data["puller_ok"] = pulled.ok
            data["puller_message"] = pulled.message[:300]
            data["pulled_mb"] = (int(stats.read_text() or 0) - bytes0) / 1e6
            a, d = data["alone"]["p50"], data["during"]["p50"]
            data["ratio"] = d / a if a and d else None
            ctx.record("S4", arm, data)
            log(
                f"  median alone {fmt(a)} s, during the pull {fmt(d)} s; puller ready after "
                f"{fmt(pulled.seconds)} s, {data['pulled_mb']:.0f} MB through the throttle"
            )
    finally:
        await ctx.engine.remove_image(big)


def fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


async def growth_500(ctx: Context) -> None:
    from .scale import growth  # imported here: scale builds on this module

    await growth(ctx)


async def s12(ctx: Context) -> None:
    """S12 lives in startup.py, which reuses floor() above (so it imports this module)."""
    from .startup import s12 as image_start

    await image_start(ctx)


SCENARIOS = {
    "S2": s2,
    "S1": s1_s3a,  # S1 and S3a share their 20 JupyterLab servers
    "S1s": s1_single,  # the issue's S1': one JupyterLab spawn alone
    "S3b": s3b,
    "S5": s5_s6_s7,  # S5, S7 and S6 share one hub with 50 running servers per spawner
    "S4": s4,
    "S12": s12,  # the single-user image against a pip-install one (benchmarks/startup.py)
    "S8": growth_500,  # S8-S11 share one hub per spawner growing to 500 servers
    **latency.SCENARIOS,  # S13-S17: latencies of faults (benchmarks/latency.py)
}
COVERS = {
    "S2": ["S2"],
    "S1": ["S1", "S3a"],
    "S1s": ["S1s"],
    "S3b": ["S3b"],
    "S5": ["S5", "S7", "S6"],
    "S4": ["S4"],
    "S8": ["S8", "S10", "S9", "S11"],
    "S12": ["S12"],
}
COVERS |= latency.COVERS
