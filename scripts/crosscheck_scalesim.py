"""Cross-checks pimjax's single-array cycle model against SCALE-Sim's published closed forms.

pimjax (:func:`pimjax.units._array_counts.array_counts`, Memory Slices Sec. 3.2 / 7.2): an
array of ``R`` rows x ``W`` multipliers, one adder tree per row; B is cut into tiles of one
``W``-chunk of K x ``R' <= R`` columns of N; a tile pass takes ``2 R' + M - 1 + L`` cycles
(``R'`` preload, ``M`` streaming, ``R' - 1 + L`` fill/drain, ``L`` = multiplier + adder-tree
latency), and there are ``ceil(K / W) * ceil(N / R)`` passes.

SCALE-Sim (Samajdar et al., "SCALE-Sim: Systolic CNN Accelerator Simulator", arXiv:1811.02883;
"A Systematic Methodology for Characterizing Scalability of DNN Accelerators using SCALE-Sim",
ISPASS 2020, analytical model ``2 S_R + S_C + T - 2`` per fold; the per-fold lengths of the
demand matrices in SCALE-Sim v2's ``scalesim/compute/systolic_compute_{ws,os}.py``), an
``R x C`` array of MAC PEs computing ``(M x K) @ (K x N)``:

* weight stationary (WS): K on the rows, N on the columns, M streamed:
  ``folds = ceil(K / R) * ceil(N / C)``, ``2 R + C + M - 2`` cycles per fold (``R`` weight
  load + ``M`` stream + ``R - 1`` partial-sum skew down the rows + ``C - 1`` input skew across
  the columns);
* output stationary (OS): M on the rows, N on the columns, K streamed:
  ``folds = ceil(M / R) * ceil(N / C)``, ``K + R + C - 2`` cycles per fold.

For every shape and array the table gives pimjax's cycles, SCALE-Sim WS and OS on the same
``R x C`` grid (``R`` = pimjax rows, ``C`` = pimjax width, K on the ``R`` side), and SCALE-Sim WS
on the transposed grid ``W x R`` (K on the ``W`` side, N on the ``R`` side: pimjax's mapping, with
the same folds). For that last one the difference is decomposed exactly, per fold:

* ``d_preload = W - R'``: SCALE-Sim loads its ``W`` weight rows (each ``R`` wide) one per cycle;
  pimjax loads its ``R'`` rows (each ``W`` wide) one per cycle (Memory Slices Sec. 7.2);
* ``d_reduction = W - 1 - L``: SCALE-Sim reduces K down a ``W``-deep systolic column
  (``W - 1`` cycles of partial-sum skew); pimjax's K-chunk enters a row at once and one adder
  tree reduces it with pipeline depth ``L``;
* ``d_partial = R - R'``: SCALE-Sim charges the full ``C = R`` columns of input skew in every
  fold; pimjax's A rows pass only the ``R'`` rows of a narrower last N-tile.

so ``pimjax = scalesim_ws_t - (d_preload + d_reduction + d_partial)`` (checked for every row).

Writes ``crosscheck_scalesim.csv`` to ``--out`` (default ``results/``), prints the table and
ends with one line of JSON.

    python scripts/crosscheck_scalesim.py [--out results/] [--shapes 64,8,256 100,20,300 ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os

from pimjax import hw
from pimjax.units._array_counts import array_counts

DEFAULT_SHAPES = ((64, 8, 256), (256, 8, 256), (1024, 64, 512), (100, 20, 300))

COLUMNS = (
    "m", "k", "n", "array", "rows", "width", "latency",
    "pim_tiles", "pim_preload", "pim_stream", "pim_fill_drain", "pim_cycles",
    "ws_folds", "ws_cycles", "os_folds", "os_cycles", "ws_t_folds", "ws_t_cycles",
    "d_preload", "d_reduction", "d_partial", "pim_over_ws_t",
)


def arrays() -> dict[str, hw.ArrayConfig]:
    """The two arrays of the cross-check.

    ``memory_slices``: the preset, 256 x 8, L = 3 + 3 (Memory Slices Sec. 3.2).
    ``32x32``: a square array of the same kind, 32 rows x 32 multipliers, multiplier latency 3
    and a 32-input adder tree of log2(32) = 5 cycles (the preset's 8-input tree takes
    log2(8) = 3, Sec. 3.2).
    """
    ms = hw.presets.get("memory_slices")
    return {
        "memory_slices_256x8": ms,
        "32x32": ms.replace(rows=32, width=32, multiplier_latency=3, adder_tree_latency=5, name="32x32"),
    }


def scalesim_ws(m: int, k: int, n: int, r: int, c: int) -> tuple[int, int]:
    """SCALE-Sim weight stationary on an ``r x c`` array: (folds, cycles)."""
    folds = math.ceil(k / r) * math.ceil(n / c)
    return folds, folds * (2 * r + c + m - 2)


def scalesim_os(m: int, k: int, n: int, r: int, c: int) -> tuple[int, int]:
    """SCALE-Sim output stationary on an ``r x c`` array: (folds, cycles)."""
    folds = math.ceil(m / r) * math.ceil(n / c)
    return folds, folds * (k + r + c - 2)


def row(m: int, k: int, n: int, name: str, cfg: hw.ArrayConfig) -> dict:
    """One table row: pimjax counts, SCALE-Sim forms and the exact reconciliation."""
    r, w = cfg.rows, cfg.width
    lat = cfg.multiplier_latency + cfg.adder_tree_latency
    # the array schedule alone: every partition streams all M rows (no row blocks for the
    # accumulator buffer; SCALE-Sim's compute cycles do not model on-chip buffer limits either)
    c = array_counts(m, k, n, cfg, row_block=m)
    ws_f, ws_c = scalesim_ws(m, k, n, r, w)
    os_f, os_c = scalesim_os(m, k, n, r, w)
    wst_f, wst_c = scalesim_ws(m, k, n, w, r)  # transposed grid: K on the W side
    n_k = math.ceil(k / w)
    tiles_r = [min(n, (t + 1) * r) - t * r for t in range(math.ceil(n / r))]  # R' of each N-tile
    d_pre = n_k * sum(w - rp for rp in tiles_r)
    d_red = n_k * len(tiles_r) * (w - 1 - lat)
    d_part = n_k * sum(r - rp for rp in tiles_r)
    if wst_f != c.tiles or wst_c - (d_pre + d_red + d_part) != c.cycles:
        raise AssertionError(f"reconciliation failed for {(m, k, n)} on {name}")
    return {
        "m": m, "k": k, "n": n, "array": name, "rows": r, "width": w, "latency": lat,
        "pim_tiles": c.tiles, "pim_preload": c.preload_cycles, "pim_stream": c.stream_cycles,
        "pim_fill_drain": c.fill_drain_cycles, "pim_cycles": c.cycles,
        "ws_folds": ws_f, "ws_cycles": ws_c, "os_folds": os_f, "os_cycles": os_c,
        "ws_t_folds": wst_f, "ws_t_cycles": wst_c,
        "d_preload": d_pre, "d_reduction": d_red, "d_partial": d_part,
        "pim_over_ws_t": round(c.cycles / wst_c, 4),
    }


def table(rows: list[dict]) -> str:
    head = (f"{'M':>5} {'K':>4} {'N':>4} {'array':<20} {'tiles':>5} {'pimjax':>7} | "
            f"{'WS RxC':>7} {'OS RxC':>7} | {'WS WxR':>7} {'d_pre':>6} {'d_red':>5} {'d_part':>6} {'ratio':>6}")
    lines = [head, "-" * len(head)]
    for x in rows:
        lines.append(
            f"{x['m']:>5} {x['k']:>4} {x['n']:>4} {x['array']:<20} {x['pim_tiles']:>5} {x['pim_cycles']:>7} | "
            f"{x['ws_cycles']:>7} {x['os_cycles']:>7} | {x['ws_t_cycles']:>7} {x['d_preload']:>6} "
            f"{x['d_reduction']:>5} {x['d_partial']:>6} {x['pim_over_ws_t']:>6.3f}")
    return "\n".join(lines)


def _shape(s: str) -> tuple[int, int, int]:
    parts = s.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"shape must be M,K,N of positive integers, got {s!r}")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/", help="folder for crosscheck_scalesim.csv")
    ap.add_argument("--shapes", nargs="+", type=_shape, default=list(DEFAULT_SHAPES), metavar="M,K,N")
    args = ap.parse_args(argv)
    rows = [row(m, k, n, name, cfg) for (m, k, n) in args.shapes for name, cfg in arrays().items()]
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "crosscheck_scalesim.csv")
    with open(path, "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=COLUMNS)
        wr.writeheader()
        wr.writerows(rows)
    print(table(rows))
    summary = {"crosscheck": "scalesim", "rows": len(rows), "csv": path}
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
