"""The results table (printed and written to RESULTS.md) and the raw figures (results.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import latency
from .rig import STALL_LOGGED, median
from .scenarios import COVERS, GRACE, POLL_INTERVAL, PULL_RATE, STOP_CAP
from .startup import figures as s12_figures
from .startup import rows as s12_rows

NOTES_MARKER = "<!-- Everything below this line is kept when the benchmark rewrites this file. -->"
HD, DS = "hubdist", "dockerspawner"


@dataclass
class Row:
    scenario: str
    figure: str
    hubdist: str
    dockerspawner: str
    ratio: str = ""
    target: str = ""
    verdict: str = ""


def f(value, digits: int = 1, unit: str = "") -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def ratio(a, b, digits: int = 2) -> str:
    return f"{a / b:.{digits}f}×" if a is not None and b and a >= 0 and b > 0 else "-"


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "**missed**")


def pick(results: dict, scenario: str, arm: str, key: str, sub: str | None = None):
    """Median over repetitions of one figure (None if missing in any)."""
    runs = results.get(scenario, {}).get(arm, [])
    values = []
    for run in runs:
        value = run.get(sub, {}).get(key) if sub else run.get(key)
        if value is None:
            return None
        values.append(value)
    return median(values)


def others_row(results: dict, scenario: str, sub: str | None = None) -> Row:
    """How much CPU the rest of the machine took while the spawns ran (noise)."""
    cells = []
    for arm in (HD, DS):
        others = pick(results, scenario, arm, "cpu_others_s", sub)
        machine = pick(results, scenario, arm, "cpu_machine_s", sub)
        cells.append(f"{others:.0f} of {machine:.0f}" if others is not None and machine else "-")
    return Row(
        scenario,
        "… CPU seconds not used by this benchmark (hub, proxy, engine, its containers, "
        "client), of all CPU seconds used, meanwhile"
        + ({"alone": " (without the pull)", "during": " (during the pull)"}.get(sub or "", "")),
        *cells,
    )


def both(results: dict, scenario: str, key: str, sub: str | None = None) -> tuple:
    """One figure's median for hubdist and for dockerspawner."""
    return pick(results, scenario, HD, key, sub), pick(results, scenario, DS, key, sub)


def compared(
    results: dict,
    scenario: str,
    key: str,
    figure: str,
    sub: str | None = None,
    digits: int = 1,
    unit: str = "",
    target: str = "",
    met=None,
) -> Row:
    """One figure for both spawners and their ratio; met(a, b) judges the target."""
    a, b = both(results, scenario, key, sub)
    judged = verdict(met(a, b) if a is not None else None) if met else ""
    cells = f(a, digits, unit), f(b, digits, unit)
    return Row(scenario, figure, *cells, "" if unit else ratio(a, b), target, judged)


def uncompared(results: dict, scenario: str, key: str, figure: str) -> Row:
    """One figure for both spawners, without a ratio."""
    return Row(scenario, figure, *(f(value) for value in both(results, scenario, key)))


def floor(
    results: dict,
    scenario: str,
    figure: str,
    key: str = "wall",
    sub: str | None = None,
    digits: int = 1,
    unit: str = "",
) -> list[Row]:
    """The same figure without any hub (one value, shown for both); none if not measured."""
    fl = pick(results, scenario, "floor", key, sub)
    return [] if fl is None else [Row(scenario, figure, *[f(fl, digits, unit)] * 2)]


def stall_row(results: dict, scenario: str) -> list[Row]:
    """How long the hub's event loop could not answer meanwhile (JupyterHub's own measure,
    stalls of STALL_LOGGED s or more): a hub that stalls delays every other request."""
    cells = []
    for arm in (HD, DS):
        total, longest, count = (
            pick(results, scenario, arm, key)
            for key in ("loop_stalled_s", "loop_stall_max", "loop_stalls")
        )
        cells.append("-" if total is None else f"{total:.1f} ({longest:.2f}; {count:.0f})")
    if cells == ["-", "-"]:
        return []  # a run from before the benchmark measured it
    return [Row(
        scenario,
        f"… the hub's event loop unresponsive meanwhile, in stalls of {STALL_LOGGED} s or "
        "more: total s (longest; how many)",
        *cells,
    )]  # fmt: skip


def spawn_floor(results: dict, scenario: str, count: int) -> list[Row]:
    return floor(
        results,
        scenario,
        f"floor, no hub (same for both): the same {count} containers made and "
        "started at once through the Docker API, wall until all answer (s)",
    )


def started_last(results: dict, scenario: str) -> Row:
    """When the engine had started the last container, for both spawners and the floor."""
    fl = pick(results, scenario, "floor", "started_last")
    return compared(
        results,
        scenario,
        "started_last",
        f"… the engine had started the last container after (s; floor {f(fl)})",
    )


def walls_over_floor(results: dict, scenario: str) -> list[str]:
    """Each spawner's spawn wall over the floor's, as ratio cells."""
    fl = pick(results, scenario, "floor", "wall")
    return [ratio(wall, fl) for wall in both(results, scenario, "wall")]


def alone_and_during(results: dict, arm: str, key: str, digits: int = 1) -> str:
    """An S4 figure without the pull and during it, as one cell."""
    alone = pick(results, "S4", arm, key, "alone")
    during = pick(results, "S4", arm, key, "during")
    return f"{f(alone, digits)} / {f(during, digits)}"


def s1_lab_spawns(results: dict, n: dict) -> list[Row]:
    rows = [
        compared(
            results, "S1", "wall", f"{n['S1']} JupyterLab spawns at once: wall until all ready (s)"
        )
    ]
    rows += [compared(results, "S1", q, f"… {q} time to ready (s)") for q in ("p50", "p95")]
    rows += [others_row(results, "S1"), started_last(results, "S1")]
    rows += spawn_floor(results, "S1", n["S1"])
    rows.append(floor_target_row(results, "S1", "wall ÷ floor", 1.1))
    return rows


def floor_target_row(results: dict, scenario: str, figure: str, limit: float) -> Row:
    """Each spawner's wall over the floor's, judged against hubdist ≤ ``limit``× the floor."""
    a, fl = pick(results, scenario, HD, "wall"), pick(results, scenario, "floor", "wall")
    within = a / fl <= limit if a is not None and fl else None
    cells = walls_over_floor(results, scenario)
    return Row(scenario, figure, *cells, "", f"hubdist ≤ {limit:g}×", verdict(within))


def s1s_single_spawn(results: dict, n: dict) -> list[Row]:
    from .scenarios import SINGLE_SPAWNS

    return [
        compared(
            results,
            "S1s",
            "wall",
            f"S1': one JupyterLab spawn with nothing else running: time to ready (s; median of "
            f"{SINGLE_SPAWNS} one after another, each stopped before the next)",
        ),
        *floor(
            results,
            "S1s",
            "floor, no hub (same for both): the same container made and started through the "
            "Docker API, until its server answers (s)",
            digits=2,
        ),
        floor_target_row(results, "S1s", "… time to ready ÷ floor", 1.05),
    ]


def s2_trivial_spawns(results: dict, n: dict) -> list[Row]:
    rows = [
        compared(
            results,
            "S2",
            "wall",
            f"{n['S2']} trivial spawns at once: wall until all ready (s)",
            target="≤ 0.3×",
            met=lambda a, b: a / b <= 0.3 if b else None,
        ),
        compared(results, "S2", "p50", "… p50 time to ready (s)"),
        started_last(results, "S2"),
        *spawn_floor(results, "S2", n["S2"]),
    ]
    if pick(results, "S2", "floor", "wall") is not None:
        rows.append(Row("S2", "… spawn wall ÷ floor", *walls_over_floor(results, "S2")))
    rows.append(compared(results, "S2", "hub_cpu_s", "… hub CPU time for the whole storm (s)"))
    rows += stall_row(results, "S2")
    rows.append(others_row(results, "S2"))
    return rows


def s3a_lab_stops(results: dict, n: dict) -> list[Row]:
    return [
        compared(
            results,
            "S3a",
            "wall",
            f"stopping {n['S3a']} JupyterLab servers at once: wall until all "
            "are stopped and their containers removed (s)",
            target="≤ 0.15×",
            met=lambda a, b: a / b <= 0.15 if b else None,
        ),
        *floor(
            results,
            "S3a",
            f"floor, no hub (same for both): the S1 floor's {n['S3a']} containers "
            "stopped and removed at once through the Docker API (s)",
        ),
        *stall_row(results, "S3a"),
    ]


def stop_wall_or_cap(results: dict, arm: str, wall) -> str:
    """An S3b stop's wall, or what the stop cap left of it when the stop did not finish."""
    if wall is not None:
        return f(wall)
    run = (results["S3b"].get(arm) or [{}])[-1]
    if not run:
        return "-"
    return f"> {STOP_CAP} (cap; {run.get('stopped_by_cap')} of {run.get('n')} stopped)"


def s3b_stubborn_stops(results: dict, n: dict) -> list[Row]:
    a, b = both(results, "S3b", "wall")
    ok = a <= GRACE + 5 if a is not None else (False if results["S3b"].get(HD) else None)
    r = ratio(a, b) if b is not None else (f"< {a / STOP_CAP:.2f}×" if a is not None else "-")
    return [
        Row(
            "S3b",
            f"stopping {n['S3b']} servers whose PID 1 ignores SIGTERM (grace "
            f"{GRACE} s) at once: wall until all gone (s)",
            stop_wall_or_cap(results, HD, a),
            stop_wall_or_cap(results, DS, b),
            r,
            f"hubdist ≤ grace + 5 s = {GRACE + 5} s",
            verdict(ok),
        ),
        *floor(
            results,
            "S3b",
            f"floor, no hub (same for both): {n['S3b']} such containers stopped and "
            "removed at once through the Docker API (s)",
        ),
        *stall_row(results, "S3b"),
    ]


def s4_spawns_during_pull(results: dict, n: dict) -> list[Row]:
    fa = pick(results, "S4", "floor", "p50", "alone")
    fd = pick(results, "S4", "floor", "p50", "during")
    return [
        compared(
            results, "S4", "p50", "5 JupyterLab spawns, median time to ready, alone (s)", "alone"
        ),
        compared(
            results,
            "S4",
            "p50",
            f"… while another user's spawn pulls a 400 MB layer at {PULL_RATE / 1e6:.0f} MB/s (s)",
            "during",
        ),
        compared(
            results,
            "S4",
            "ratio",
            "… slowdown (during ÷ alone)",
            digits=2,
            unit="×",
            target="hubdist ≤ 1.15×",
            met=lambda a, b: a <= 1.15,
        ),
        *floor(
            results,
            "S4",
            "floor, no hub (same for both): the 5 containers started through the "
            f"Docker API, median alone {f(fa)} s, during `docker pull` {f(fd)} s: slowdown",
            "ratio",
            digits=2,
            unit="×",
        ),
        others_row(results, "S4", "alone"),
        others_row(results, "S4", "during"),
        Row(
            "S4",
            "… the engine had started the 5 containers after (s): alone / during the pull",
            *(alone_and_during(results, arm, "started_last") for arm in (HD, DS)),
        ),
        Row(
            "S4",
            "… CPU seconds the machine used: alone / from the pull's start until all were "
            "ready (of which dockerd + containerd)",
            *(
                f"{alone_and_during(results, arm, 'cpu_machine_s', 0)} "
                f"(engine {f(pick(results, 'S4', arm, 'cpu_engine_s', 'during'), 0)})"
                for arm in (HD, DS)
            ),
        ),
        compared(results, "S4", "puller_seconds", "… the pulling user's own time to ready (s)"),
    ]


def s5_docker_calls(results: dict, n: dict) -> list[Row]:
    a10 = pick(results, "S5", HD, "calls_per_interval_10")
    small = pick(results, "S5", HD, "n_small") or pick(results, "S5", DS, "n_small")
    total = pick(results, "S5", HD, "n_total") or pick(results, "S5", DS, "n_total")
    return [
        compared(
            results,
            "S5",
            "calls_per_interval_10",
            f"Docker API calls per poll interval ({POLL_INTERVAL} s), {small} running servers",
        ),
        compared(
            results,
            "S5",
            "calls_per_interval_50",
            f"… {total} running servers",
            target="hubdist constant (≤ the 10-server figure + 1)",
            met=lambda a, b: a <= a10 + 1 if a10 is not None else None,
        ),
        compared(
            results, "S5", "calls_per_spawn_50", "Docker API calls per spawn (trivial server)"
        ),
        compared(
            results,
            "S5",
            "calls_per_stop",
            f"… per stop ({total} stopped at once, after S6's hub restarts)",
        ),
    ]


def initialized_seconds(results: dict, arm: str) -> float | None:
    """The X of the restarted hub's log line "Initialized N spawners in X seconds" (median)."""
    runs = results["S6"].get(arm, [])
    return median([run["initialized"][1] for run in runs if run.get("initialized")])


def s6_hub_restart(results: dict, n: dict) -> list[Row]:
    total = pick(results, "S6", HD, "n") or pick(results, "S6", DS, "n")
    a, b = (initialized_seconds(results, arm) for arm in (HD, DS))
    lost_hd, lost_ds = both(results, "S6", "lost")
    return [
        compared(
            results,
            "S6",
            "api_after",
            f"hub restart with {total} running servers: /hub/api answers "
            "after (s from process start)",
        ),
        compared(
            results,
            "S6",
            "all_verified_after",
            "… every server ready in the API and answering through the proxy after (s)",
        ),
        uncompared(
            results,
            "S6",
            "empty_start",
            "… the same hub's first start, no servers: /hub/api after (s)",
        ),
        compared(
            results,
            "S6",
            "reconcile",
            "… reconcile: from the restarted hub's first log line (its code imported) "
            "until every server is verified (s)",
            target="hubdist < 2 s",
            met=lambda a, b: a < 2,
        ),
        uncompared(
            results,
            "S6",
            "empty_start_after_imports",
            "… the same, first start with no servers: first log line until /hub/api (s)",
        ),
        Row(
            "S6",
            '… hub log: "Initialized N spawners in X seconds" (X)',
            f(a, 3),
            f(b, 3),
            ratio(a, b),
            "hubdist < 2 s",
            verdict(a < 2 if a is not None else None),
        ),
        Row(
            "S6",
            "… servers lost",
            f(lost_hd, 0),
            f(lost_ds, 0),
            "",
            "0",
            verdict(lost_hd == 0 if lost_hd is not None else None),
        ),
    ]


def s7_hub_memory(results: dict, n: dict) -> list[Row]:
    total = pick(results, "S5", HD, "n_total") or 50
    return [
        compared(
            results,
            "S7",
            "rss_50",
            f"hub resident memory with {total} running servers (MB)",
            digits=0,
        ),
        compared(results, "S7", "rss_0", "… with no servers (MB)", digits=0),
    ]


def growth_rows(scenario: str):
    """S8-S11's rows, made in benchmarks/scale.py (imported when needed: it uses this module)."""

    def rows(results: dict, n: dict) -> list[Row]:
        from .scale import ROWS

        return ROWS[scenario](results, n)

    return rows


# the table's scenarios, in the table's order, each with the function making its rows
SCENARIO_ROWS = {
    "S2": s2_trivial_spawns,
    "S3a": s3a_lab_stops,
    "S3b": s3b_stubborn_stops,
    "S5": s5_docker_calls,
    "S6": s6_hub_restart,
    "S7": s7_hub_memory,
    "S1": s1_lab_spawns,
    "S1s": s1s_single_spawn,
    "S4": s4_spawns_during_pull,
    **latency.ROWS,  # S13-S17
    **{scenario: growth_rows(scenario) for scenario in ("S8", "S10", "S9", "S11")},
    "S12": s12_rows,
}


def build_rows(results: dict, n: dict) -> list[Row]:
    """The table's rows for the scenarios in results; n: the server counts of S1-S3b."""
    rows: list[Row] = []
    for scenario, rows_of in SCENARIO_ROWS.items():
        if scenario in results:
            rows += rows_of(results, n)
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| | figure | hubdist | dockerspawner 14 | hubdist ÷ dockerspawner | target | |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.scenario} | {r.figure} | {r.hubdist} | {r.dockerspawner} | "
            f"{r.ratio} | {r.target} | {r.verdict} |"
        )
    return "\n".join(lines)


def plain_table(rows: list[Row]) -> str:
    """For the terminal."""
    out = []
    for r in rows:
        figure = r.figure if len(r.figure) <= 70 else r.figure[:67] + "..."
        out.append(
            f"{r.scenario:<4} {figure:<70} {r.hubdist:>10} {r.dockerspawner:>12} "
            f"{r.ratio:>8}  {r.target} {r.verdict.strip('*')}"
        )
    header = f"{'':<4} {'figure':<70} {'hubdist':>10} {'dockerspwn':>12} {'ratio':>8}  target"
    return "\n".join([header, "-" * len(header), *out])


def write(
    path: Path,
    *,
    rows,
    machine,
    load,
    notes,
    not_done,
    results,
    duration,
    command,
    scale,
    plots=(),
) -> None:
    """plots: (scenario, markdown) blocks a scenario added (Context.plot), PNGs beside path."""
    kept = ""
    if path.exists():
        old = path.read_text()
        if NOTES_MARKER in old:
            kept = old.split(NOTES_MARKER, 1)[1]
    m = machine
    again = [
        f"{', '.join(e['scenarios'])} again on {e['date']} at hubdist {e['hubdist_commit']}"
        for e in m.get("remeasured", [])
    ]
    lines = [
        "# Benchmark results: hubdist vs dockerspawner 14",
        "",
        f"Written by `{command}`: the run of {m['date']}"
        + "".join(f"; {text}" for text in again)
        + f" ({duration / 60:.1f} min of measuring in all)."
        + (
            f" **Scaled run (--scale {scale}): counts are smaller than the issue's.**"
            if scale != 1
            else ""
        ),
        "Both spawners ran on the same JupyterHub, proxy, images and machine, one after the "
        "other, alternating which went first. See README.md here for what each scenario does.",
        "",
        "## Figures",
        "",
        table(rows),
        "",
        "Ratios are hubdist ÷ dockerspawner (lower is better for hubdist).",
        "",
        *plot_section(
            plots, [*s12_figures(results, path.parent), *latency.figures(path.parent, results)]
        ),
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPUs | {m['cpus']} × {m['cpu_model']} |",
        f"| memory | {m['memory_gib']} GiB |",
        f"| kernel | {m['kernel']} |",
        f"| Docker | engine {m['docker_server']} (client {m['docker_client']}), "
        f"{m['storage_driver']}, cgroup {m['cgroup']}, swarm {m['swarm']} |",
        f"| software | Python {m['python']}, JupyterHub {m['jupyterhub']}, configurable-http-proxy "
        f"{m['chp']}, dockerspawner {m['dockerspawner']}, hubdist {m['hubdist_commit']} |",
        f"| date | {m['date']}" + "".join(f"; {text}" for text in again) + " |",
        f"| before the run | {m['other_containers_at_start']} containers of others running; "
        f"CPU {m['idle_cpu_busy']:.0f}% busy over 5 s while the benchmark did nothing; "
        f"load average {m['loadavg_start']} |",
        "",
        "## Load during the run",
        "",
        "1-minute load average and CPU busy (whole machine, sampled every 2 s) while each "
        "scenario ran. On 2 CPUs a load above 2 means processes waited for a CPU; the load "
        "counts the benchmark's own servers too (20 JupyterLab servers starting push it "
        "past 15). Other work on the machine (other helpers' tests) is measured directly by "
        'the rows "CPU seconds not used by this benchmark" above.',
        "",
        "| scenarios | load avg (mean / max) | CPU busy (mean) |",
        "|---|---|---|",
    ]
    for key, span in load.items():
        if span:
            lines.append(
                f"| {', '.join(COVERS[key])} | {span['load1_mean']:.2f} / "
                f"{span['load1_max']:.2f} | {span['cpu_busy_mean']:.0f}% |"
            )
    if not_done:
        lines += ["", "## Not done", ""]
        lines += [f"- {scenario}: {why}" for scenario, why in not_done.items()]
    if notes:
        lines += ["", "## Observations recorded by the run", ""]
        for scenario, texts in notes.items():
            lines += [f"- {scenario}: {t}" for t in texts]
    lines += ["", *s12_figures(results, path.parent)]
    lines += ["", "## Details", ""]
    lines += details(results)
    lines += ["", NOTES_MARKER]
    path.write_text("\n".join(lines) + (kept if kept else "\n"))


def plot_section(plots, drawn_here: list[str]) -> list[str]:
    """The Plots section: the image lines of the scenarios that draw theirs from the results
    (``drawn_here``), then each block a scenario added while it ran (image links with what
    they show)."""
    if not plots and not drawn_here:
        return []
    lines = ["## Plots", "", *drawn_here, ""]
    for scenario, markdown in plots:
        lines += [f"**{scenario}**: {markdown}", ""]
    return lines


def details(results: dict) -> list[str]:
    out = []
    for scenario, arms in results.items():
        for arm, runs in arms.items():
            for i, run in enumerate(runs):
                short = {k: v for k, v in run.items() if not k.startswith("calls_by_endpoint")}
                out.append(f"- {scenario} {arm} #{i + 1}: `{json.dumps(clean(short))}`")
                for key, value in run.items():
                    if key.startswith("calls_by_endpoint"):
                        top = ", ".join(f"{k} ×{v}" for k, v in list(value.items())[:6])
                        out.append(f"  - Docker calls in the window ({key[-2:]}): {top}")
    return out


def clean(value, digits: int = 3):
    """Floats rounded, for reading."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: clean(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v, digits) for v in value]
    return value


def dump_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(clean(payload), indent=1) + "\n")
