"""Gantt charts, buffer occupancy and the three tables as figures (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from pimjax.apps._atomic import savefig
from pimjax.apps.schedule._result import Schedule


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_schedules(schedules: Sequence[Schedule], path: str, *, window_us: float | None = None,
                   title: str = "") -> str:
    """For each schedule a Gantt chart (one row per PE, runs coloured by image) above its
    shared-buffer occupancy, all on the same time axis.

    Args:
      schedules: the schedules (of the same graph).
      path: the image file.
      window_us: the time span shown (default: two of the longest period, at most the whole run).
      title: the figure's title.

    Returns:
      ``path``.
    """
    if not schedules:
        raise ValueError("no schedules to plot")
    plt = _plt()
    u = schedules[0].graph.time_unit_s * 1e6
    if window_us is None:
        span = max(s.period for s in schedules) * 2
        window_us = min(max(s.total_time for s in schedules), span) * u
    end = window_us / u
    n = len(schedules)
    fig, axes = plt.subplots(2 * n, 1, figsize=(11, 3.2 * n + 1.0), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1] * n})
    cmap = plt.get_cmap("tab20")
    for i, s in enumerate(schedules):
        ax, axb = axes[2 * i], axes[2 * i + 1]
        m = s.run_start < end
        starts, ends, pes, imgs = s.run_start[m], s.run_end[m], s.run_pe[m], s.run_image[m]
        for pe in np.unique(pes):
            sel = pes == pe
            xr = [(a * u, (b - a) * u) for a, b in zip(starts[sel], ends[sel])]
            ax.broken_barh(xr, (pe - 0.4, 0.8), facecolors=[cmap(int(k) % 20) for k in imgs[sel]], linewidth=0)
        ax.set_ylim(-0.5, s.num_pes - 0.5)
        ax.invert_yaxis()
        ax.set_ylabel("PE")
        label = (f"{s.scheduler}: {s.num_pes} PEs, total {s.total_time_s * 1e6:.1f} us for {s.images} images, "
                 f"period {s.period * u:.1f} us")
        if s.r_max:
            label += f", R_max {s.r_max}, {s.retimings} retimings"
        ax.set_title(label, fontsize=9, loc="left")
        t, b = s.occupancy()
        axb.step(np.concatenate([[0], t * u]), np.concatenate([[0], b]) / 1024, where="post", lw=0.8)
        axb.axhline(s.buffer_bytes / 1024, color="r", lw=0.8, ls="--")
        axb.set_ylabel("buffer KiB", fontsize=8)
    axes[-1].set_xlim(0, window_us)
    axes[-1].set_xlabel("time (us); colours = images; dashed = buffer capacity")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    savefig(fig, path, dpi=110)
    plt.close(fig)
    return path


def plot_tables(rows: Sequence[dict[str, Any]], path: str, *, title: str = "") -> str:
    """Tables 1-3 as three panels: total time, buffer-resident results per image, retimings.

    Args:
      rows: rows of :func:`~pimjax.apps.schedule.compare`; one group of bars per row.
      path: the image file.
      title: the figure's title.

    Returns:
      ``path``.
    """
    if not rows:
        raise ValueError("no rows to plot")
    plt = _plt()
    labels = [f"{r['graph'].split('(')[0]}\n{r['pes']} PEs" for r in rows]
    x = np.arange(len(rows))
    piped = all("ls_pipelined_time_us" in r for r in rows)
    series = [("ls", "LS (paper's baseline)"), ("memolution", "Memolution")]
    if piped:
        series.insert(1, ("ls_pipelined", "LS, sliding window of 4 N_g images (pimjax variant)"))
    wdt = 0.8 / len(series)
    fig, axes = plt.subplots(3, 1, figsize=(max(8, 0.9 * len(rows) + 3) + 2.5, 9))  # + the legend beside
    for si, (key, name) in enumerate(series):
        off = (si - (len(series) - 1) / 2) * wdt
        axes[0].bar(x + off, [r[f"{key}_time_us"] / 1e3 for r in rows], wdt, label=name)
        axes[1].bar(x + off, [r[f"{key}_buffer_results"] for r in rows], wdt, label=name)
        axes[2].bar(x + off, [r[f"{key}_retimings"] for r in rows], wdt, label=name)
    memo_off = (len(series) - 1) / 2 * wdt  # Memolution is the last bar of each group: its label on it
    for r_i, r in enumerate(rows):
        axes[0].annotate(f"{-100 * r['reduction_vs_ls']:+.0f}%", (x[r_i] + memo_off, r["memolution_time_us"] / 1e3),
                         ha="center", va="bottom", fontsize=7)
    axes[0].set_ylabel("total time (ms)")
    axes[0].set_yscale("log")
    axes[0].set_title("Table 1: total execution time (label: Memolution's time vs LS, + = slower)", fontsize=9, loc="left")
    axes[1].set_ylabel("results / image")
    axes[1].set_title("Table 2: intermediate results kept in the shared buffer", fontsize=9, loc="left")
    axes[2].set_ylabel("retimings")
    axes[2].set_title("Table 3: retiming operations", fontsize=9, loc="left")
    for i, ax in enumerate(axes):
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=7)
        if i:  # counts: from 0 (an all-zero panel would otherwise centre 0 in [-0.05, 0.05])
            ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))
    # beside the panels, not over a bar
    axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    savefig(fig, path, dpi=110)
    plt.close(fig)
    return path
