"""What one array does for an (M x K) @ (K x N) matmul: MACs, adds, cycles, bytes.

Shape-derived and exact (Python integers). Schedule (Memory Slices Sec. 3.2 and Fig. 4/6,
weight stationary): B is cut into partitions of one ``W``-chunk of K x one output tile of
``R' <= R`` columns; for every partition:

* preload: register B is loaded one array row per cycle, ``R'`` cycles (Memory Slices Sec. 7.2:
  "Having to preload the full multiplier array in a slice and 256 cycles");
* streaming: the rows of A's chunk enter row 0 one per cycle (``M`` cycles for all rows);
* fill/drain: the last A row needs ``R' - 1`` more cycles to pass the remaining rows, plus the
  multiplier and adder-tree pipeline depths (``L = multiplier_latency + adder_tree_latency``).

So a partition pass over all ``M`` rows takes ``2 R' + M - 1 + L`` cycles.

Partial sums. An array that reduces several K-chunks of a tile keeps the tile's running sums
between passes in its accumulator buffer (``ArrayConfig.accumulator_buffer_kib``). When the
``M x R'`` sums do not fit, the sequencer cuts M into row blocks of ``m_b`` rows whose sums fit
(``m_b = floor(buffer / (R' x accumulator bytes))``) and runs, block after block, every
partition over that block (the order of loading partitions into register B is the
sequencer's choice, Memory Slices Sec. 5.1): the numerics are unchanged (each output still
accumulates its K-chunks in ascending order), but every block re-pays the partitions'
preloads and fill/drain, and re-reads B unless B stays resident (see :func:`segment_counts`).
An array with a single partition follows the same block order when it is given one (a slice
system's common blocks, whose packets and aggregation buffers are per block): the partition
stays in register B (one preload), and every block drains (fill/drain per block) before the
next streams. Alone, with the default ``row_block``, it streams all ``M`` rows in one pass.
Only when the buffer cannot hold even one row of a tile do that tile's sums spill to the
slice's memory (read and written back, as the aggregation engine does in Memory Slices Fig. 6
step 9): written after every pass but the last and read before every pass but the first.
The last pass's sums leave through the output stage (one array) or as packets (a slice
system) and are not written as partial sums.

On-chip buffer traffic (the buffers are pimjax assumptions; Memory Slices Sec. 3.2 uses none):
where a tile's block of running sums fits the accumulator buffer, the sums a spill would move
to and from memory are written to and read from the buffer instead (``acc_buffer_bytes_*``,
the same counts as ``acc_bytes_*`` of a spill). Every word loaded into register B comes
either from memory (``b_bytes``) or, when the share is held in the weight buffer, from the
buffer: ``weight_buffer_bytes_read`` = register-B loads - ``b_bytes`` (the reloads), and the
words read from memory are written into the buffer on their way to register B
(``weight_buffer_bytes_written`` = ``b_bytes`` when there are reloads, else 0).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

from pimjax.hw._array import ArrayConfig


class ArrayCounts(NamedTuple):
    """Exact event counts of one array for one matmul (Python ints)."""

    macs: int  # useful multiply-accumulates, M*K*N
    tree_additions: int  # adder-tree additions, (W-1) per row per streamed A row
    accumulator_additions: int  # tree outputs added into the accumulator
    tiles: int  # partition passes (K-chunks x N-tiles x row blocks)
    preload_cycles: int
    stream_cycles: int
    fill_drain_cycles: int
    slot_cycles: int  # cycles x R x W: multiplier slots available
    a_bytes: int  # A streamed from memory (re-streamed for every N-tile)
    b_bytes: int  # B read from memory into register B
    acc_bytes_read: int  # partial sums read back between K-chunk passes (spill)
    acc_bytes_written: int  # partial sums written after each pass but the last (spill)
    register_bits: int  # register B loads + register A shifts
    acc_buffer_bytes_read: int  # partial sums read back from the accumulator buffer between passes
    acc_buffer_bytes_written: int  # partial sums written to the accumulator buffer after each pass but the last
    weight_buffer_bytes_read: int  # register-B reloads served by the weight buffer
    weight_buffer_bytes_written: int  # B read from memory and kept in the weight buffer for those reloads

    @property
    def cycles(self) -> int:
        return self.preload_cycles + self.stream_cycles + self.fill_drain_cycles


class Segment(NamedTuple):
    """The part of one output tile that an array reduces: ``chunks`` consecutive K-chunks
    (``k`` elements of K) of a tile of ``cols`` output columns."""

    cols: int
    chunks: int
    k: int


def word_bytes(fmt, default_bits: int) -> int:
    """Bytes of one word of ``fmt`` (``ceil(bits / 8)``); an exact stage (None) counts ``default_bits``."""
    bits = default_bits if fmt is None else int(fmt.bits)
    return -(-bits // 8)


_bytes = word_bytes


def rows_that_fit(buffer_bytes: float, cols: int, word: int) -> int:
    """Rows of a ``cols``-wide block of ``word``-byte sums that fit ``buffer_bytes`` (0: not one)."""
    return int(buffer_bytes // (cols * word)) if cols > 0 else 0


def tile_segments(k: int, n: int, cfg: ArrayConfig) -> list[Segment]:
    """The segments of one array that holds all of ``(k x n)``: every tile, all ``ceil(k / W)`` chunks."""
    if k == 0 or n == 0:
        return []
    n_k = -(-k // cfg.width)
    return [Segment(min(n, (t + 1) * cfg.rows) - t * cfg.rows, n_k, k) for t in range(-(-n // cfg.rows))]


def segment_counts(m: int, segments: Sequence[Segment], cfg: ArrayConfig, *, row_block: int | None = None,
                   calls: int = 1, weights_resident: bool = False, weights_buffered: bool = False,
                   register_resident: bool = False) -> ArrayCounts:
    """Counts of one array that reduces ``segments`` for ``calls`` consecutive calls of ``m`` rows.

    Args:
      m: rows of A streamed per call.
      segments: what the array holds (:class:`Segment` per output tile); ``p`` = total chunks
        = partitions.
      cfg: the array.
      row_block: rows per block of the schedule (the system's common block; ``None``: what the
        accumulator buffer allows, or all ``m`` rows when no segment has two chunks). With
        ``p > 1`` partitions, every block re-runs every partition (preload, fill/drain); a
        single partition stays in register B (preloaded once per call) and streams the
        blocks in order, draining after each (fill/drain per block), so that its partial sums
        leave block by block like every other contributor's (the packets and aggregation
        buffers of :mod:`pimjax.units._interconnect` are per block).
      calls: consecutive calls costed together (the record is their sum).
      weights_resident: B is the same in every call and the array's share stays on the slice
        (register B or weight buffer): it is read from memory once for all calls.
      weights_buffered: the share fits the slice's weight buffer: it is read from memory once
        per call, not once per row block.
      register_resident: the share is one partition held in register B across the calls:
        preloaded once.

    Partial sums spill (see the module docstring) only where a tile's block of sums does not
    fit the accumulator buffer; with the default ``row_block`` that happens only when not
    even one row fits.
    """
    segs = [s for s in segments if s.k > 0 and s.cols > 0]
    if not segs or m == 0 or calls == 0:
        return ArrayCounts(*([0] * len(ArrayCounts._fields)))
    r, w = cfg.rows, cfg.width
    lat = cfg.multiplier_latency + cfg.adder_tree_latency
    a_b = word_bytes(cfg.a_format, 32)
    b_b = word_bytes(cfg.b_format, 32)
    acc_b = word_bytes(cfg.accumulator_format, 64)
    buf = cfg.accumulator_buffer_kib * 1024
    p = sum(s.chunks for s in segs)
    if row_block is None:
        cmax = max(s.cols for s in segs)
        fit = rows_that_fit(buf, cmax, acc_b)
        row_block = m if (fit == 0 or all(s.chunks == 1 for s in segs)) else fit
    rb = max(1, min(m, row_block))
    n_mb = -(-m // rb)  # blocks, in order (a single partition too: it drains after each)
    elems = sum(s.k * s.cols for s in segs)  # B words of the array's share
    if p > 1:
        preload_call = n_mb * sum(s.chunks * s.cols for s in segs)
        fill_call = n_mb * sum(s.chunks * (s.cols - 1 + lat) for s in segs)
        passes_call = n_mb * p
        loads_call = n_mb * elems
    else:  # one partition: kept in register B across the blocks (one preload), drained per block
        preload_call, fill_call, passes_call, loads_call = segs[0].cols, n_mb * (segs[0].cols - 1 + lat), n_mb, elems
    if register_resident and p == 1:
        preload, loads = preload_call, loads_call  # loaded once, kept in register B
    else:
        preload, loads = calls * preload_call, calls * loads_call
    stream = calls * m * p
    fill = calls * fill_call
    cycles = preload + stream + fill
    if weights_resident:
        b_bytes = elems * b_b
    elif weights_buffered or p == 1:
        b_bytes = calls * elems * b_b
    else:
        b_bytes = calls * n_mb * elems * b_b
    # spill: sums of a block of a multi-chunk tile that do not fit the accumulator buffer
    spill = sum(m * s.cols * (s.chunks - 1) for s in segs if s.chunks > 1 and rb * s.cols * acc_b > buf)
    # the same traffic, in the accumulator buffer, for the tiles whose block of sums fits it
    kept = sum(m * s.cols * (s.chunks - 1) for s in segs if s.chunks > 1 and rb * s.cols * acc_b <= buf)
    # register-B loads that do not come from memory come from the weight buffer
    reloads = loads * b_b - b_bytes
    sums = sum(s.cols * s.chunks for s in segs)
    return ArrayCounts(
        macs=calls * m * elems,
        tree_additions=calls * m * sums * (w - 1),
        accumulator_additions=calls * m * sums,
        tiles=calls * passes_call,
        preload_cycles=preload,
        stream_cycles=stream,
        fill_drain_cycles=fill,
        slot_cycles=cycles * r * w,
        a_bytes=calls * m * sum(s.k for s in segs) * a_b,
        b_bytes=b_bytes,
        acc_bytes_read=calls * spill * acc_b,
        acc_bytes_written=calls * spill * acc_b,
        register_bits=loads * 8 * b_b + stream * r * w * 8 * a_b,
        acc_buffer_bytes_read=calls * kept * acc_b,
        acc_buffer_bytes_written=calls * kept * acc_b,
        weight_buffer_bytes_read=reloads,
        weight_buffer_bytes_written=b_bytes if reloads else 0,
    )


def array_counts(m: int, k: int, n: int, cfg: ArrayConfig, *, row_block: int | None = None) -> ArrayCounts:
    """Counts for ``(m x k) @ (k x n)`` on one array (zero work when ``k == 0``).

    Every N-tile with all ``ceil(k / W)`` K-chunks (:func:`segment_counts`); without a weight
    buffer, B is re-read from memory for every row block.

    >>> from pimjax import hw
    >>> c = array_counts(4, 8, 3, hw.presets.get("memory_slices"))
    >>> c.tiles, c.preload_cycles, c.stream_cycles, c.fill_drain_cycles, c.cycles
    (1, 3, 4, 8, 15)
    """
    return segment_counts(m, tile_segments(k, n, cfg), cfg, row_block=row_block)
