"""What a training run does when a NaN or Inf appears (``--on-nonfinite``).

Every step already counts the NaN and Inf events of every emulated matmul per layer and per
phase (the cost records); a native (plain float) phase counts none, so the loss is checked
too. On the first step with a non-finite loss or a NaN/Inf event, :class:`NonFiniteWatch`
names the step, the phase where they first appear (FF before BP before UP) and its layers,
and then, by policy:

- ``stop`` (default): raises :class:`NonFiniteError` (the step's checkpoint is not written, so
  the last checkpoint holds finite weights);
- ``warn``: prints that once on stderr and trains on;
- ``continue``: trains on (the counts still go to the metrics).
"""

from __future__ import annotations

import math
import sys
from typing import Sequence

import numpy as np

NONFINITE_POLICIES = ("stop", "warn", "continue")
_PHASE_ORDER = {"ff": 0, "bp": 1, "up": 2}


class NonFiniteError(ArithmeticError):
    """Training met a NaN or Inf under ``on_nonfinite="stop"``; ``step`` is the step (1-based)."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


def record_labels(treedef) -> list[tuple[str, str]]:
    """``(layer, phase)`` of every cost record of a packed cost table, in packing order."""
    from pimjax.cost import CostRecord
    import jax

    table = jax.tree.unflatten(treedef, list(range(treedef.num_leaves)))
    out = []
    for layer in table:  # jax flattens dicts in sorted key order, as here
        for ph in sorted(table[layer]):
            assert isinstance(table[layer][ph], CostRecord)
            out.append((layer, ph))
    return out


class NonFiniteWatch:
    """Checks each step's loss and per-record NaN/Inf counts (module docstring)."""

    def __init__(self, policy: str, labels: Sequence[tuple[str, str]], native: bool = False,
                 checkpoints: bool = False):
        if policy not in NONFINITE_POLICIES:
            raise ValueError(f"on_nonfinite must be one of {NONFINITE_POLICIES}, got {policy!r}")
        self.policy, self.labels, self.native, self.checkpoints = policy, list(labels), native, checkpoints
        self.first: str | None = None

    def describe(self, step: int, epoch: int, batch: int, loss: float, nan: np.ndarray, inf: np.ndarray) -> str | None:
        bad = [(self.labels[j], int(nan[j]), int(inf[j])) for j in range(len(self.labels)) if nan[j] or inf[j]]
        if not bad and math.isfinite(loss):
            return None
        where = f"step {step} (epoch {epoch + 1}, batch {batch})"
        if bad:
            first = min(_PHASE_ORDER.get(ph, 9) for (_, ph), _, _ in bad)
            ph_bad = [(layer, n, i) for (layer, ph), n, i in bad if _PHASE_ORDER.get(ph, 9) == first]
            phase = next(ph for (_, ph), _, _ in bad if _PHASE_ORDER.get(ph, 9) == first)
            layers = ", ".join(f"{layer} ({n} NaN, {i} Inf)" for layer, n, i in ph_bad[:4])
            more = f" and {len(ph_bad) - 4} more layers" if len(ph_bad) > 4 else ""
            later = sorted({ph for (_, ph), _, _ in bad} - {phase}, key=lambda p: _PHASE_ORDER.get(p, 9))
            then = f"; then in phase {', '.join(p.upper() for p in later)}" if later else ""
            return (f"non-finite values at {where}: first in phase {phase.upper()}, layer {layers}{more}{then}; "
                    f"loss {loss}")
        how = "native float phases count no per-layer events" if self.native else "no matmul counted a NaN or Inf"
        return f"non-finite loss ({loss}) at {where} ({how})"

    def check(self, step: int, epoch: int, batch: int, loss: float, nan: np.ndarray, inf: np.ndarray) -> None:
        """Applies the policy to one step (1-based ``step``); ``nan``/``inf``: per-record counts."""
        if self.first is not None and self.policy != "stop":
            return
        msg = self.describe(step, epoch, batch, loss, nan, inf)
        if msg is None:
            return
        self.first = msg
        if self.policy == "stop":
            kept = "; the last checkpoint holds the weights before it" if self.checkpoints else ""
            raise NonFiniteError(f"{msg}. Stopped (--on-nonfinite stop{kept}; --on-nonfinite warn or continue "
                                 f"trains on)", step)
        if self.policy == "warn":
            print(f"pimjax train: warning: {msg}; training on (--on-nonfinite warn)", file=sys.stderr)


__all__ = ["NONFINITE_POLICIES", "NonFiniteError", "NonFiniteWatch", "record_labels"]
