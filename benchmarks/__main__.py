"""python -m benchmarks: hubdist's DockerSpawner side by side with dockerspawner 14.

See benchmarks/README.md. Re-runs itself with .cache/bench-venv's python (made on first
use, with dockerspawner in it), checks the engine, proxy and images, builds the benchmark's
own small images, then runs the scenarios and writes the results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
import time
from pathlib import Path

from . import prepare
from .prepare import REPO, log

SCENARIO_KEYS = ["S1", "S1s", "S2", "S3a", "S3b", "S4", "S5", "S6", "S7", "S8", "S9", "S10", "S11",
                 "S12", "S13", "S14", "S15", "S16", "S17"]  # fmt: skip


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="hubdist's DockerSpawner side by side with dockerspawner 14.0.0",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios, e.g. S2,S5 (S1 brings S3a, S5 brings S6 and S7 "
        "along: they share their servers). Default: all",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the server counts (50, 20, 10) by this, at least 2; for trying the "
        "benchmark out quickly, e.g. 0.2. Default: 1",
    )
    parser.add_argument(
        "--reps",
        type=int,
        default=2,
        help="repetitions of S2, S1 (with S3a) and S4, each alternating which spawner goes "
        "first; S3b and S5-S7 run once; the latency scenarios run 5×N times (S13, S14) and "
        "2×N-1 times (S15-S17). Default: 2",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=150,
        help="minutes; scenarios not started by then are skipped (and reported). A full run "
        "takes about 100. Default: 150",
    )
    parser.add_argument(
        "--output",
        default="",
        help="where to write the results (markdown; results.json goes beside it). Default: "
        "benchmarks/RESULTS.md for a full run, the run's directory otherwise",
    )
    parser.add_argument(
        "--into",
        default="",
        help="an earlier run's RESULTS.md (its results.json beside it): measure the --only "
        "scenarios again and rewrite that report with them in place of its own, the rest "
        "kept; for a scenario that failed in a full run. Default: none",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)  # --help before making the venv
    if not prepare.in_venv():
        prepare.reexec_in_venv(argv)  # does not return
    problems = prepare.check_tools()
    if problems:
        for problem in problems:
            print(f"cannot run: {problem}", file=sys.stderr)
        return 2
    prepare.ensure_images()

    from . import latency, report, scenarios
    from .rig import (
        NAME_PREFIX,
        Engine,
        LoadSampler,
        end_all_children,
        idle_cpu_busy,
        machine_facts,
    )

    wanted = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIO_KEYS)
    unknown = set(wanted) - set(SCENARIO_KEYS)
    if unknown:
        print(f"unknown scenarios: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    runners = [key for key, covers in scenarios.COVERS.items() if set(covers) & set(wanted)]
    full = not args.only and args.scale == 1
    run_id = time.strftime("%m%d%H%M%S")
    run_dir = REPO / ".cache" / "bench-runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    prior: dict = {}
    if args.into:
        output = Path(args.into).resolve()
        prior = json.loads(output.with_name("results.json").read_text())
    elif args.output:
        output = Path(args.output).resolve()
    elif full:
        output = REPO / "benchmarks" / "RESULTS.md"
    else:
        output = run_dir / "RESULTS.md"

    engine = Engine()
    # leftovers of earlier, interrupted runs (every name starting hubdist-bench- is ours);
    # a run still going (another checkout's benchmark) keeps its containers
    live = prepare.claim_run(run_id)
    removed = asyncio.run(engine.remove_all(NAME_PREFIX, keep_runs=frozenset(live)))
    if removed:
        log(f"removed {removed} containers left by an earlier benchmark run")

    log(f"run {run_id}: {', '.join(runners)}; logs and hub dirs in {run_dir}")
    machine = machine_facts()
    machine["loadavg_start"] = " ".join(open("/proc/loadavg").read().split()[:3])
    machine["idle_cpu_busy"] = idle_cpu_busy(5)
    log(
        f"machine: {machine['cpus']} CPUs, load {machine['loadavg_start']}, "
        f"{machine['idle_cpu_busy']:.0f}% CPU busy before starting, "
        f"{machine['other_containers_at_start']} other containers"
    )

    sampler = LoadSampler().start()
    ctx = scenarios.Context(
        run_id=run_id,
        run_dir=run_dir,
        scale=args.scale,
        reps={
            "S2": args.reps,
            "S1": args.reps,
            "S1s": args.reps,
            "S4": args.reps,
            "S12": args.reps,
            **latency.reps(args.reps),
        },  # fmt: skip
        engine=engine,
        sampler=sampler,
        figure_dir=output.parent,
    )
    not_done: dict[str, str] = {}
    load: dict = {}
    measured = {s for key in runners for s in scenarios.COVERS[key]}
    if prior:  # --into: the earlier run's figures of every scenario not measured again
        ctx.results.update({s: v for s, v in prior["results"].items() if s not in measured})
        not_done.update({s: v for s, v in prior["not_done"].items() if s not in measured})
        load.update({k: v for k, v in prior["load"].items() if k not in runners})
        for s, texts in prior.get("notes", {}).items():
            if s not in measured:
                ctx.notes.setdefault(s, []).extend(texts)
    started = time.monotonic()

    async def run_all() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        for key in runners:
            covers = [s for s in scenarios.COVERS[key] if s in wanted or key in wanted]
            elapsed = (time.monotonic() - started) / 60
            if elapsed > args.budget:
                for s in covers:
                    not_done[s] = f"skipped: the time budget ({args.budget:g} min) was used up"
                continue
            t0 = time.monotonic()
            try:
                await scenarios.SCENARIOS[key](ctx)
            except asyncio.CancelledError:
                for s in covers:
                    not_done.setdefault(s, "interrupted")
                raise
            except Exception as exc:  # one scenario's failure must not end the others
                log(f"{key} failed: {exc!r}")
                for s in covers:
                    if s not in ctx.results or len(ctx.results[s]) < 2:
                        not_done[s] = f"failed: {str(exc).splitlines()[0][:300]}"
            finally:
                load[key] = sampler.between(t0, time.monotonic())

    interrupted = False
    try:
        asyncio.run(run_all())
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted = True
        log("interrupted; cleaning up")
    finally:
        sampler.stop()
        end_all_children()
        try:  # this run's containers
            asyncio.run(engine.remove_all(f"{NAME_PREFIX}{run_id}-"))
        except Exception as exc:  # the results are still to be written
            log(f"could not remove this run's containers: {exc!r}")
        engine.close()

    duration = time.monotonic() - started
    if prior:
        if "S8" in ctx.results and "S8" not in measured:
            from .scale import draw  # the S8 plots, drawn from the earlier run's figures

            draw(ctx)
        duration += prior["duration_s"]
        machine = with_remeasure(prior["machine"], machine, measured)
        for s in sorted(measured):
            ctx.note(
                s,
                f"measured again on {machine['remeasured'][-1]['date']} at hubdist "
                f"{machine['remeasured'][-1]['hubdist_commit']} (`--into`); the rest of this "
                f"report is the run of {machine['date']} at hubdist {machine['hubdist_commit']}",
            )
    counts = {
        "S1": ctx.n(20),
        "S2": ctx.n(50),
        "S3a": ctx.n(20),
        "S3b": ctx.n(50),
        "S12": ctx.n(20),
    }
    rows = report.build_rows(ctx.results, counts)
    for s in wanted:
        if s not in ctx.results and s not in not_done:
            not_done[s] = "interrupted" if interrupted else "not run"
    print()
    print(report.plain_table(rows))
    print()
    for s, why in not_done.items():
        print(f"{s}: {why}")
    command = "python -m benchmarks" + (" " + " ".join(argv) if argv else "")
    if prior:
        command = f"{prior['command']}` then `{command}"
    report.write(
        output,
        rows=rows,
        machine=machine,
        load=load,
        notes=ctx.notes,
        not_done=not_done,
        results=ctx.results,
        duration=duration,
        command=command,
        scale=args.scale,
        plots=ctx.plots,
    )
    report.dump_json(
        output.with_name("results.json")
        if output.name == "RESULTS.md"
        else output.with_suffix(".json"),
        {
            "machine": machine,
            "load": load,
            "results": ctx.results,
            "not_done": not_done,
            "notes": ctx.notes,
            "duration_s": duration,
            "command": command,
            "scale": args.scale,
        },
    )
    log(f"wrote {output} ({duration / 60:.1f} min)")
    return 130 if interrupted else 0


def with_remeasure(earlier: dict, now: dict, measured: set[str]) -> dict:
    """The machine facts of a report measured again in part (--into): the earlier run's,
    which most figures come from, with each later measurement's date, commit and scenarios
    (an earlier re-measurement of the same scenarios is superseded)."""
    kept = []
    for entry in earlier.get("remeasured", []):
        left = [s for s in entry["scenarios"] if s not in measured]
        if left:
            kept.append({**entry, "scenarios": left})
    this = {"date": now["date"], "hubdist_commit": now["hubdist_commit"]}
    in_order = sorted(measured, key=lambda s: (int(re.sub(r"\D", "", s)), s))  # S8 < S10
    return {**earlier, "remeasured": [*kept, {**this, "scenarios": in_order}]}


if __name__ == "__main__":
    sys.exit(main())
