"""PNG figures for RESULTS.md, drawn by the benchmark itself (matplotlib, in the bench venv).

Two shapes cover what the scenarios show: how long each arm made users wait (a
distribution per arm) and how a cost moves with the number of servers (one line per arm).
Each function writes one PNG and returns its file name, for a markdown image link beside it.
"""

from __future__ import annotations

from pathlib import Path

# Colours fixed per arm, so one arm looks the same in every figure.
ARM_COLOURS = {"hubdist": "#1f77b4", "dockerspawner": "#d62728", "floor": "#7f7f7f"}
FALLBACK_COLOURS = ["#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on the benchmark machine
    import matplotlib.pyplot as plt

    return plt


def _colour(arm: str, index: int) -> str:
    return ARM_COLOURS.get(arm, FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)])


def distributions(
    path: Path, title: str, samples: dict[str, list[float]], unit: str = "seconds"
) -> str:
    """One box per arm with every sample drawn over it (few samples hide in a box alone)."""
    plt = _pyplot()
    arms = [arm for arm, values in samples.items() if values]
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.8 * max(len(arms), 1)))
    ax.boxplot([samples[arm] for arm in arms], vert=False, widths=0.5, showfliers=False)
    for i, arm in enumerate(arms, start=1):
        values = samples[arm]
        jitter = [i + 0.15 * ((k % 7) - 3) / 3 for k in range(len(values))]
        ax.scatter(values, jitter, s=10, alpha=0.6, color=_colour(arm, i))
    ax.set_yticks(range(1, len(arms) + 1), arms)
    ax.set_xlabel(unit)
    ax.set_xlim(left=0)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def growth(
    path: Path,
    title: str,
    xs: list[float],
    series: dict[str, list[float | None]],
    xlabel: str,
    ylabel: str,
) -> str:
    """One line per arm: a cost (ylabel) against the number of servers (xlabel)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (arm, ys) in enumerate(series.items()):
        points = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=arm, color=_colour(arm, i))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name
