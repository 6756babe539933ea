"""How fast the hub follows a fault (issue 16 §3): the latencies the docs state, measured.

- S13: a user's container killed from outside, until the hub's API reports it stopped;
- S14: the proxy SIGKILLed, until every route is back and every server answers through it;
- S15: the Docker engine restarted under a running server (live-restore), until the hub
  has followed it: the server answers, a kill after the restart is noticed, a spawn works;
- S16 / S17: a swarm worker with a running server freezes (``docker pause``) / shuts down
  (its engine stops), until the hub reports the server stopped.

Each is repeated (a distribution, not one figure); every sample is kept in the results.
S15 restarts an engine of its own (a node container running dockerd, tests/nodes.py), and
S16/S17 run on a swarm of such nodes (tests/multinode/cluster.py): the machine's own engine
is never restarted, paused or reconfigured.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import subprocess
import textwrap
import time
from pathlib import Path

from .prepare import TRIVIAL_IMAGE, log
from .rig import (
    NAME_PREFIX,
    SHORT,
    Client,
    ProxyApart,
    arm_order,
    end_process,
    median,
    percentile,
)

POLL = 0.05  # seconds between two looks at the hub's API while timing a latency
NOTICE_CAP = 90  # a fault not followed by then counts as not followed (dockerspawner: ~30 s)
ROUTES_CAP = 120
HUB_PROXY_CHECK = 5  # ConfigurableHTTPProxy.check_running_interval: how often either hub looks
JUPYTERHUB_POLL_INTERVAL = 30  # dockerspawner keeps JupyterHub's default (hubdist's is 300 s)
# three arms in S14: the proxy as hubdist deploys it, and as JupyterHub starts it itself
WRAPPED, HUB_STARTED = "hubdist", "hubdist, proxy started by the hub"
# and, between two kills, a new `hubdist proxy` (as a new proxy container): empty table
NEW_PROXY = "hubdist, a new proxy"


def reps(base: int) -> dict[str, int]:
    """Repetitions per scenario for --reps base (default 2: 10 of the cheap ones, 3 heavy)."""
    cheap, heavy = 5 * base, max(1, 2 * base - 1)
    return {"S13": cheap, "S14": cheap, "S15": heavy, "S16": heavy}


async def reported_stopped(client: Client, user: str, t0: float, cap: float) -> float | None:
    """Seconds from t0 until GET /users/<user> shows no default server (None: not by cap)."""
    while time.monotonic() - t0 < cap:
        with contextlib.suppress(Exception):  # a hub busy with the fault may answer late
            status, body = await client.request("GET", f"/users/{user}", timeout=5)
            if status == 200 and "" not in body.get("servers", {}):
                return time.monotonic() - t0
        await asyncio.sleep(POLL)
    return None


async def all_through_proxy(client: Client, users: list[str], t0: float, cap: float):
    """Seconds from t0 until every user's server answers through the proxy at once."""
    while time.monotonic() - t0 < cap:
        answers = await asyncio.gather(*(client.through_proxy(u) for u in users))
        if all(answers):
            return time.monotonic() - t0
        await asyncio.sleep(POLL)
    return None


async def spawn_one(client: Client, user: str) -> float:
    storm = await client.spawn_all([user], limit=120)
    if storm.failures:
        raise RuntimeError(f"spawning {user} failed: {storm.failures[0].message}")
    return storm.wall


# -- S13: a killed server ---------------------------------------------------------------------


async def s13(ctx) -> None:
    """One hub per spawner. Rep by rep both start a server, and after the same random wait
    (so the kill falls anywhere in JupyterHub's poll cycle, as a real one would) both
    containers are killed through the engine API and both hubs' APIs polled at once."""
    from .scenarios import hub_session

    chance = random.Random(13)  # the same waits in every run
    async with contextlib.AsyncExitStack() as stack:
        hubs = {
            arm: await stack.enter_async_context(hub_session(ctx, "s13", arm, TRIVIAL_IMAGE))
            for arm in ("hubdist", "dockerspawner")
        }
        for _hub, client, _prefix in hubs.values():
            await client.create_users(["k"])
        for rep in range(ctx.reps["S13"]):
            for arm in arm_order(rep):
                await spawn_one(hubs[arm][1], "k")
            wait = chance.uniform(0, JUPYTERHUB_POLL_INTERVAL)
            await asyncio.sleep(wait)
            found = await asyncio.gather(*(s13_kill(ctx, *hubs[arm]) for arm in arm_order(rep)))
            for arm, noticed in zip(arm_order(rep), found, strict=True):
                ctx.record("S13", arm, {"noticed": noticed, "after_spawn": wait, "rep": rep})
                log(f"S13 {arm} #{rep + 1}: reported stopped after {noticed} s")


async def s13_kill(ctx, hub, client: Client, prefix: str) -> float | None:
    """Kill the hub's one server container; seconds until its API reports it stopped."""
    (container,) = await ctx.engine.containers(prefix, running_only=True)
    t0 = time.monotonic()
    await ctx.engine._call(ctx.engine.client.kill, container["Id"])
    noticed = await reported_stopped(client, "k", t0, NOTICE_CAP)
    if noticed is None:  # not noticed: stop it, so the next rep can start
        await client.request("DELETE", "/users/k/server")
        await reported_stopped(client, "k", time.monotonic(), 60)
    await ctx.engine.remove_all(prefix)
    return noticed


# -- S14: the proxy killed ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def s14_hub(ctx, arm: str):
    """The arm's hub; yields its client, a function killing its proxy (by pid), a
    coroutine function making the proxy fresh for the next kill, and how often the hub
    looks at the proxy (seconds)."""
    from .scenarios import hub_session

    async def nothing():
        pass

    if arm != WRAPPED:  # JupyterHub starts CHP, checks it every 5 s and restarts it
        name = f"s14{SHORT.get(arm, 'hp')}"
        spawner = "dockerspawner" if arm == "dockerspawner" else "hubdist"
        async with hub_session(ctx, name, spawner, TRIVIAL_IMAGE) as (hub, client, _):

            def kill():
                os.kill(int((hub.workdir / "proxy.pid").read_text().strip()), signal.SIGKILL)

            yield client, kill, nothing, HUB_PROXY_CHECK
        return
    # as deployed: `hubdist proxy` restarts CHP and puts its routes back; the hub's proxy
    # class asks it every 5 s whether its table was rebuilt, and checks the routes if so
    async with hub_session(ctx, "s14", "hubdist", TRIVIAL_IMAGE, apart=True) as (hub, client, _):

        async def fresh() -> None:
            """A new `hubdist proxy` (as a container restart makes), so each kill meets a
            proxy that has not just died: its restart delay doubles for a proxy that keeps
            dying within a minute. Then its routes are back in place before the next kill."""
            end_process(hub.proxy_apart.proc)
            started = time.monotonic()
            hub.proxy_apart = ProxyApart(hub)
            await hub.proxy_apart.wait_up(client)
            users = [u["name"] for u in (await client.request("GET", "/users"))[1]]
            back = await all_through_proxy(client, users, started, ROUTES_CAP)
            if back is None:
                raise RuntimeError("the routes did not come back to a fresh proxy")
            # its table is empty: the hub's proxy class notices (every 5 s) and checks
            ctx.record("S14", NEW_PROXY, {"routes_back": back, "n": len(users)})
            log(f"S14 a new proxy: all {len(users)} routes back {back} s after it was started")

        def kill():
            os.kill(hub.proxy_apart.chp_pid(), signal.SIGKILL)

        yield client, kill, fresh, HUB_PROXY_CHECK


async def s14(ctx) -> None:
    users = [f"p{i:02d}" for i in range(ctx.n(10))]
    chance = random.Random(14)
    for arm in (WRAPPED, "dockerspawner", HUB_STARTED):
        async with s14_hub(ctx, arm) as (client, kill, fresh, interval):
            await client.create_users(users)
            storm = await client.spawn_all(users)
            if storm.failures:
                raise RuntimeError(f"S14 {arm}: spawns failed: {storm.failures[0].message}")
            for rep in range(ctx.reps["S14"]):
                if rep:
                    await fresh()
                # the kill falls anywhere in the cycle of the hub's look at the proxy
                await asyncio.sleep(chance.uniform(0, interval))
                t0 = time.monotonic()
                kill()
                back = await all_through_proxy(client, users, t0, ROUTES_CAP)
                ready = len(await client.ready())
                ctx.record(
                    "S14",
                    arm,
                    {"routes_back": back, "n": len(users), "ready_after": ready, "rep": rep},
                )
                log(f"S14 {arm} #{rep + 1}: all {len(users)} routes back after {back} s")


# -- S15: the engine restarted ---------------------------------------------------------------


async def s15(ctx) -> None:
    from tests.nodes import EngineNode, build_node_image, make_network, remove_network

    from .scenarios import hub_session

    name = f"{NAME_PREFIX}{ctx.run_id}-s15"
    await asyncio.to_thread(build_node_image)
    network = await asyncio.to_thread(make_network, f"{name}-net")
    node = None
    try:
        node = await asyncio.to_thread(
            EngineNode.start,
            f"{name}-engine",
            network,
            ["-H", "unix:///var/run/docker.sock", "-H", "tcp://0.0.0.0:2375", "--live-restore"],
        )
        await asyncio.to_thread(node.load_image, TRIVIAL_IMAGE)
        # published on the node; both spawners then reach it at DOCKER_HOST's address
        config = 'c.DockerSpawner.host_ip = "0.0.0.0"\n'
        env = {"DOCKER_HOST": f"tcp://{node.ip}:2375"}
        for arm in arm_order(0):
            async with hub_session(ctx, "s15", arm, TRIVIAL_IMAGE, config, env) as (
                _hub,
                client,
                prefix,
            ):
                await client.create_users(["r"])
                await spawn_one(client, "r")
                for rep in range(ctx.reps["S15"]):
                    ctx.record("S15", arm, await s15_rep(node, client, prefix) | {"rep": rep})
                    log(f"S15 {arm} #{rep + 1}: {ctx.results['S15'][arm][-1]}")
    finally:
        if node is not None:
            await asyncio.to_thread(node.remove)
        await asyncio.to_thread(remove_network, network)


async def s15_rep(node, client: Client, prefix: str) -> dict:
    """Restart the node's engine under user r's running server, then: does the server run
    on and answer, is a kill afterwards noticed (or, if the restart took the server, its
    loss), does a new spawn work (all times in seconds)."""
    t0 = time.monotonic()
    await asyncio.to_thread(node.restart_engine, ["--live-restore"])
    back = time.monotonic()
    served = lost = None
    while time.monotonic() - back < NOTICE_CAP:
        if await client.through_proxy("r"):
            served = time.monotonic() - back
            break
        status, body = await client.request("GET", "/users/r", timeout=5)
        if status == 200 and "" not in body["servers"]:
            lost = time.monotonic() - back  # from the engine answering again
            break
        await asyncio.sleep(POLL)
    status, body = await client.request("GET", "/users/r")
    still_ready = bool(status == 200 and (body["servers"].get("") or {}).get("ready"))
    listed = await asyncio.to_thread(
        lambda: node.docker("ps", "-q", "--filter", f"name={prefix}").stdout.split()
    )
    noticed = None
    if served is not None and listed:  # it ran through the restart: is a death noticed?
        t1 = time.monotonic()
        await asyncio.to_thread(node.docker, "kill", *listed)
        noticed = await reported_stopped(client, "r", t1, NOTICE_CAP)
    if (await client.request("GET", "/users/r"))[1]["servers"].get(""):
        await client.request("DELETE", "/users/r/server")
        await reported_stopped(client, "r", time.monotonic(), 60)
    return {
        "engine_restart": back - t0,
        "ran_on": still_ready and served is not None,
        "served_after_restart": served,
        **({"kill_noticed": noticed} if served is not None else {"loss_noticed": lost}),
        "spawn_after": await spawn_one(client, "r"),
    }


# -- S16 / S17: a swarm worker freezes / shuts down -------------------------------------------


async def s16_s17(ctx) -> None:
    """One swarm of three engine-in-container nodes with the shipped stack; rep by rep a
    worker with a running server is frozen (S16), then one is shut down (S17)."""
    from tests.hubrig import BASE_IMAGE
    from tests.nodes import build_node_image

    os.environ.setdefault("HUBDIST_BASE_IMAGE", BASE_IMAGE)
    from tests.multinode.cluster import Cluster

    await asyncio.to_thread(build_node_image)
    workdir = ctx.run_dir / "s16-cluster"
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    cluster = await asyncio.to_thread(Cluster.create, f"{NAME_PREFIX}{ctx.run_id}-mn", workdir)
    ctx.note("S16", f"the swarm (3 nodes, stack deployed) took {time.monotonic() - t0:.0f} s")
    try:
        for rep in range(ctx.reps["S16"]):
            for scenario in ("S16", "S17"):
                try:
                    result = await asyncio.to_thread(node_loss_rep, cluster, scenario, rep)
                except Exception as exc:  # one failed repetition leaves the others to run
                    ctx.note(scenario, f"repetition {rep + 1} failed: {exc!r}"[:300])
                    log(f"{scenario} hubdist #{rep + 1} failed: {exc!r}")
                    continue
                ctx.record(scenario, "hubdist", result | {"rep": rep})
                log(f"{scenario} hubdist #{rep + 1}: {result}")
    finally:
        await asyncio.to_thread(cluster.remove)


def node_loss_rep(cluster, scenario: str, rep: int) -> dict:
    """Blocking: a server on a worker, the worker frozen (S16) or shut down (S17), the hub's
    API polled until it reports the server stopped; then the user starts again (elsewhere)
    and the worker comes back."""
    from tests.hubrig import docker
    from tests.multinode.cluster import start_server, wait_until

    name = f"{'fz' if scenario == 'S16' else 'sd'}{rep}"
    user = first_start(cluster, name)
    service = cluster.service(name)
    lost = next(n for n in cluster.workers if n.name == cluster.running_task(service)["Node"])
    shutdown = None
    t0 = time.monotonic()
    if scenario == "S16":
        docker("pause", lost.name)
    else:  # the machine's shutdown: its engine stops its containers, then exits
        shutdown = subprocess.Popen(["docker", "exec", lost.name, "sh", "-c", _STOP_ENGINE])
    try:
        noticed = None
        while time.monotonic() - t0 < NOTICE_CAP:
            with contextlib.suppress(Exception):
                if user.server() is None:
                    noticed = time.monotonic() - t0
                    break
            time.sleep(POLL * 2)
        t1 = time.monotonic()
        again, events = start_server(cluster, name)  # lands on the other worker
        elsewhere = time.monotonic() - t1
    finally:
        if scenario == "S16":
            docker("unpause", lost.name)
        else:
            shutdown.wait(120)
            lost.start_engine()
    wait_until(lambda: cluster.node_state(lost) == "ready", "the worker to be back", 120)
    wait_until(lambda: not cluster.user_containers(lost, name), "its old container to go", 120)
    # what a user sees of the return: a server put on that worker is ready after (s); and
    # each repetition starts from a whole swarm (the next start may land there)
    served, tries, served_slowest = served_on_return(cluster, lost, f"{name}-back")
    cluster.wait_for_anchor(lost)
    again.stop()
    return {
        "noticed": noticed,
        "start_elsewhere": elsewhere,
        "node": lost.name,
        "slowest_step": slowest_step(events, t1),
        "served_on_return": served,
        "slowest_step_on_return": served_slowest,
        "refused_on_return": tries,
    }


def served_on_return(cluster, node, suffix: str) -> tuple[float | None, int, str]:
    """From the worker's return (ready, its old container gone) until a server placed on
    it (the cluster's "on-NODE-..." placement) is ready, trying again while the hub
    refuses (its guard not found: fail closed); the refused tries; the served start's
    slowest step. None past the cap."""
    from tests.multinode.cluster import User, start_server

    short = node.name.rsplit("-", 1)[1]
    back, refused = time.monotonic(), 0
    while time.monotonic() - back < SERVED_CAP:
        try:
            asked = time.monotonic()
            user, events = start_server(cluster, f"on-{short}-{suffix}")
        except AssertionError:  # refused: the start's failure is in the hub's log
            refused += 1
            continue
        served = time.monotonic() - back
        user.stop()
        return served, refused, slowest_step(events, asked)
    with contextlib.suppress(Exception):  # a start still under way at the cap
        User(cluster, f"on-{short}-{suffix}").stop()
    return None, refused, ""


def slowest_step(events: list[dict], requested: float) -> str:
    """The progress step the start waited longest in, with that wait: where a slow start
    spent its time. A step repeated with its elapsed time ("Pulling ... (3 s)") is one."""
    waits: dict[str, float] = {}
    since, step = requested, "(the request)"
    for event in events:
        waits[step] = waits.get(step, 0.0) + event["received"] - since
        since, step = event["received"], re.sub(r" \(\d+ s\)$", "", event.get("message", "?"))
    if not waits:
        return ""
    step = max(waits, key=waits.__getitem__)
    return f"{step} ({waits[step]:.1f} s)"


def first_start(cluster, name: str):
    """The user's server before the fault, started once more if the first try broke off
    (on a loaded machine the progress stream through the swarm's proxy sometimes does)."""
    from tests.multinode.cluster import User, start_server, wait_until

    try:
        return start_server(cluster, name)[0]
    except Exception as exc:
        log(f"starting {name} before the fault failed ({exc!r}); once more")
        user = User(cluster, name)
        wait_until(lambda: not (user.server() or {}).get("pending"), "the spawn to settle", 120)
        if user.server() is None:
            return start_server(cluster, name)[0]
        return user


#: how long a repetition tries to get a server on a returned worker (s)
SERVED_CAP = 150

# what EngineNode.stop_engine runs, started without waiting for it (the test's shutdown)
_STOP_ENGINE = (
    "kill -TERM $(cat /var/run/docker.pid); while [ -e /var/run/docker.pid ]; do sleep 0.2; done"
)


# -- the report -------------------------------------------------------------------------------

#: scenario -> (figure key, what the figure is, what the docs said before it was measured)
FIGURES = {
    "S13": ("noticed", "a killed server reported stopped by the hub's API after (s)", "about 1 s"),
    "S14": (
        "routes_back",
        "proxy SIGKILLed: every route back, every server answering through it after (s); "
        "hubdist as deployed (`hubdist proxy` restarts CHP and puts back the routes it "
        "relayed), dockerspawner with CHP started by the hub (checked every 5 s)",
        "about 15 s",
    ),
    "S15": (
        "kill_noticed",
        "engine restarted (live-restore): a kill after the restart noticed after (s)",
        "followed from events",
    ),
    "S16": ("noticed", "swarm worker frozen: its server reported stopped after (s)", "2.6-3.6 s"),
    "S17": (
        "noticed",
        "swarm worker shut down: its server reported stopped after (s)",
        "about 6 s",
    ),
}


def samples(results: dict, scenario: str, key: str) -> dict[str, list[float]]:
    return {
        arm: [run[key] for run in runs if run.get(key) is not None]
        for arm, runs in results.get(scenario, {}).items()
    }


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return (
        f"{median(values):.2f} / {percentile(values, 95):.2f} / {max(values):.2f} (n={len(values)})"
    )


def missed(results: dict, scenario: str, key: str, arm: str) -> int:
    return sum(
        1 for run in results.get(scenario, {}).get(arm, []) if key in run and run[key] is None
    )


def rows_of(scenario: str):
    def rows(results: dict, n: dict) -> list:
        from .report import Row

        key, figure, said = FIGURES[scenario]
        found = samples(results, scenario, key)
        out = [
            Row(
                scenario,
                f"{figure}: median / p95 / max",
                spread(found.get("hubdist", [])),
                spread(found.get("dockerspawner", [])) if "dockerspawner" in found else "-",
                target=f"docs said {said}",
            )
        ]
        lost = [missed(results, scenario, key, arm) for arm in ("hubdist", "dockerspawner")]
        if any(lost):
            out.append(
                Row(
                    scenario,
                    f"… not followed within {NOTICE_CAP} s (repetitions)",
                    *(str(n) for n in lost),
                )  # fmt: skip
            )
        if scenario == "S14" and HUB_STARTED in found:
            out.append(
                Row(
                    scenario,
                    "… hubdist's spawner, proxy started by the hub (as dockerspawner)",
                    spread(found[HUB_STARTED]),
                    "",
                )  # fmt: skip
            )
        if scenario == "S14" and NEW_PROXY in found:
            out.append(
                Row(
                    scenario,
                    "… a new `hubdist proxy` (a new proxy container, empty table): from its "
                    "start until every server answers through it (s)",
                    spread(found[NEW_PROXY]),
                    "",
                )  # fmt: skip
            )
        if scenario == "S15":
            kept = [
                f"{sum(bool(r.get('ran_on')) for r in runs)} of {len(runs)}"
                for runs in (results[scenario].get(a, []) for a in ("hubdist", "dockerspawner"))
            ]
            out.append(
                Row(scenario, "… the server ran on through the restart (ready, answering)", *kept)
            )
            extra = {
                "engine_restart": "… the engine's restart itself (stop, start, answering) (s)",
                "served_after_restart": "… the server answering through the proxy after it (s)",
                "loss_noticed": "… a server the restart took: reported stopped after (s, from the "
                "engine answering)",
                "spawn_after": "… a new spawn after that: ready after (s)",
            }
            for extra_key, text in extra.items():
                more = samples(results, scenario, extra_key)
                out.append(
                    Row(
                        scenario,
                        text,
                        spread(more.get("hubdist", [])),
                        spread(more.get("dockerspawner", [])),
                    )  # fmt: skip
                )
        if scenario in ("S16", "S17"):
            node_rows = {
                "start_elsewhere": "… the user's next start, on the other worker: ready after (s)",
                "served_on_return": "… the worker back: a server placed on it ready after (s)",
            }
            for extra_key, text in node_rows.items():
                more = samples(results, scenario, extra_key)
                out.append(Row(scenario, text, spread(more.get("hubdist", [])), "not run"))
            unserved = missed(results, scenario, "served_on_return", "hubdist")
            if unserved:
                out.append(
                    Row(
                        scenario,
                        f"… no server on the returned worker within {SERVED_CAP} s (repetitions)",
                        str(unserved),
                        "",
                    )  # fmt: skip
                )
        return out

    return rows


ROWS = {scenario: rows_of(scenario) for scenario in FIGURES}


def figures(directory: Path, results: dict) -> list[str]:
    """A PNG per latency scenario measured, next to RESULTS.md; markdown lines linking them."""
    from . import plots

    lines = []
    for scenario, (key, figure, _said) in FIGURES.items():
        found = {arm: values for arm, values in samples(results, scenario, key).items() if values}
        if not found:
            continue
        title = textwrap.fill(f"{scenario}: {figure.split(';')[0]}", 55)
        png = plots.distributions(directory / f"latency-{scenario.lower()}.png", title, found)
        lines.append(f"![{scenario}: {figure}]({png})")
    return lines


SCENARIOS = {"S13": s13, "S14": s14, "S15": s15, "S16": s16_s17}  # S16 and S17 share a swarm
COVERS = {"S13": ["S13"], "S14": ["S14"], "S15": ["S15"], "S16": ["S16", "S17"]}
