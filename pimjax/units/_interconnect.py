"""Placement of a matmul on slices, and the interconnect traffic of its partial sums.

Placement (``SystemConfig.partitioning``; Memory Slices Sec. 4.1, Fig. 5, Table 4): which part
of ``B`` (K x N) each slice reduces, as :class:`~pimjax.units._array_counts.Segment` lists, and
which slices contribute to each output tile of ``R`` columns:

* ``"k_split"``: slice ``s`` holds the K-range ``k_sizes[s]`` of every tile (the mapping);
* ``"partitions"``: the ``ceil(K / W) x ceil(N / R)`` partitions (one K-chunk of one tile)
  are dealt in order (tile by tile, K-chunks ascending) to the slices, slice ``s`` taking
  partitions ``[s P // S, (s + 1) P // S)``.

Packets (Memory Slices Sec. 3.2 and Fig. 6 step 5): the adder trees of a slice emit, each
cycle, one partial sum per row for a diagonal of the output tile ((0,2), (1,3), (2,4), ...);
the network interface coalesces the elements of a cycle bound for the same slice into packets
that carry only the first element's index and the count (the others follow from the diagonal),
and routes packets to the local port when source and destination coincide. For a block of
``m`` rows of a tile of ``R'`` columns, the final pass emits ``n_c = min(c + 1, R', m, m + R' - 1 - c)``
elements at cycle ``c`` (``0 <= c < m + R' - 1``), in ``ceil(n_c / e)`` packets of at most
``e = payload_bytes // element_bytes`` elements, each with ``header_bytes`` of header.

Ownership (``SystemConfig.ownership``): ``"tile"``: each tile has one owner (the mapping's,
or under ``"partitions"`` the first slice holding the tile); ``"diagonal"``: the diagonals of
a tile's blocks (one packet's worth each) are owned round-robin by the slices reducing the
tile, starting at slice ``t mod A_t`` of its ``A_t`` contributors and continuing across
blocks. A tile reduced by a single slice is owned by that slice (no network traffic).
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple, Sequence

import numpy as np

from pimjax.hw._system import SystemConfig
from pimjax.units._array_counts import Segment


class ICNCounts(NamedTuple):
    """Interconnect traffic of one system matmul (Python ints; jnp scalars once traced)."""

    packets: int  # packets that crossed the ICN
    local_packets: int  # packets delivered to the local port (source == owner)
    bytes: int  # bytes (headers + payload) that crossed the ICN
    hop_bytes: int  # sum over ICN packets of bytes x hops
    hops: int  # sum over ICN packets of hops
    elements: int  # partial sums sent (ICN + local)


class SliceTraffic(NamedTuple):
    """Per-slice traffic of one call (lists indexed by slice) and the farthest route."""

    counts: list[ICNCounts]  # what each slice sends
    received_bytes: list[int]  # bytes each slice receives over the ICN (ejection)
    owned: list[int]  # final output elements each slice owns (aggregates and writes)
    rmw: list[int]  # arriving partial sums added to a stored value (owned x (contributors - 1))
    max_hops: int  # over every (contributor, owner) pair that exchanges data


class Placement(NamedTuple):
    """Who reduces what: per slice its segments as ``(tile, Segment)``; per tile its contributors."""

    segments: list[list[tuple[int, Segment]]]
    contributors: list[tuple[int, ...]]
    tile_cols: list[int]  # columns of each tile


def check_size(name: str, v: Any, lo: int = 1, what: str = "") -> None:
    """Raises unless the static size ``v`` is an integer >= ``lo``.

    Python and NumPy integers are checked (``ValueError`` naming ``name`` and the valid range);
    floats, strings and bools are a ``TypeError``; anything else (a traced value) passes.
    """
    if isinstance(v, (bool, float, str)):
        raise TypeError(f"{name} must be an integer{what}, got {type(v).__name__} {v!r}")
    if isinstance(v, (int, np.integer)) and v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}{what}, got {v}")


def check_matmul_call(*, m: int, k_sizes: Sequence[int], n: int, owners: Sequence[int] | None, tile_cols: int,
                      cfg: SystemConfig) -> None:
    """Validates the shape and mapping of a system matmul (``K = sum(k_sizes)``) for ``cfg``.

    ``m, n, tile_cols >= 1``; ``k_sizes``: one entry >= 0 per slice of ``cfg``, summing to >= 1;
    ``owners`` (unless ``None``): one slice index in ``0..num_slices - 1`` per output tile of
    ``tile_cols`` columns. Raises ``ValueError`` (``TypeError`` for a non-integer) naming the
    argument and its valid range.
    """
    check_size("m", m, what=" (rows of A)")
    check_size("n", n, what=" (columns of B)")
    check_size("tile_cols", tile_cols, what=" (columns of an output tile)")
    s_count = cfg.num_slices
    if len(k_sizes) != s_count:
        raise ValueError(f"k_sizes must have one entry per slice ({s_count}), got {len(k_sizes)}")
    for s, ks in enumerate(k_sizes):
        check_size(f"k_sizes[{s}]", ks, lo=0)
    if all(isinstance(ks, (int, np.integer)) for ks in k_sizes) and sum(k_sizes) < 1:
        raise ValueError(f"sum(k_sizes) (K) must be >= 1, got {sum(k_sizes)}")
    if owners is None or not isinstance(n, (int, np.integer)) or not isinstance(tile_cols, (int, np.integer)):
        return
    n_tiles = -(-n // tile_cols)
    if len(owners) != n_tiles:
        raise ValueError(f"owners must have one entry per output tile (ceil(n / tile_cols) = {n_tiles}), "
                         f"got {len(owners)}")
    for t, o in enumerate(owners):
        if isinstance(o, (int, np.integer)) and not 0 <= o < s_count:
            raise ValueError(f"owners[{t}] must be a slice index in 0..{s_count - 1}, got {o}")


def tile_packets(m: int, r: int, elems_per_packet: int) -> int:
    """Packets for one ``m`` x ``r`` output tile with per-cycle diagonal coalescing."""
    c = np.arange(m + r - 1, dtype=np.int64)
    n = np.minimum(np.minimum(c + 1, r), np.minimum(m, m + r - 1 - c))
    return int(np.sum(-(-n // elems_per_packet)))


def _diagonals(m: int, r: int, epp: int) -> tuple[np.ndarray, np.ndarray]:
    c = np.arange(m + r - 1, dtype=np.int64)
    n = np.minimum(np.minimum(c + 1, r), np.minimum(m, m + r - 1 - c))
    return n, -(-n // epp)


def placement(*, k_sizes: Sequence[int], n: int, tile_cols: int, cfg: SystemConfig) -> Placement:
    """The placement of ``(M x K) @ (K x N)`` (``K = sum(k_sizes)``) under ``cfg.partitioning``."""
    s_count = len(k_sizes)
    w = cfg.array.width
    n_n = -(-n // tile_cols)
    cols = [min(n, (t + 1) * tile_cols) - t * tile_cols for t in range(n_n)]
    segs: list[list[tuple[int, Segment]]] = [[] for _ in range(s_count)]
    contrib: list[list[int]] = [[] for _ in range(n_n)]
    if cfg.partitioning == "partitions":
        k = sum(k_sizes)
        n_k = -(-k // w)
        p_tot = n_k * n_n
        for s in range(s_count):
            lo, hi = s * p_tot // s_count, (s + 1) * p_tot // s_count
            q = lo
            while q < hi:
                t, c0 = divmod(q, n_k)
                c1 = min(n_k, c0 + (hi - q))
                segs[s].append((t, Segment(cols[t], c1 - c0, min(k, c1 * w) - c0 * w)))
                contrib[t].append(s)
                q += c1 - c0
    else:  # k_split (output_split has no cross-slice traffic; it is costed elsewhere)
        for s, ks in enumerate(k_sizes):
            if ks:
                nk = -(-ks // w)
                for t in range(n_n):
                    segs[s].append((t, Segment(cols[t], nk, ks)))
                    contrib[t].append(s)
    return Placement(segs, [tuple(c) for c in contrib], cols)


def _hops_to(srcs: np.ndarray, dst: np.ndarray, s_count: int, icn) -> np.ndarray:
    """``hops[i, j]`` from ``srcs[i]`` to ``dst[j]`` (vectorized :meth:`InterconnectConfig.hops`)."""
    a = srcs[:, None]
    b = dst[None, :]
    if icn.topology == "crossbar":
        h = np.ones((len(srcs), len(dst)), np.int64)
    elif icn.topology == "ring":
        d = np.abs(a - b)
        h = np.minimum(d, s_count - d)
    else:
        wd = icn.mesh_width or math.ceil(math.sqrt(s_count))
        h = np.abs(a % wd - b % wd) + np.abs(a // wd - b // wd)
    return np.where(a == b, 0, h).astype(np.int64)


_HOP_MATRIX_MAX = 1024  # slices up to which all pairs' hops are kept (8 MiB of int64)


@functools.lru_cache(maxsize=8)
def _hop_matrix(s_count: int, icn) -> np.ndarray:
    """``hops[i, j]`` between every pair of the ``s_count <= _HOP_MATRIX_MAX`` slices (read-only; cached)."""
    ids = np.arange(s_count, dtype=np.int64)
    h = _hops_to(ids, ids, s_count, icn)
    h.flags.writeable = False
    return h


def _blocks(m: int, row_block: int) -> list[tuple[int, int]]:
    """``(rows, count)`` of the row blocks of ``m`` rows in blocks of ``row_block``."""
    rb = max(1, min(m, row_block))
    full, rest = divmod(m, rb)
    out = [(rb, full)] if full else []
    if rest:
        out.append((rest, 1))
    return out


def slice_traffic(*, m: int, plc: Placement, owners: Sequence[int] | None, row_block: int,
                  cfg: SystemConfig) -> SliceTraffic:
    """Traffic of one call: what each slice sends and receives, owns and aggregates.

    Args:
      m: rows of the output.
      plc: the placement (:func:`placement`).
      owners: the mapping's owner of each tile (``"tile"`` ownership under ``"k_split"``).
      row_block: rows per block of the schedule (the final pass of every block of every tile
        emits its diagonals; every contributor follows the blocks in order, a slice holding a
        single partition too: :func:`pimjax.units._array_counts.segment_counts` drains it
        after every block).
      cfg: the system (packet element size, ICN, ownership).
    """
    icn = cfg.interconnect
    eb = cfg.packet_element_bytes
    epp = icn.payload_bytes // eb
    if epp < 1:
        raise ValueError(
            f"InterconnectConfig.payload_bytes ({icn.payload_bytes}) is smaller than one element ({eb} bytes)"
        )
    hb = icn.header_bytes
    s_count = len(plc.segments)
    # rows: packets, local packets, bytes, hop bytes, hops, elements (what a slice sends), then
    # received bytes, owned elements, read-modify-writes (what it receives as owner)
    acc = np.zeros((9, s_count), np.int64)
    max_hops = 0
    blocks = _blocks(m, row_block)
    diag_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    seq_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    share_cache: dict[tuple, tuple] = {}
    hop_all = _hop_matrix(s_count, icn) if s_count <= _HOP_MATRIX_MAX else None

    def sequence(r: int) -> tuple[np.ndarray, np.ndarray]:
        """Elements and packets of every diagonal of a tile of ``r`` columns, blocks in order."""
        if r not in seq_cache:
            es, ps = [], []
            for rows, count in blocks:
                if (rows, r) not in diag_cache:
                    diag_cache[(rows, r)] = _diagonals(rows, r, epp)
                e, p = diag_cache[(rows, r)]
                es.append(np.tile(e, count))
                ps.append(np.tile(p, count))
            seq_cache[r] = (np.concatenate(es), np.concatenate(ps))
        return seq_cache[r]

    def share(r: int, a_t: int, pos: int | None) -> tuple:
        """What the ``a_t`` contributors of a tile of ``r`` columns send and its owners receive.

        ``pos``: ``None`` (one contributor), the diagonal start (``"diagonal"``) or the owner's
        position among the contributors (``"tile"``, -1: the owner does not contribute); all three
        fix the traffic up to which slices the contributors are, so tiles alike in them share it.
        Returns ``(send, own_bytes, own_p, recv, owns_any)``: ``send`` (4 x a_t: packets, local
        packets, bytes, elements), per owner its bytes and packets, ``recv`` (3 x owners).
        """
        key = (r, a_t, pos)
        if key not in share_cache:
            e_seq, p_seq = sequence(r)
            e_tot, p_tot = int(e_seq.sum()), int(p_seq.sum())
            if a_t > 1 and cfg.ownership == "diagonal":
                slot = (pos + np.arange(len(e_seq))) % a_t
                own_e = np.bincount(slot, weights=e_seq, minlength=a_t).astype(np.int64)
                own_p = np.bincount(slot, weights=p_seq, minlength=a_t).astype(np.int64)
            else:
                own_e, own_p = np.asarray([e_tot], np.int64), np.asarray([p_tot], np.int64)
            own_bytes = own_p * hb + own_e * eb
            # every contributor sends every diagonal; those it owns go to its local port
            if a_t == 1 or cfg.ownership == "diagonal":  # each contributor owns its own share
                contributes = True
                mine_p, mine_e = own_p, own_e
            else:  # one owner, which may or may not contribute
                contributes = pos >= 0
                is_owner = np.arange(a_t) == pos
                mine_p, mine_e = np.where(is_owner, p_tot, 0), np.where(is_owner, e_tot, 0)
            send = np.stack([p_tot - mine_p, mine_p, (p_tot - mine_p) * hb + (e_tot - mine_e) * eb,
                             np.full(a_t, e_tot, np.int64)]).astype(np.int64)
            senders = a_t - int(contributes)  # the others send each owner its diagonals
            recv = np.stack([senders * own_bytes, own_e, own_e * (a_t - 1)]).astype(np.int64)
            share_cache[key] = (send, np.stack([own_bytes, own_p], axis=1), recv, own_e > 0, bool(own_e.sum()))
        return share_cache[key]

    # Tiles with the same contributors, width and owner (or diagonal start) send the same
    # traffic: each such group is computed once and counted as often as it occurs.
    groups: dict[tuple, int] = {}
    for t, c_t in enumerate(plc.contributors):
        a_t = len(c_t)
        if not a_t:
            continue
        if a_t == 1:
            how = None
        elif cfg.ownership == "diagonal":
            how = t % a_t
        else:
            how = c_t[0] if (owners is None or cfg.partitioning == "partitions") else int(owners[t])
        g = (c_t, plc.tile_cols[t], how)
        groups[g] = groups.get(g, 0) + 1

    for (c_t, r, how), times in groups.items():
        a_t = len(c_t)
        src = np.asarray(c_t, np.int64)
        if a_t == 1 or cfg.ownership == "diagonal":
            own_ids, pos = src, how
        else:
            own_ids, pos = np.asarray([how], np.int64), (c_t.index(how) if how in c_t else -1)
        send, own_bp, recv, owns, owns_any = share(r, a_t, pos)
        # contributors x owners
        h = hop_all[src][:, own_ids] if hop_all is not None else _hops_to(src, own_ids, s_count, icn)
        hop = h @ own_bp  # per contributor: hop bytes, hops
        # the contributors of a tile are distinct slices (placement), so plain indexing adds once each;
        # all int64, so the order of the additions does not matter
        acc[:6, src] += times * np.concatenate([send[:3], hop.T, send[3:]])
        acc[6:, own_ids] += times * recv
        if owns_any and h.size:
            max_hops = max(max_hops, int(h[:, owns].max()))
    # .tolist(): the same Python ints as int() of each element, converted in one call
    pk, loc, nbytes, hop_b, hops, elems, recv_b, owned, rmw = acc.tolist()
    counts = [ICNCounts(*row) for row in zip(pk, loc, nbytes, hop_b, hops, elems)]
    return SliceTraffic(counts, recv_b, owned, rmw, max_hops)


def packetize_per_slice(*, k_sizes: Sequence[int], owners: Sequence[int], n: int, tile_cols: int,
                        m: int, cfg: SystemConfig, row_block: int | None = None) -> list[ICNCounts]:
    """Traffic sent by each source slice to the owners of the output tiles (one call).

    Args:
      k_sizes: K elements held by each slice (a slice with none sends nothing).
      owners: owner slice of each output tile of ``tile_cols`` columns.
      n, m: output columns and rows.
      cfg: the system (placement, ownership, packet element size, ICN).
      row_block: rows per block (default: the cost model's, :func:`pimjax.units._interconnect.system_row_block`).

    Raises:
      ValueError: a bad shape or mapping (:func:`check_matmul_call`).
    """
    check_matmul_call(m=m, k_sizes=k_sizes, n=n, owners=owners, tile_cols=tile_cols, cfg=cfg)
    plc = placement(k_sizes=k_sizes, n=n, tile_cols=tile_cols, cfg=cfg)
    if row_block is None:
        row_block = system_row_block(m, plc, cfg)
    return slice_traffic(m=m, plc=plc, owners=owners, row_block=row_block, cfg=cfg).counts


def system_row_block(m: int, plc: Placement, cfg: SystemConfig) -> int:
    """Rows per block of a system matmul: the most rows whose sums fit both buffers that are needed.

    The accumulator buffer (``ArrayConfig.accumulator_buffer_kib``) is needed when a slice
    reduces two or more K-chunks of a tile: ``floor(buffer / (R' x accumulator bytes))`` rows.
    The aggregation buffer (``AggregationConfig.buffer_kib``) is needed when a tile has two
    or more contributors: an owner holds its share of a block's running sums, ``1 / A`` of the
    block under ``"diagonal"`` ownership (``A``: the fewest contributors of such a tile), all of
    it under ``"tile"``: ``floor(buffer x A / (R' x aggregation bytes))`` rows. A buffer that
    cannot hold one row does not constrain the block (its sums spill to memory instead).
    ``R'`` is the widest tile. Returns ``m`` when nothing constrains. Every slice of the system
    runs these blocks in order (:func:`pimjax.units._array_counts.segment_counts` with this
    ``row_block``), so an owner holds one block's running sums at a time.
    """
    from pimjax.units._array_counts import rows_that_fit, word_bytes

    cmax = max(plc.tile_cols) if plc.tile_cols else 1
    rb = m
    if any(seg.chunks > 1 for segs in plc.segments for _, seg in segs):
        fit = rows_that_fit(cfg.array.accumulator_buffer_kib * 1024, cmax, word_bytes(cfg.array.accumulator_format, 64))
        if fit:
            rb = min(rb, fit)
    multi = [len(c) for c in plc.contributors if len(c) > 1]
    if multi:
        share = min(multi) if cfg.ownership == "diagonal" else 1
        fit = rows_that_fit(cfg.aggregation.buffer_kib * 1024 * share, cmax,
                            word_bytes(cfg.aggregation.accumulator_format, 64))
        if fit:
            rb = min(rb, fit)
    return max(1, rb)


def packetize(*, k_sizes: Sequence[int], owners: Sequence[int], n: int, tile_cols: int, m: int,
              cfg: SystemConfig) -> ICNCounts:
    """Total traffic of all slices of one call (see :func:`packetize_per_slice`).

    Under ``partitioning="output_split"`` (NeuroTrainer) the counts are those of the module's
    bus (:func:`pimjax.cost.system_cost`): bytes and hop-bytes the broadcast and merged bytes,
    packets and hops the ``payload_bytes`` bursts, elements the merged outputs.
    """
    if cfg.partitioning == "output_split":
        check_matmul_call(m=m, k_sizes=k_sizes, n=n, owners=owners, tile_cols=tile_cols, cfg=cfg)
        sp = output_split(m, sum(k_sizes), n, cfg)
        bursts = -(-sp.bus_bytes // cfg.interconnect.payload_bytes)
        return ICNCounts(bursts, 0, sp.bus_bytes, sp.bus_bytes, bursts, sp.merged)
    per = packetize_per_slice(k_sizes=k_sizes, owners=owners, n=n, tile_cols=tile_cols, m=m, cfg=cfg)
    return ICNCounts(*(sum(c[i] for c in per) for i in range(len(ICNCounts._fields))))


class OutputSplit(NamedTuple):
    """NeuroTrainer's placement of a matmul on a module's PEs (``partitioning="output_split"``).

    ``by_rows``: the output rows are split (A partitioned over the PEs' vaults, B the shared
    operand); else the columns (B partitioned, A shared). Per PE: ``rows[p] x cols[p]``
    outputs and ``vectors[p] = ceil(rows[p] / R)`` vectors of the ``R`` MACs. ``shared_bytes``:
    the shared operand, read once from the common vault and broadcast over the bus;
    ``merged``: output elements merged to the common vault over the bus (column split);
    ``bus_bytes``: both.
    """

    by_rows: bool
    rows: list[int]
    cols: list[int]
    vectors: list[int]
    shared_bytes: int
    merged: int
    bus_bytes: int


def output_split(m: int, k: int, n: int, cfg: SystemConfig) -> OutputSplit:
    """Split of ``(m x k) @ (k x n)`` over ``cfg.num_slices`` PEs, NeuroTrainer Sec. 3.1.

    "Small common data" is duplicated, large data partitioned: when A (``m x k``) has at least
    as many bytes as B (``k x n``), as for a convolution's input against its kernels, the rows
    are split in whole ``R``-row vectors (as evenly as possible, earlier PEs first) and B is
    broadcast to every PE's buffer; otherwise, as for an FC layer's weight matrix, the columns
    are split (earlier PEs take the extra column), A is broadcast, and each PE's output block
    ``pAX_i`` is merged into the common data vault (Fig. 7).
    """
    from pimjax.units._array_counts import word_bytes

    arr = cfg.array
    p_count = cfg.num_slices
    a_b, b_b = word_bytes(arr.a_format, 32), word_bytes(arr.b_format, 32)
    out_b = word_bytes(cfg.aggregation.output_format, 64)
    by_rows = m * k * a_b >= k * n * b_b
    if by_rows:
        v = -(-m // arr.rows)
        base, extra = divmod(v, p_count)
        vecs = [base + (1 if p < extra else 0) for p in range(p_count)]
        rows, lo = [], 0
        for vp in vecs:
            rows.append(min(m, (lo + vp) * arr.rows) - min(m, lo * arr.rows))
            lo += vp
        cols = [n if r else 0 for r in rows]
        shared, merged = k * n * b_b, 0
    else:
        base, extra = divmod(n, p_count)
        cols = [base + (1 if p < extra else 0) for p in range(p_count)]
        rows = [m if c else 0 for c in cols]
        vecs = [-(-m // arr.rows) if c else 0 for c in cols]
        shared, merged = m * k * a_b, m * n
    return OutputSplit(by_rows, rows, cols, vecs, shared, merged, shared + merged * out_b)
