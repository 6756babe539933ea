"""The results table (printed and written to RESULTS.md) and the raw figures (results.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .rig import median
from .scenarios import COVERS, GRACE, POLL_INTERVAL, PULL_RATE, STOP_CAP

NOTES_MARKER = "<!-- Everything below this line is kept when the benchmark rewrites this file. -->"


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
    for arm in ("hubdist", "dockerspawner"):
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


def build_rows(results: dict, n: dict) -> list[Row]:
    R = results
    hd, ds = "hubdist", "dockerspawner"

    def both(scenario, key, sub=None):
        return pick(R, scenario, hd, key, sub), pick(R, scenario, ds, key, sub)

    def compared(scenario, key, figure, sub=None, digits=1, unit="", target="", met=None):
        """One figure for both spawners and their ratio; met(a, b) judges the target."""
        a, b = both(scenario, key, sub)
        judged = verdict(met(a, b) if a is not None else None) if met else ""
        cells = f(a, digits, unit), f(b, digits, unit)
        return Row(scenario, figure, *cells, "" if unit else ratio(a, b), target, judged)

    def floor(scenario, figure, key="wall", sub=None, digits=1, unit=""):
        """The same figure without any hub (one value, shown for both)."""
        fl = pick(R, scenario, "floor", key, sub)
        return [] if fl is None else [Row(scenario, figure, *[f(fl, digits, unit)] * 2)]

    def started_last(scenario):
        fl = pick(R, scenario, "floor", "started_last")
        return compared(
            scenario,
            "started_last",
            f"… the engine had started the last container after (s; floor {f(fl)})",
        )

    def floor_of_spawns(scenario):
        return floor(
            scenario,
            f"floor, no hub (same for both): the same {n[scenario]} containers made and "
            "started at once through the Docker API, wall until all answer (s)",
        )

    rows: list[Row] = []
    if "S1" in R:
        rows.append(
            compared("S1", "wall", f"{n['S1']} JupyterLab spawns at once: wall until all ready (s)")
        )
        rows += [compared("S1", q, f"… {q} time to ready (s)") for q in ("p50", "p95")]
        rows += [others_row(R, "S1"), started_last("S1"), *floor_of_spawns("S1")]
        a, b = both("S1", "wall")
        fl = pick(R, "S1", "floor", "wall")
        ok = a / fl <= 1.1 if a is not None and fl else None
        rows.append(
            Row("S1", "wall ÷ floor", ratio(a, fl), ratio(b, fl), "", "hubdist ≤ 1.1×", verdict(ok))
        )
    if "S2" in R:
        rows.append(
            compared(
                "S2",
                "wall",
                f"{n['S2']} trivial spawns at once: wall until all ready (s)",
                target="≤ 0.3×",
                met=lambda a, b: a / b <= 0.3 if b else None,
            )
        )
        rows += [compared("S2", "p50", "… p50 time to ready (s)"), started_last("S2")]
        rows += floor_of_spawns("S2")
        fl = pick(R, "S2", "floor", "wall")
        if fl is not None:
            a, b = both("S2", "wall")
            rows.append(Row("S2", "… spawn wall ÷ floor", ratio(a, fl), ratio(b, fl)))
        rows.append(compared("S2", "hub_cpu_s", "… hub CPU time for the whole storm (s)"))
        rows.append(others_row(R, "S2"))
    if "S3a" in R:
        rows.append(
            compared(
                "S3a",
                "wall",
                f"stopping {n['S3a']} JupyterLab servers at once: wall until all "
                "are stopped and their containers removed (s)",
                target="≤ 0.15×",
                met=lambda a, b: a / b <= 0.15 if b else None,
            )
        )
        rows += floor(
            "S3a",
            f"floor, no hub (same for both): the S1 floor's {n['S3a']} containers "
            "stopped and removed at once through the Docker API (s)",
        )
    if "S3b" in R:
        a, b = both("S3b", "wall")

        def capped(arm, value):
            if value is not None:
                return f(value)
            run = (R["S3b"].get(arm) or [{}])[-1]
            if not run:
                return "-"
            return f"> {STOP_CAP} (cap; {run.get('stopped_by_cap')} of {run.get('n')} stopped)"

        ok = a <= GRACE + 5 if a is not None else (False if R["S3b"].get(hd) else None)
        r = ratio(a, b) if b is not None else (f"< {a / STOP_CAP:.2f}×" if a is not None else "-")
        rows.append(
            Row(
                "S3b",
                f"stopping {n['S3b']} servers whose PID 1 ignores SIGTERM (grace "
                f"{GRACE} s) at once: wall until all gone (s)",
                capped(hd, a),
                capped(ds, b),
                r,
                f"hubdist ≤ grace + 5 s = {GRACE + 5} s",
                verdict(ok),
            )
        )
        rows += floor(
            "S3b",
            f"floor, no hub (same for both): {n['S3b']} such containers stopped and "
            "removed at once through the Docker API (s)",
        )
    if "S4" in R:
        rows.append(
            compared("S4", "p50", "5 JupyterLab spawns, median time to ready, alone (s)", "alone")
        )
        rows.append(
            compared(
                "S4",
                "p50",
                f"… while another user's spawn pulls a 400 MB layer at "
                f"{PULL_RATE / 1e6:.0f} MB/s (s)",
                "during",
            )
        )
        rows.append(
            compared(
                "S4",
                "ratio",
                "… slowdown (during ÷ alone)",
                digits=2,
                unit="×",
                target="hubdist ≤ 1.15×",
                met=lambda a, b: a <= 1.15,
            )
        )
        fa = pick(R, "S4", "floor", "p50", "alone")
        fd = pick(R, "S4", "floor", "p50", "during")
        rows += floor(
            "S4",
            "floor, no hub (same for both): the 5 containers started through the "
            f"Docker API, median alone {f(fa)} s, during `docker pull` {f(fd)} s: slowdown",
            "ratio",
            digits=2,
            unit="×",
        )
        rows.append(others_row(R, "S4", "alone"))
        rows.append(others_row(R, "S4", "during"))
        cells = []
        for arm in (hd, ds):
            alone_s = pick(R, "S4", arm, "started_last", "alone")
            during_s = pick(R, "S4", arm, "started_last", "during")
            cells.append(f"{f(alone_s)} / {f(during_s)}")
        rows.append(
            Row(
                "S4",
                "… the engine had started the 5 containers after (s): alone / during the pull",
                *cells,
            )
        )
        cells = []
        for arm in (hd, ds):
            alone_c = pick(R, "S4", arm, "cpu_machine_s", "alone")
            during_c = pick(R, "S4", arm, "cpu_machine_s", "during")
            engine_c = pick(R, "S4", arm, "cpu_engine_s", "during")
            cells.append(f"{f(alone_c, 0)} / {f(during_c, 0)} (engine {f(engine_c, 0)})")
        rows.append(
            Row(
                "S4",
                "… CPU seconds the machine used: alone / from the pull's start until all were "
                "ready (of which dockerd + containerd)",
                *cells,
            )
        )
        rows.append(compared("S4", "puller_seconds", "… the pulling user's own time to ready (s)"))
    if "S5" in R:
        a10 = pick(R, "S5", hd, "calls_per_interval_10")
        small = pick(R, "S5", hd, "n_small") or pick(R, "S5", ds, "n_small")
        total = pick(R, "S5", hd, "n_total") or pick(R, "S5", ds, "n_total")
        rows.append(
            compared(
                "S5",
                "calls_per_interval_10",
                f"Docker API calls per poll interval ({POLL_INTERVAL} s), {small} running servers",
            )
        )
        rows.append(
            compared(
                "S5",
                "calls_per_interval_50",
                f"… {total} running servers",
                target="hubdist constant (≤ the 10-server figure + 1)",
                met=lambda a, b: a <= a10 + 1 if a10 is not None else None,
            )
        )
        rows.append(
            compared("S5", "calls_per_spawn_50", "Docker API calls per spawn (trivial server)")
        )
    if "S6" in R:
        total = pick(R, "S6", hd, "n") or pick(R, "S6", ds, "n")
        under_2s = {"target": "hubdist < 2 s", "met": lambda a, b: a < 2}
        rows += [
            compared(
                "S6",
                "api_after",
                f"hub restart with {total} running servers: /hub/api answers "
                "after (s from process start)",
            ),
            compared(
                "S6",
                "all_verified_after",
                "… every server ready in the API and answering through the proxy after (s)",
            ),
        ]
        e1, e2 = both("S6", "empty_start")
        rows.append(
            Row("S6", "… the same hub's first start, no servers: /hub/api after (s)", f(e1), f(e2))
        )
        rows.append(
            compared(
                "S6",
                "reconcile",
                "… reconcile: from the restarted hub's first log line (its code imported) "
                "until every server is verified (s)",
                **under_2s,
            )
        )
        e1, e2 = both("S6", "empty_start_after_imports")
        rows.append(
            Row(
                "S6",
                "… the same, first start with no servers: first log line until /hub/api (s)",
                f(e1),
                f(e2),
            )
        )
        i1 = [run["initialized"][1] for run in R["S6"].get(hd, []) if run.get("initialized")]
        i2 = [run["initialized"][1] for run in R["S6"].get(ds, []) if run.get("initialized")]
        a, b = median(i1), median(i2)
        rows.append(
            Row(
                "S6",
                '… hub log: "Initialized N spawners in X seconds" (X)',
                f(a, 3),
                f(b, 3),
                ratio(a, b),
                "hubdist < 2 s",
                verdict(a < 2 if a is not None else None),
            )
        )
        a, b = both("S6", "lost")
        rows.append(
            Row(
                "S6",
                "… servers lost",
                f(a, 0),
                f(b, 0),
                "",
                "0",
                verdict(a == 0 if a is not None else None),
            )
        )
    if "S7" in R:
        total = pick(R, "S5", hd, "n_total") or 50
        rows.append(
            compared(
                "S7", "rss_50", f"hub resident memory with {total} running servers (MB)", digits=0
            )
        )
        rows.append(compared("S7", "rss_0", "… with no servers (MB)", digits=0))
    order = ["S2", "S3a", "S3b", "S5", "S6", "S7", "S1", "S4"]
    return sorted(rows, key=lambda r: order.index(r.scenario))


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
    path: Path, *, rows, machine, load, notes, not_done, results, duration, command, scale
) -> None:
    kept = ""
    if path.exists():
        old = path.read_text()
        if NOTES_MARKER in old:
            kept = old.split(NOTES_MARKER, 1)[1]
    m = machine
    lines = [
        "# Benchmark results: hubdist vs dockerspawner 14",
        "",
        f"Written by `{command}` on {m['date']}; the run took {duration / 60:.1f} min."
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
        f"| date | {m['date']} |",
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
    lines += ["", "## Details", ""]
    lines += details(results)
    lines += ["", NOTES_MARKER]
    path.write_text("\n".join(lines) + (kept if kept else "\n"))


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
