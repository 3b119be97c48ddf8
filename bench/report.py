"""The report: one Markdown file and a PNG chart per section, written from one run."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


@dataclass
class Section:
    number: int
    title: str
    body: str
    chart: str | None = None
    headline: list[str] = field(default_factory=list)


def bar_chart(
    path: Path,
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    ylabel: str,
    *,
    target: float | None = None,
    log: bool = False,
) -> str:
    """Grouped bars, one group per label, one bar per series; a dashed target line."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        xs = [x + i * width for x in range(len(labels))]
        bars = ax.bar(xs, values, width, label=name)
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(labels))], labels)
    if target is not None:
        ax.axhline(target, color="red", linestyle="--", linewidth=1, label=f"target {target:g}")
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def machine() -> str:
    import os

    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def write_report(
    path: Path, sections: list[Section], *, started: str, elapsed_s: float, settings: str
) -> None:
    lines = [
        "# streaming-rag benchmarks",
        "",
        f"One run of `make bench`, {started}, {elapsed_s / 60:.1f} minutes. Every ratio compares "
        "figures measured in this same run, side by side, on the same machine.",
        "",
        f"- Machine: {machine()}",
        f"- Settings: {settings}",
        "- Reproduce: `make bench` (writes this file and the PNGs next to it). "
        "All traffic goes to 127.0.0.1.",
        "",
        "## Headlines",
        "",
        *[f"- {h}" for s in sections for h in s.headline],
        "",
    ]
    for s in sorted(sections, key=lambda s: s.number):
        lines += [f"## {s.number}. {s.title}", "", s.body.strip(), ""]
        if s.chart:
            lines += [f"![{s.title}]({s.chart})", ""]
    path.write_text("\n".join(lines))
