"""What one array does for an (M x K) @ (K x N) matmul: MACs, adds, cycles, bytes.

Shape-derived and exact (Python integers). Schedule (Memory Slices Sec. 3.2 and Fig. 4/6,
weight stationary): for every output tile of ``R' <= R`` columns and every K-chunk of ``W``:

* preload: register B is loaded one array row per cycle, ``R'`` cycles (Memory Slices Sec. 7.2:
  "Having to preload the full multiplier array in a slice and 256 cycles");
* streaming: the ``M`` rows of A's chunk enter row 0 one per cycle, ``M`` cycles;
* fill/drain: the last A row needs ``R' - 1`` more cycles to pass the remaining rows, plus the
  multiplier and adder-tree pipeline depths (``L = multiplier_latency + adder_tree_latency``).

So a tile pass takes ``2 R' + M - 1 + L`` cycles. A tile's M x R' partial sums persist between
K-chunk passes in the array's accumulator buffer (``ArrayConfig.accumulator_buffer_kib``); a
tile whose partial sums do not fit spills them to the slice's memory (read and written back,
as the aggregation engine does in Memory Slices Fig. 6 step 9): written after every pass but
the last and read before every pass but the first, ``n_k - 1`` times each; the last pass's sums leave through
the output stage (one array) or as packets (a slice system) and are not written as partial sums.
"""

from __future__ import annotations

from typing import NamedTuple

from pimjax.hw._array import ArrayConfig


class ArrayCounts(NamedTuple):
    """Exact event counts of one array for one matmul (Python ints)."""

    macs: int  # useful multiply-accumulates, M*K*N
    tree_additions: int  # adder-tree additions, (W-1) per row per streamed A row
    accumulator_additions: int  # tree outputs added into the accumulator
    tiles: int  # tile passes (K-chunks x N-tiles)
    preload_cycles: int
    stream_cycles: int
    fill_drain_cycles: int
    slot_cycles: int  # cycles x R x W: multiplier slots available
    a_bytes: int  # A streamed from memory (re-streamed for every N-tile)
    b_bytes: int  # B read from memory into register B
    acc_bytes_read: int  # partial sums read back between K-chunk passes
    acc_bytes_written: int  # partial sums written after each pass but the last
    register_bits: int  # register B loads + register A shifts

    @property
    def cycles(self) -> int:
        return self.preload_cycles + self.stream_cycles + self.fill_drain_cycles


def _bytes(fmt, default_bits: int) -> int:
    bits = default_bits if fmt is None else int(fmt.bits)
    return -(-bits // 8)


def array_counts(m: int, k: int, n: int, cfg: ArrayConfig) -> ArrayCounts:
    """Counts for ``(m x k) @ (k x n)`` on one array (zero work when ``k == 0``).

    >>> from pimjax import hw
    >>> c = array_counts(4, 8, 3, hw.presets.get("memory_slices"))
    >>> c.tiles, c.preload_cycles, c.stream_cycles, c.fill_drain_cycles, c.cycles
    (1, 3, 4, 8, 15)
    """
    if k == 0 or m == 0 or n == 0:
        return ArrayCounts(*([0] * len(ArrayCounts._fields)))
    r, w = cfg.rows, cfg.width
    n_k = -(-k // w)
    n_n = -(-n // r)
    lat = cfg.multiplier_latency + cfg.adder_tree_latency
    preload = n_k * n  # sum over tiles of R'
    stream = n_k * n_n * m
    fill = n_k * ((n - n_n) + n_n * lat)  # sum over tiles of (R' - 1 + L)
    cycles = preload + stream + fill
    a_b = _bytes(cfg.a_format, 32)
    b_b = _bytes(cfg.b_format, 32)
    acc_b = _bytes(cfg.accumulator_format, 64)
    # partial sums (M x R' per tile) stay in the accumulator buffer if they fit, else spill
    buf = cfg.accumulator_buffer_kib * 1024
    r_last = n - (n_n - 1) * r
    spill = (n_n - 1) * m * r * (m * r * acc_b > buf) + m * r_last * (m * r_last * acc_b > buf)
    return ArrayCounts(
        macs=m * k * n,
        tree_additions=m * n * n_k * (w - 1),
        accumulator_additions=m * n * n_k,
        tiles=n_k * n_n,
        preload_cycles=preload,
        stream_cycles=stream,
        fill_drain_cycles=fill,
        slot_cycles=cycles * r * w,
        a_bytes=n_n * m * k * a_b,
        b_bytes=k * n * b_b,
        acc_bytes_read=spill * (n_k - 1) * acc_b,
        acc_bytes_written=spill * (n_k - 1) * acc_b,
        register_bits=k * n * 8 * b_b + stream * r * w * 8 * a_b,
    )
