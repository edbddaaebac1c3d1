"""What ``pimjax train`` shows while it runs: the compile notice, the per-epoch table, the files
it wrote.

The per-epoch table (on stderr, above the progress bar) has one short row per epoch: the epoch,
its steps, the mean training loss, the test metrics, the numeric events of the epoch's emulated
matmuls (overflow, NaN + Inf) and the epoch's seconds. The full record of every epoch (random
bits, resident-update events, seconds since the start, ...) goes to ``metrics.csv`` /
``metrics.json`` in ``--out``.
"""

from __future__ import annotations

import os
from typing import Any

OUTPUT_FILES = ("metrics.json", "metrics.csv", "costs.csv")
"""The files a run writes into its ``out_dir`` (besides ``checkpoints/``)."""

_SHORT = {"test_accuracy": "test acc", "test_loss": "test loss", "test_token_accuracy": "test tok acc"}


def compile_notice(what: str = "training step", when: str = "first step only") -> str:
    """The line printed before the first call of a jitted step (the compile takes most of it)."""
    return f"pimjax train: compiling the {what} ({when}) ..."


def remove_outputs(out_dir: str) -> list[str]:
    """Removes an earlier run's metrics and costs from ``out_dir`` (``--overwrite``); returns the
    removed paths."""
    gone = []
    for name in OUTPUT_FILES:
        path = os.path.join(out_dir, name)
        if os.path.exists(path):
            os.remove(path)
            gone.append(path)
    return gone


def written_files(out_dir: str) -> list[str]:
    """The files of a run in ``out_dir`` (metrics, costs, and the checkpoints as one entry)."""
    found = [os.path.join(out_dir, n) for n in OUTPUT_FILES if os.path.exists(os.path.join(out_dir, n))]
    ckpt = os.path.join(out_dir, "checkpoints")
    if os.path.isdir(ckpt):
        steps = sorted(d for d in os.listdir(ckpt) if d.startswith("step_") and not d.endswith(".json"))
        if steps:
            found.append(f"{ckpt}{os.sep} ({len(steps)} checkpoint{'s' if len(steps) != 1 else ''}, "
                         f"latest {steps[-1]})")
    return found


def _count(v: int) -> str:
    """An event count in at most 7 characters (``0``, ``1234``, ``12.3k``, ``4.5M``, ``6.7G``)."""
    v = int(v)
    if v < 10_000:
        return str(v)
    for div, unit in ((1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T")):
        if v / div < 999.5:
            return f"{v / div:.3g}{unit}"
    return f"{v:.2g}"


class EpochTable:
    """The per-epoch rows: :meth:`row` returns the header (the first time) and the row of one
    epoch's record (as :func:`pimjax.apps.train._loop` builds it)."""

    def __init__(self) -> None:
        self._cols: list[str] | None = None
        self._last_seconds = 0.0

    def start(self, history: list[dict[str, Any]]) -> None:
        """A resumed run: the epochs before it set where the seconds count from."""
        done = [r for r in history if not r.get("partial")]
        self._last_seconds = done[-1]["seconds"] if done else 0.0

    def row(self, rec: dict[str, Any]) -> str:
        lines = []
        if self._cols is None:
            self._cols = [k for k in rec if k.startswith("test_")]
            head = [f"{'epoch':>5}", f"{'steps':>6}", f"{'train loss':>10}",
                    *(f"{_SHORT.get(k, k.replace('_', ' ')):>12}" for k in self._cols),
                    f"{'overflow':>8}", f"{'NaN+Inf':>7}", f"{'seconds':>8}"]
            lines.append("  ".join(head))
        secs = rec["seconds"] - self._last_seconds
        if not rec.get("partial"):
            self._last_seconds = rec["seconds"]
        epoch = f"{rec['epoch']}{'*' if rec.get('partial') else ''}"
        cells = [f"{epoch:>5}", f"{rec['step']:>6}",
                 f"{rec['train_loss']:>10.4f}", *(f"{rec.get(k, float('nan')):>12.4f}" for k in self._cols),
                 f"{_count(rec.get('overflow', 0)):>8}", f"{_count(rec.get('nan', 0) + rec.get('inf', 0)):>7}",
                 f"{secs:>8.1f}"]
        lines.append("  ".join(cells))
        return "\n".join(lines)


PARTIAL_NOTE = "* partial epoch (--max-steps stopped it)"


def layer_names(model: Any, costs: dict[str, Any]) -> dict[str, Any]:
    """``costs`` (``layer path -> phase -> record``, :func:`pimjax.apps.cost._collect.collect_costs`)
    keyed by the emulated layers' names (``features.conv1``: the names of ``pimjax cost``)
    instead of their module paths (``convs/0/linear``), where a layer has a unique name."""
    from flax import nnx

    from pimjax.nn import EmuBatchedMatmul, EmuLinear

    names: dict[str, str] = {}
    for path, m in nnx.iter_graph(model):
        if isinstance(m, (EmuLinear, EmuBatchedMatmul)) and getattr(m, "name", ""):
            names["/".join(str(p) for p in path)] = m.name
    counts: dict[str, int] = {}
    for n in names.values():
        counts[n] = counts.get(n, 0) + 1
    return {(names[k] if k in names and counts[names[k]] == 1 else k): v for k, v in costs.items()}
