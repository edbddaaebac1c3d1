"""Plots of tidy sweep results (matplotlib, Agg): a metric against a swept axis, one line per group."""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any, Mapping, Sequence

from pimjax.apps._atomic import savefig
from pimjax.apps.sweep._results import CONFIG_COLUMNS

_NUMERIC_AXES = ("act_bits", "act_frac", "weight_bits", "weight_frac", "out_bits", "out_frac", "noise_level",
                 "rows", "width", "num_slices", "accumulator_bits")


def swept_axes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Config columns that take more than one value in ``rows``."""
    return [c for c in CONFIG_COLUMNS if len({r[c] for r in rows}) > 1]


def series(rows: Sequence[Mapping[str, Any]], *, x: str, metric: str = "accuracy",
           by: Sequence[str] = ()) -> dict[tuple, tuple[list[Any], list[float]]]:
    """``group -> (x values, mean metric)`` over the rows of ``metric`` (other axes averaged)."""
    acc: dict[tuple, dict[Any, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["metric"] != metric:
            continue
        acc[tuple(r[b] for b in by)][r[x]].append(float(r["value"]))
    out = {}
    for g, d in acc.items():
        xs = sorted(d, key=lambda v: (isinstance(v, str), v))
        out[g] = (xs, [sum(d[v]) / len(d[v]) for v in xs])
    return out


def plot_metric(rows: Sequence[Mapping[str, Any]], path: str | None = None, *, x: str, metric: str = "accuracy",
                by: Sequence[str] = (), ax: Any = None, title: str | None = None, logx: bool = False,
                baseline: float | None = None) -> Any:
    """Line plot of ``metric`` against ``x``, one line per value of the ``by`` columns (the other
    axes averaged); ``baseline``: a dashed line at the float32 model's value. Saves to ``path``."""
    import matplotlib

    if ax is None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(5.5, 4))
    for g, (xs, ys) in sorted(series(rows, x=x, metric=metric, by=by).items(), key=lambda kv: tuple((isinstance(v, str), v) for v in kv[0])):
        label = ", ".join(f"{b}={v}" for b, v in zip(by, g)) if by else metric
        ax.plot(xs, ys, marker="o", ms=3, label=label)
    if baseline is not None:
        ax.axhline(baseline, color="k", ls="--", lw=1, label=f"float32 ({baseline:.3f})")
    ax.set_xlabel(x)
    ax.set_ylabel(metric)
    if logx:
        ax.set_xscale("symlog", linthresh=1e-2)
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if by or baseline is not None:
        ax.legend(fontsize=7)
    if own:
        fig.tight_layout()
        if path:
            d = os.path.dirname(path)
            if d:
                os.makedirs(d, exist_ok=True)
            savefig(fig, path, dpi=120)
        plt.close(fig)
    return ax


def _determines(rows: Sequence[Mapping[str, Any]], a: str, b: str) -> bool:
    """True if every value of column ``a`` comes with a single value of column ``b``."""
    seen: dict[Any, Any] = {}
    for r in rows:
        if seen.setdefault(r[a], r[b]) != r[b]:
            return False
    return True


def plot_sweep(rows: Sequence[Mapping[str, Any]], path: str, *, metric: str = "accuracy",
               baseline: float | None = None) -> list[str]:
    """One panel per swept numeric axis: ``metric`` against it, lines by the other swept axis
    with the fewest values (when there is one), the remaining swept axes averaged (named under
    the panel's title); ``baseline``: the float32 model's ``metric``, a dashed line. Returns the
    axes plotted."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    swept = swept_axes(rows)
    axes: list[str] = []
    for a in (a for a in swept if a in _NUMERIC_AXES):  # skip an axis that only relabels another one
        if not any(_determines(rows, k, a) and _determines(rows, a, k) for k in axes):
            axes.append(a)
    if not axes:
        axes = [a for a in swept if a not in ("sweep", "model")][:1]
    if not axes:
        return []
    fig, grid = plt.subplots(1, len(axes), figsize=(5 * len(axes), 3.8), squeeze=False)
    for ax, x in zip(grid[0], axes):
        others = sorted((o for o in swept if o != x and not _determines(rows, x, o) and not _determines(rows, o, x)),
                        key=lambda o: len({r[o] for r in rows}))
        by = others[:1] if others and len({r[others[0]] for r in rows}) <= 8 else []
        averaged: list[str] = []
        for o in others:  # an axis that only relabels one already named (act_frac of act_bits) is left out
            if o not in by and not any(_determines(rows, k, o) and _determines(rows, o, k) for k in averaged):
                averaged.append(o)
        title = f"{metric} vs {x}" + (f"\n(mean over {', '.join(averaged)})" if averaged else "")
        plot_metric(rows, x=x, metric=metric, by=by, ax=ax, title=title, baseline=baseline)
    fig.tight_layout()
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    savefig(fig, path, dpi=120)
    plt.close(fig)
    return axes


__all__ = ["plot_metric", "plot_sweep", "series", "swept_axes"]
