"""S12 (issue 16 §2): what a JupyterLab server costs to start, in hubdist's single-user image
and in the image a user would build without hubdist (the same base, ``pip install
jupyterhub jupyterlab`` at the same versions: ``images/Dockerfile.baseline-lab``).

Both images are started the way the floor of S1 starts them (``scenarios.floor``: straight
through the Docker API, a stub answering the servers' start-up check of their hub), so no
spawner is measured, only the image: one server alone, a few times, then 20 at once. The
figures are CPU-seconds the containers used until their servers answered (cgroup
accounting, so other work on the machine does not count) and the wall time to ready.
"""

from __future__ import annotations

from pathlib import Path

from . import plots, prepare
from .prepare import BASE_IMAGE, BASELINE_DOCKERFILE, LAB_IMAGE, log
from .rig import median
from .scenarios import Context, floor

BASELINE_IMAGE = "hubdist-bench-baseline-lab:1"
ARMS = {"hubdist": LAB_IMAGE, "baseline": BASELINE_IMAGE}
SHORT = {"hubdist": "hd", "baseline": "bl"}
SINGLES = 3  # single starts per image and repetition (each takes a few seconds)
STORM = 20  # servers started at once, before --scale
TARGET = 0.5  # issue 16: hubdist's CPU-seconds per start ≤ 0.5× the baseline's


def ensure_baseline_image() -> None:
    """Build the baseline image once (again when its Dockerfile, base or versions change)."""
    dockerfile = prepare.HERE / "images" / BASELINE_DOCKERFILE
    base_id = prepare.docker("image", "inspect", "--format", "{{.Id}}", BASE_IMAGE).stdout
    versions = prepare.baseline_build_args(BASE_IMAGE)
    source = prepare._source_hash(base_id.strip(), dockerfile.read_text(), repr(versions))
    prepare._build(BASELINE_IMAGE, BASELINE_DOCKERFILE, versions, source)


def per_start(data: dict) -> dict:
    """A floor's figures with the CPU per start: each container's own, read the moment its
    server answered (``cpu_at_ready``). The containers' CPU read once all had answered,
    divided over them (``cpu_per_start_at_end``), also holds what the first ready did
    after that, while waiting for the last: kept to compare with runs before 2026-11-27."""
    at_ready, n = data.get("cpu_at_ready") or [], data["n"]
    at_end = data.get("cpu_containers_s")
    return {
        **data,
        "cpu_per_start": sum(at_ready) / n if n and len(at_ready) == n else None,
        "cpu_per_start_at_end": at_end / n if at_end is not None and n else None,
    }


def singles_summary(runs: list[dict]) -> dict:
    """Several single starts: medians, and every sample for the plots."""
    ok = [r for r in runs if r.get("wall") is not None]
    cpu = [r["cpu_at_ready"][0] for r in ok]
    wall = [r["wall"] for r in ok]
    return {
        "n": len(runs),
        "failed": len(runs) - len(ok),
        "failures": [f for r in runs for f in r.get("failures", [])][:3],
        "cpu_per_start": median(cpu),
        "wall": median(wall),
        "cpu_samples": cpu,
        "wall_samples": wall,
    }


async def s12(ctx: Context) -> None:
    ensure_baseline_image()
    n = ctx.n(STORM)
    for rep in range(ctx.reps.get("S12", 1)):
        order = list(ARMS) if rep % 2 == 0 else list(reversed(ARMS))
        for arm in order:
            image, short = ARMS[arm], SHORT[arm]
            log(f"S12 rep {rep + 1}: {arm} image ({image}), {SINGLES} single starts, then {n}")
            singles = [
                await floor(ctx, image, 1, f"s12-{short}-one{rep}{i}", lab=True)
                for i in range(SINGLES)
            ]
            storm = await floor(ctx, image, n, f"s12-{short}-many{rep}", lab=True)
            ctx.record("S12", arm, {"single": singles_summary(singles), "storm": per_start(storm)})


def rows(results: dict, n: dict) -> list:
    """S12's rows of the results table: the baseline image stands in the second column."""
    from .report import Row, f, pick, ratio, verdict  # report imports this module

    def row(figure: str, key: str, sub: str, digits: int = 1, target: str = "", met=None):
        a, b = (pick(results, "S12", arm, key, sub) for arm in ARMS)
        judged = verdict(met(a, b) if a is not None and b else None) if met else ""
        return Row("S12", figure, f(a, digits), f(b, digits), ratio(a, b), target, judged)

    within = lambda a, b: a / b <= TARGET  # noqa: E731
    goal = f"hubdist ≤ {TARGET}× baseline"
    count = n.get("S12", STORM)
    return [
        row(
            "JupyterLab image start, alone (right column: the pip-install baseline image, "
            "not dockerspawner): container CPU-seconds to ready",
            "cpu_per_start",
            "single",
            2,
            goal,
            within,
        ),
        row("… wall to ready (s)", "wall", "single"),
        row(
            f"{count} starts at once: container CPU-seconds per start, each read when its "
            "server answered",
            "cpu_per_start",
            "storm",
            2,
            goal,
            within,
        ),
        row(
            "… the same, the containers' CPU read once all were ready (the method of runs "
            "before 2026-11-27: it adds what the first ready did while the last started)",
            "cpu_per_start_at_end",
            "storm",
            2,
        ),
        row(f"… wall until all {count} ready (s)", "wall", "storm"),
        row("… p50 time to ready (s)", "p50", "storm"),
    ]


def figures(results: dict, directory: Path) -> list[str]:
    """The S12 plots as PNGs in directory; markdown lines linking them (none without S12)."""
    arms = results.get("S12")
    if not arms:
        return []
    labels = {"hubdist": "hubdist image", "baseline": "pip-install image"}

    def samples(sub: str, key: str) -> dict[str, list[float]]:
        return {
            labels[arm]: [v for run in runs for v in run.get(sub, {}).get(key) or []]
            for arm, runs in arms.items()
        }

    alone, at_once = samples("single", "cpu_samples"), samples("storm", "cpu_at_ready")
    cpu = plots.distributions(
        directory / "s12-cpu-per-start.png",
        "S12: CPU-seconds for one JupyterLab server to get ready, alone and started at once",
        {
            **{f"{arm}, alone": values for arm, values in alone.items()},
            **{f"{arm}, at once": values for arm, values in at_once.items()},
        },
        unit="CPU-seconds",
    )
    ready = plots.distributions(
        directory / "s12-time-to-ready.png",
        "S12: time to ready, servers started at once",
        samples("storm", "times"),
    )
    return [
        f"![S12 CPU per start]({cpu})",
        "",
        f"![S12 time to ready]({ready})",
        "",
    ]
