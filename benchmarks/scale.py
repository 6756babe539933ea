"""S8-S11 (issue #16): one hub per spawner grown to 500 running trivial servers.

One sequence per arm serves the four scenarios, in this order:

- S8: 500 servers started in 10 waves of 50; per wave its wall, p95 time to ready, the
  hub's CPU per spawn, the hub's memory after it, and a short idle window after it (hub CPU
  and Docker calls per minute with that many servers running: the steady cost against N);
- S10: 500 running for 5 minutes: hub and proxy CPU (CHP, and the `hubdist proxy`
  wrapper when the proxy runs apart), Docker calls (the counting relay of S5), the idle
  culler's requests to the hub (it runs as the hub's service, as in a
  deployment) and its CPU, the proxy's route table, the hub's own API and admin page times;
- S9: the hub restarted with 500 running (S6's restart());
- S11: all 500 stopped at once, against the engine's floor (500 such containers stopped
  and removed through the Docker API).

Both hubs reach their servers at the container's address on the default bridge
(use_internal_ip) with no published port: 500 published ports would be 500 docker-proxy
processes per arm, a cost of the engine's port publishing that neither spawner controls.
The floor does the same. ``--scale`` scales the count (0.1: 50 servers in waves of 5) and
the windows.
"""

from __future__ import annotations

import asyncio
import re
import resource
import statistics
import time
from pathlib import Path

import aiohttp

from . import plots
from .prepare import TRIVIAL_IMAGE, log
from .report import DS, HD, Row, compared, f, pick, ratio, stall_row, verdict
from .rig import (
    arms_and_floor,
    cpu_seconds,
    end_process,
    percentile,
    pid_is,
    rss_mb,
)
from .scenarios import (
    STOP_CAP,
    Context,
    count_requests,
    floor,
    fmt,
    hub_session,
    load_during,
    restart,
    start_relay,
    users,
)

FULL = 500
WAVES = 10
STEADY = 300  # seconds of S10 at full scale
IDLE_WINDOW = 30  # seconds of idle measurement after each S8 wave at full scale: one
# poll interval of dockerspawner's (30 s), which polls every server once in it
CULL_EVERY = 60  # the culler's round, short enough to see several in S10
TIMED_CALLS = 5  # samples of each hub latency (median reported)
ADMIN = "benchadmin"
CULLER = "idle-culler"


def hub_config(wave: int, cull_every: int) -> str:
    """The same for both arms: servers reached on the bridge without published ports,
    limits that let 500 run, the culler as the hub's service, an admin for the admin page."""
    return f"""
c.DockerSpawner.use_internal_ip = True
c.JupyterHub.concurrent_spawn_limit = {max(200, 2 * wave)}
c.JupyterHub.active_server_limit = 0
c.Authenticator.admin_users = {{"{ADMIN}"}}
import sys
c.JupyterHub.services.append({{
    "name": "{CULLER}",
    "command": [sys.executable, "-m", "hubdist.culler", "--timeout=3600",
                "--cull-every={cull_every}"],
}})
c.JupyterHub.load_roles.append({{
    "name": "{CULLER}",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["{CULLER}"],
}})
"""


def per_minute(amount: float, seconds: float) -> float:
    return amount * 60 / seconds if seconds > 0 else 0.0


def child_with(parent: int, needle: str) -> int | None:
    """A child process of parent whose command line holds needle (the hub's culler)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and pid_is(int(entry.name), needle):
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == parent:
                return int(entry.name)
    return None


def culler_requests(log_text: str) -> tuple[int, float]:
    """Requests the culler made to the hub in a stretch of the hub's log, and the hub's
    total time serving them (ms), from JupyterHub's access log lines."""
    found = re.findall(rf"\] \d{{3}} \w+ \S+ \({CULLER}@[^)]*\) ([\d.]+)ms", log_text)
    return len(found), sum(float(ms) for ms in found)


class Meter:
    """CPU of the hub, its proxy and its culler, the relay's Docker calls and the hub's log
    over one stretch of time."""

    def __init__(self, hub, relay_log: Path):
        self.hub, self.relay_log = hub, relay_log
        pids = hub.pids()
        # the proxy: CHP, and as deployed (apart) the `hubdist proxy` wrapper that relays
        # every route change to it
        self.proxy = pids[1:] + ([hub.proxy_apart.proc.pid] if hub.proxy_apart else [])
        self.culler = child_with(hub.pid, "hubdist.culler")
        self.t0, self.wall0 = time.monotonic(), time.time()
        self.cpu0 = self._cpu()
        self.log0 = len(hub.log_text())

    def _cpu(self) -> dict:
        found = {}
        processes = {"hub": [self.hub.pid], "proxy": self.proxy, "culler": [self.culler]}
        for name, pids in processes.items():
            try:
                found[name] = sum(cpu_seconds(pid) for pid in pids) if pids and all(pids) else None
            except OSError:
                found[name] = None
        return found

    def result(self) -> dict:
        seconds = time.monotonic() - self.t0
        cpu = self._cpu()
        calls = count_requests(self.relay_log, self.wall0, time.time())
        requests, served_ms = culler_requests(self.hub.log_text()[self.log0 :])
        data = {"seconds": seconds, "docker_calls": sum(calls.values())}
        for name, end in cpu.items():
            start = self.cpu0.get(name)
            data[f"{name}_cpu_s"] = end - start if end is not None and start is not None else None
        data["docker_calls_per_min"] = per_minute(data["docker_calls"], seconds)
        data["hub_cpu_per_min"] = per_minute(data["hub_cpu_s"] or 0, seconds)
        data["culler_requests"] = requests
        data["culler_served_ms"] = served_ms
        data["calls_by_endpoint"] = dict(calls.most_common(8))
        return data


async def timed(fetch, times: int = TIMED_CALLS) -> float:
    """Median milliseconds of fetch() over a few calls, one after another."""
    samples = []
    for _ in range(times):
        t = time.monotonic()
        await fetch()
        samples.append((time.monotonic() - t) * 1000)
    return statistics.median(samples)


async def hub_latencies(client) -> dict:
    """The hub's own answers with every server running: the full user listing (page by
    page, as an admin's tool reads it) and the admin page's HTML, as the admin user."""
    status, body = await client.request("POST", f"/users/{ADMIN}/tokens", {"note": "bench"})
    if status != 201:
        raise RuntimeError(f"no token for {ADMIN}: {status} {body}")
    headers = {"Authorization": f"token {body['token']}"}

    async def admin_page():
        async with client.session.get(f"{client.hub.url}/hub/admin", headers=headers) as r:
            await r.read()
            if r.status != 200:
                raise RuntimeError(f"GET /hub/admin answered {r.status}")

    async def admin_listing():
        # what the admin page (a JavaScript app) asks for when it opens: the first 50 users
        status, body = await client.request(
            "GET", "/users?include_stopped_servers=1&offset=0&limit=50&sort=id"
        )
        if status != 200:
            raise RuntimeError(f"the admin page's listing answered {status}: {body}")

    listed = await client.users()
    return {
        "users_listed": len(listed),
        "users_listing_ms": await timed(client.users),
        "admin_listing_ms": await timed(admin_listing),
        "admin_page_ms": await timed(admin_page),
    }


async def proxy_routes(hub) -> int:
    """How many routes the proxy holds (its own REST API)."""
    url = f"http://127.0.0.1:{hub.api_port}/api/routes"
    headers = {"Authorization": f"token {hub.proxy_token}"}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers=headers) as r:
            return len(await r.json())


# -- the sequence ----------------------------------------------------------------------------


def open_files_for(n: int) -> int:
    """Raise this process's open-files limit (the hubs and proxies inherit it) to what n
    servers need, within the hard limit; the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4 * n + 1024  # the proxy holds a client and a server socket per check, and more
    if soft < want:
        soft = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


async def growth(ctx: Context) -> None:
    wave = max(1, ctx.n(FULL) // WAVES)
    n = wave * WAVES
    limit = open_files_for(n)
    if limit < 4 * n:
        ctx.note("S8", f"open files limited to {limit} (ulimit -n); {n} servers may hit it")
    steady = max(30.0, STEADY * ctx.scale)
    idle = max(8.0, IDLE_WINDOW * ctx.scale)
    cull_every = max(10, round(CULL_EVERY * min(1.0, ctx.scale * 2)))
    for arm in arms_and_floor(0):
        if arm == "floor":
            log(f"S11: floor, {n} trivial containers (no published port) stopped without a hub")
            data = await floor(ctx, TRIVIAL_IMAGE, n, "s11floor", stop=True, publish=False)
            ctx.record("S11", "floor", {"wall": data.get("stop_wall"), "start": data})
            log(f"  started in {fmt(data['wall'])} s; stopped in {fmt(data.get('stop_wall'))} s")
            continue
        await one_arm(ctx, arm, n, wave, steady, idle, cull_every)
    draw(ctx)


async def one_arm(ctx, arm: str, n: int, wave: int, steady, idle, cull_every) -> None:
    workdir = ctx.run_dir / f"s8-{arm}"
    relay, sock, relay_log = start_relay(workdir / "relay")
    env = {"DOCKER_HOST": f"unix://{sock}"}
    arm_t0 = time.monotonic()
    try:
        # hubdist's proxy runs apart, as deployed: its routes outlive S9's restart
        async with hub_session(
            ctx, "s8", arm, TRIVIAL_IMAGE, hub_config(wave, cull_every), env, arm == HD
        ) as (hub, client, prefix):
            names = users(n, stem="u")
            await client.create_users(names + [ADMIN])
            await asyncio.sleep(2)
            started = await waves(ctx, hub, client, relay_log, names, wave, idle)
            steady_data = await steady_state(ctx, hub, client, relay_log, steady)
            steady_data["cull_every"] = cull_every
            ctx.record("S10", arm, steady_data)
            ctx.record("S9", arm, await restart(ctx, hub, client, started, prefix, "S9", limit=240))
            log(f"S11: {arm}, stopping {len(started)} servers at once")
            t0, log_at = time.monotonic(), hub.log_size()
            cap = STOP_CAP + 0.4 * n
            stop = await client.stop_all(started, prefix, ctx.engine, cap=cap)
            ctx.record(
                "S11",
                arm,
                {
                    "n": len(started),
                    "wall": stop.wall,
                    "cap": cap,
                    "stopped_by_cap": len(stop.ok),
                    "containers_left": stop.containers_left,
                    "p50": stop.pct(50),
                    **load_during(ctx, t0),
                    **hub.stalls(log_at),
                },
            )
            log(f"  all stopped and removed after {fmt(stop.wall)} s")
            # how busy the machine was meanwhile (other work on it makes single figures noisy)
            ctx.results["S8"][arm][-1]["arm_load"] = load_during(ctx, arm_t0)
    finally:
        end_process(relay)


async def waves(ctx, hub, client, relay_log: Path, names: list[str], wave: int, idle) -> list:
    """S8: the servers started wave by wave; returns the users whose server started."""
    arm = hub.arm
    record = {"wave": wave, "rss_by_n": {0: rss_mb(hub.pid)}, "waves": [], "times": []}
    started: list[str] = []
    for k in range(0, len(names), wave):
        group = names[k : k + wave]
        log(f"S8: {arm}, wave {k // wave + 1}: {len(group)} spawns with {k} running")
        meter = Meter(hub, relay_log)
        storm = await client.spawn_all(group, limit=240)
        spent = meter.result()
        started += [r.user for r in storm.results if r.ok]
        running = k + len(group)
        data = {
            "running_before": k,
            "running_after": running,
            "n": len(group),
            "wall": storm.wall,
            "p50": storm.pct(50),
            "p95": storm.pct(95),
            "failed": len(storm.failures),
            "failures": [f"{r.user}: {r.message}"[:200] for r in storm.failures][:3],
            "hub_cpu_s": spent["hub_cpu_s"],
            "hub_cpu_per_spawn_ms": 1000 * spent["hub_cpu_s"] / len(group),
            "proxy_cpu_s": spent["proxy_cpu_s"],
            "docker_calls_per_spawn": spent["docker_calls"] / len(group),
            **load_during(ctx, meter.t0),
        }
        record["times"] += storm.ok
        await asyncio.sleep(2)  # the spawns' last calls and activity reports
        quiet = Meter(hub, relay_log)
        await asyncio.sleep(idle)
        spent = quiet.result()
        data["idle_hub_cpu_per_min"] = spent["hub_cpu_per_min"]
        data["idle_docker_calls_per_min"] = spent["docker_calls_per_min"]
        data["rss_mb"] = record["rss_by_n"][running] = rss_mb(hub.pid)
        record["waves"].append(data)
        log(
            f"  wall {fmt(storm.wall)} s, p95 {fmt(data['p95'])} s, failed {data['failed']}, "
            f"hub CPU {data['hub_cpu_per_spawn_ms']:.0f} ms per spawn; then idle: hub CPU "
            f"{data['idle_hub_cpu_per_min']:.2f} s/min, {data['idle_docker_calls_per_min']:.0f} "
            f"Docker calls/min; RSS {data['rss_mb']:.0f} MB"
        )
    record["n"] = len(names)
    record["started"] = len(started)
    record["p95_all"] = percentile(record["times"], 95)
    ctx.record("S8", arm, record)
    return started


async def steady_state(ctx, hub, client, relay_log: Path, seconds: float) -> dict:
    """S10: everything running, nobody doing anything, for ``seconds``."""
    log(f"S10: {hub.arm}, {seconds:.0f} s with every server running")
    t0, log_at = time.monotonic(), hub.log_size()
    meter = Meter(hub, relay_log)
    per_minute_cpu = []
    while time.monotonic() - meter.t0 < seconds:
        slice_meter = Meter(hub, relay_log)
        await asyncio.sleep(min(60.0, seconds - (time.monotonic() - meter.t0)))
        per_minute_cpu.append(slice_meter.result()["hub_cpu_per_min"])
    data = meter.result()
    # before the latencies below ask anything: JupyterHub's own rounds (activity, culler)
    data.update(hub.stalls(log_at))
    minutes = data["seconds"] / 60
    data["hub_cpu_per_min_slices"] = per_minute_cpu
    data["proxy_cpu_per_min"] = per_minute(data["proxy_cpu_s"] or 0, data["seconds"])
    data["culler_cpu_per_min"] = per_minute(data["culler_cpu_s"] or 0, data["seconds"])
    data["culler_requests_per_min"] = data["culler_requests"] / minutes
    data["culler_served_ms_per_min"] = data["culler_served_ms"] / minutes
    data["routes"] = await proxy_routes(hub)
    data["running"] = len(await client.ready())
    data.update(await hub_latencies(client))
    data["rss_mb"] = rss_mb(hub.pid)
    data.update(load_during(ctx, t0))
    log(
        f"  hub CPU {data['hub_cpu_per_min']:.2f} s/min, proxy {data['proxy_cpu_per_min']:.2f} "
        f"s/min, {data['docker_calls_per_min']:.0f} Docker calls/min, culler "
        f"{data['culler_requests_per_min']:.1f} requests/min; {data['routes']} routes; "
        f"users listing {data['users_listing_ms']:.0f} ms, "
        f"admin page {data['admin_page_ms']:.0f} ms"
    )
    return data


# -- plots -------------------------------------------------------------------------------------


def wave_series(ctx: Context, key: str) -> tuple[list, dict]:
    """x: servers running after each wave; y: one figure of each wave, per arm."""
    runs = {arm: ctx.results.get("S8", {}).get(arm, []) for arm in (HD, DS)}
    xs = next((([w["running_after"] for w in r[-1]["waves"]]) for r in runs.values() if r), [])
    series = {arm: [w.get(key) for w in r[-1]["waves"]] for arm, r in runs.items() if r}
    return xs, series


def draw(ctx: Context) -> None:
    if ctx.figure_dir is None or "S8" not in ctx.results:
        return
    out = ctx.figure_dir
    figures = [
        ("p95", "p95 time to ready in the wave (s)", "S8: each wave's p95 time to ready"),
        ("hub_cpu_per_spawn_ms", "hub CPU per spawn (ms)", "S8: the hub's CPU per spawn"),
        ("rss_mb", "hub resident memory (MB)", "S8: the hub's memory"),
        ("idle_hub_cpu_per_min", "hub CPU, s per minute", "S8: the hub's CPU while idle"),
        ("idle_docker_calls_per_min", "Docker API calls per minute", "S8: engine calls, idle"),
    ]
    for key, ylabel, title in figures:
        xs, series = wave_series(ctx, key)
        if not xs:
            return
        name = plots.growth(
            out / f"s8-{key.replace('_', '-')}.png",
            title,
            xs,
            series,
            "servers running (after the wave)",
            ylabel,
        )
        what = title.removeprefix("S8: ")
        ctx.plot("S8", f"{what} against the number of running servers\n\n![{title}]({name})")
    samples = {
        arm: ctx.results["S8"][arm][-1]["times"] for arm in (HD, DS) if arm in ctx.results["S8"]
    }
    name = plots.distributions(
        out / "s8-time-to-ready.png", "S8: time to ready of every spawn, all waves", samples
    )
    ctx.plot("S8", f"time to ready of every spawn (waves of {xs[0]})\n\n![time to ready]({name})")


# -- the report's rows -------------------------------------------------------------------------


def last_run(results: dict, scenario: str, arm: str) -> dict:
    runs = results.get(scenario, {}).get(arm, [])
    return runs[-1] if runs else {}


def growth_ratio(run: dict, key: str) -> float | None:
    """A wave figure's growth: the median of the last two waves over the first two."""
    values = [w.get(key) for w in run.get("waves", [])]
    if len(values) < 4 or None in values[:2] + values[-2:]:
        return None
    first = statistics.median(values[:2])
    return statistics.median(values[-2:]) / first if first else None


def s8_rows(results: dict, n: dict) -> list[Row]:
    hd, ds = last_run(results, "S8", HD), last_run(results, "S8", DS)
    rows = []
    for i, w in enumerate((hd or ds).get("waves", [])):
        cells = []
        walls = []
        for run in (hd, ds):
            wv = run.get("waves", [])[i] if i < len(run.get("waves", [])) else {}
            walls.append(wv.get("wall"))
            cells.append(
                f"{f(wv.get('wall'))} / {f(wv.get('p95'))} / {f(wv.get('hub_cpu_per_spawn_ms'), 0)}"
                + (f" ({wv['failed']} failed)" if wv.get("failed") else "")
            )
        rows.append(
            Row(
                "S8",
                (
                    f"{w['n']} trivial spawns at once, servers running {w['running_before']} → "
                    f"{w['running_after']}: wall (s) / p95 time to ready (s) / "
                    "hub CPU per spawn (ms)"
                )
                if i == 0
                else f"… {w['running_before']} → {w['running_after']}",
                *cells,
                ratio(*walls),
            )
        )
    growth_cells = [growth_ratio(run, "hub_cpu_per_spawn_ms") for run in (hd, ds)]
    rows.append(
        Row(
            "S8",
            "… hub CPU per spawn, last two waves ÷ first two",
            *(f(g, 2, "×") for g in growth_cells),
            "",
            "hubdist: does not grow (≤ 1.25×)",
            verdict(growth_cells[0] <= 1.25 if growth_cells[0] is not None else None),
        )
    )
    for label, key in (
        ("idle hub CPU (s per minute)", "idle_hub_cpu_per_min"),
        ("idle Docker API calls per minute", "idle_docker_calls_per_min"),
    ):
        cells = []
        for run in (hd, ds):
            waves = run.get("waves", [])
            cells.append(
                " → ".join(f(waves[j].get(key), 1) for j in (0, len(waves) // 2 - 1, -1))
                if len(waves) >= 4
                else "-"
            )
        marks = (
            [(hd or ds)["waves"][j]["running_after"] for j in (0, WAVES // 2 - 1, -1)]
            if (hd or ds).get("waves")
            else []
        )
        rows.append(Row("S8", f"… {label} with {' / '.join(map(str, marks))} running", *cells))
    rows.append(
        Row(
            "S8",
            "… the machine while this spawner's S8-S11 ran: 1-min load average mean / max, "
            "CPU busy (other work on the machine included)",
            *(
                f"{f(load.get('load1_mean'))} / {f(load.get('load1_max'))}, "
                f"{f(load.get('cpu_busy_mean'), 0)}%"
                if load
                else "-"
                for load in (run.get("arm_load") or {} for run in (hd, ds))
            ),
        )
    )
    total = (hd or ds).get("n", 0)
    marks = [0, total // 5, total // 2, total]
    rows.append(
        Row(
            "S8",
            f"… hub resident memory with {' / '.join(map(str, marks))} servers (MB)",
            *(
                " / ".join(
                    f(run.get("rss_by_n", {}).get(m, run.get("rss_by_n", {}).get(str(m))), 0)
                    for m in marks
                )
                for run in (hd, ds)
            ),
        )
    )
    return rows


def s9_rows(results: dict, n: dict) -> list[Row]:
    total = pick(results, "S9", HD, "n") or pick(results, "S9", DS, "n")
    lost = [pick(results, "S9", arm, "lost") for arm in (HD, DS)]
    down = [pick(results, "S9", arm, "answering_while_down") for arm in (HD, DS)]
    init = [
        (last_run(results, "S9", arm).get("initialized") or [None, None])[1] for arm in (HD, DS)
    ]
    return [
        compared(
            results,
            "S9",
            "api_after",
            f"hub restart with {total} running servers: /hub/api answers after (s from "
            "process start)",
        ),
        compared(
            results,
            "S9",
            "all_verified_after",
            "… every server ready in the API and answering through the proxy after (s)",
        ),
        compared(
            results,
            "S9",
            "reconcile",
            "… reconcile: from the restarted hub's first log line until every server is "
            "verified (s)",
            target="hubdist < 3 s",
            met=lambda a, b: a < 3,
        ),
        Row(
            "S9",
            '… hub log: "Initialized N spawners in X seconds" (X)',
            f(init[0], 3),
            f(init[1], 3),
            ratio(*init),
        ),
        Row(
            "S9",
            "… servers answering through the proxy while no hub ran (hubdist's proxy runs "
            "apart, as deployed; dockerspawner's hub starts its own)",
            f(down[0], 0),
            f(down[1], 0),
            "",
        ),
        Row(
            "S9",
            "… servers lost",
            f(lost[0], 0),
            f(lost[1], 0),
            "",
            "0",
            verdict(lost[0] == 0 if lost[0] is not None else None),
        ),
    ]


def s10_rows(results: dict, n: dict) -> list[Row]:
    run = last_run(results, "S10", HD) or last_run(results, "S10", DS)
    running, minutes = run.get("running"), (run.get("seconds") or 0) / 60

    def both_cells(key: str, digits: int = 1) -> list[str]:
        return [f(pick(results, "S10", arm, key), digits) for arm in (HD, DS)]

    def culler_cell(arm: str) -> str:
        got = last_run(results, "S10", arm)
        if not got:
            return "-"
        return (
            f"{f(got['culler_requests_per_min'], 1)} ({f(got['culler_served_ms_per_min'], 0)} ms; "
            f"culler CPU {f(got['culler_cpu_per_min'], 2)} s)"
        )

    return [
        compared(
            results,
            "S10",
            "hub_cpu_per_min",
            f"{running} servers running, nobody using them, {minutes:.1f} min: hub CPU "
            "(s per minute)",
            digits=2,
        ),
        Row(
            "S10",
            "… hub CPU per minute, lowest – highest minute",
            *(
                "-" if not last_run(results, "S10", arm) else f"{f(min(s), 2)} – {f(max(s), 2)}"
                for arm in (HD, DS)
                for s in [last_run(results, "S10", arm).get("hub_cpu_per_min_slices") or [0]]
            ),
        ),
        *stall_row(results, "S10"),
        compared(results, "S10", "docker_calls_per_min", "… Docker API calls per minute", digits=0),
        Row(
            "S10",
            f"… the idle culler (a hub service, a round every {run.get('cull_every')} s): its "
            "requests to the hub API per minute (the hub's time serving them; the culler's "
            "own CPU per minute)",
            culler_cell(HD),
            culler_cell(DS),
        ),
        Row("S10", "… proxy routes", *both_cells("routes", 0)),
        compared(results, "S10", "proxy_cpu_per_min", "… proxy CPU (s per minute)", digits=2),
        compared(
            results,
            "S10",
            "users_listing_ms",
            f"… GET /hub/api/users, every user page by page (ms, median of {TIMED_CALLS})",
            digits=0,
        ),
        compared(
            results,
            "S10",
            "admin_page_ms",
            f"… GET /hub/admin as an admin (ms, median of {TIMED_CALLS})",
            digits=0,
        ),
        compared(
            results,
            "S10",
            "admin_listing_ms",
            "… GET /hub/api/users?include_stopped_servers&limit=50, what the admin page asks "
            f"for when it opens (ms, median of {TIMED_CALLS})",
            digits=0,
        ),
        compared(results, "S10", "rss_mb", "… hub resident memory (MB)", digits=0),
    ]


def s11_rows(results: dict, n: dict) -> list[Row]:
    total = pick(results, "S11", HD, "n") or pick(results, "S11", DS, "n")
    fl = pick(results, "S11", "floor", "wall")
    walls = [pick(results, "S11", arm, "wall") for arm in (HD, DS)]
    rows = [
        compared(
            results,
            "S11",
            "wall",
            f"stopping {total} trivial servers at once (grace 10 s): wall until all are "
            "stopped and their containers removed (s)",
        )
    ]
    if fl is not None:
        rows.append(
            Row(
                "S11",
                "floor, no hub (same for both): as many such containers stopped and removed at "
                f"once through the Docker API ({f(fl)} s); wall ÷ floor",
                *(ratio(w, fl) for w in walls),
            )
        )
    return rows + stall_row(results, "S11")


ROWS = {"S8": s8_rows, "S10": s10_rows, "S9": s9_rows, "S11": s11_rows}
