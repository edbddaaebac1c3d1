"""An independent checker of PIM schedules, written from the Memolution paper's definitions.

It reads only the graph (vertex times, edges with their sizes and ``L_cache`` / ``L_RAM``) and
the explicit runs and transfers of a schedule; it imports nothing of the schedulers.

A schedule of ``N`` images of ``G = (V, E)`` on ``P`` PEs with a shared buffer of ``C`` bytes is
valid when (Memolution Sec. 2.3 and 3.2):

1. every operation of every image runs exactly once, on one PE in ``0..P-1``, for exactly its
   execution time ``c_i``;
2. a PE runs one operation at a time (PE exclusivity);
3. every edge ``I_ij`` of every image is placed once: in the shared buffer, in eDRAM, or kept on
   the PE (only between two operations on the same PE, a merged vertex of Sec. 3.3); edges of
   the dummy input / output vertices go through eDRAM;
4. data dependence: ``I_ij`` is written no earlier than ``T_i`` ends (the image's source time
   for the input) and read no later than ``T_j`` starts (the sink time for the outputs), and
   ``read - write >= L_cache(I_ij)`` in the buffer, ``>= L_RAM(I_ij)`` in eDRAM;
5. buffer capacity: at every time, the results in the buffer (each during ``[write, read)``)
   take at most ``C`` bytes;
6. the reported periodic quantities are consistent: period ``p >= 1``, prologue ``= R_max p``
   (Sec. 3.2), ``R_max`` and the number of retimings ``>= 0``, no retimings without ``R_max >= 1``.

With ``check_theorem_3_1`` (Memolution schedules: every iteration lasts at most one period, a
result is written when its producer ends and read when its consumer starts), also

7. Theorem 3.1: the relative retiming ``R(i) - R(j)`` of every intermediate result that leaves
   the PE is 0 or 1, and it is the number of whole periods between the result's write and read
   (Definition 2.3: retiming ``T_i`` once runs it one iteration earlier), so a result retimed
   once has at least a period between its producer and its consumer.

:func:`validate` raises ``AssertionError`` listing every violated rule; the total time
``max(sink) - min(source)`` is returned with a few other measured quantities.
"""

from __future__ import annotations

import numpy as np

BUFFER, EDRAM, ON_PE = 0, 1, 2


def _occupancy_peak(starts, ends, sizes) -> int:
    keep = ends > starts
    starts, ends, sizes = starts[keep], ends[keep], sizes[keep]
    if starts.size == 0:
        return 0
    # sweep: at equal times, releases (at `read`) come before new writes (half-open intervals)
    t = np.concatenate([ends, starts])
    d = np.concatenate([-sizes, sizes])
    kind = np.concatenate([np.zeros(ends.size, np.int64), np.ones(starts.size, np.int64)])
    order = np.lexsort((kind, t))
    return int(np.max(np.cumsum(d[order])))


def validate(s, *, check_theorem_3_1: bool = False) -> dict:
    """Checks rules 1-6 (module docstring); returns a few measured quantities."""
    g = s.graph
    errors: list[str] = []
    n_img, n_pe, cap = int(s.images), int(s.num_pes), int(s.buffer_bytes)
    nv, ne = len(g.times), len(g.e_src)
    times = np.asarray(g.times, np.int64)
    ops = np.array([v for v in range(nv) if v not in (g.source, g.sink)], np.int64)

    # 1. runs
    img, ver, pe = (np.asarray(x, np.int64) for x in (s.run_image, s.run_vertex, s.run_pe))
    st, en = np.asarray(s.run_start, np.int64), np.asarray(s.run_end, np.int64)
    key = img * nv + ver
    if img.size != n_img * ops.size or np.unique(key).size != key.size:
        errors.append(f"expected one run per image and operation ({n_img} x {ops.size}), got {img.size} runs "
                      f"({key.size - np.unique(key).size} duplicates)")
    expect = (np.arange(n_img)[:, None] * nv + ops[None, :]).ravel()
    if not np.array_equal(np.sort(key), np.sort(expect)):
        errors.append("runs do not cover exactly the operations of images 0..N-1")
    if np.any((pe < 0) | (pe >= n_pe)):
        errors.append(f"{int(np.sum((pe < 0) | (pe >= n_pe)))} runs on a PE outside 0..{n_pe - 1}")
    bad = en - st != times[np.clip(ver, 0, nv - 1)]
    if np.any(bad):
        errors.append(f"{int(bad.sum())} runs do not last their execution time")
    start_of = np.full(n_img * nv, np.iinfo(np.int64).min // 4, np.int64)
    end_of = np.full(n_img * nv, np.iinfo(np.int64).max // 4, np.int64)
    pe_of = np.full(n_img * nv, -1, np.int64)
    ok_key = (key >= 0) & (key < n_img * nv)
    start_of[key[ok_key]] = st[ok_key]
    end_of[key[ok_key]] = en[ok_key]
    pe_of[key[ok_key]] = pe[ok_key]

    # 2. PE exclusivity
    order = np.lexsort((st, pe))
    p2, s2, e2 = pe[order], st[order], en[order]
    clash = (p2[1:] == p2[:-1]) & (s2[1:] < e2[:-1])
    if np.any(clash):
        i = int(np.nonzero(clash)[0][0])
        errors.append(f"{int(clash.sum())} overlapping runs on a PE, e.g. PE {p2[i]} at {s2[i + 1]} < {e2[i]}")

    # 3. transfers
    timg, tedge, place = (np.asarray(x, np.int64) for x in (s.tr_image, s.tr_edge, s.tr_place))
    wr, rd = np.asarray(s.tr_write, np.int64), np.asarray(s.tr_read, np.int64)
    tkey = timg * ne + tedge
    if tkey.size != n_img * ne or not np.array_equal(np.sort(tkey), np.arange(n_img * ne)):
        errors.append(f"expected one transfer per image and edge ({n_img} x {ne}), got {tkey.size}")
    if np.any((place < 0) | (place > 2)):
        errors.append("unknown placement")
    src = np.asarray(g.e_src, np.int64)[tedge]
    dst = np.asarray(g.e_dst, np.int64)[tedge]
    dummy_edge = (src == g.source) | (dst == g.sink)
    if np.any(dummy_edge & (place != EDRAM)):
        errors.append("an edge of the input/output dummy vertices is not in eDRAM")
    src_t = np.asarray(s.source_time, np.int64)
    snk_t = np.asarray(s.sink_time, np.int64)
    if src_t.size != n_img or snk_t.size != n_img:
        errors.append("source/sink times are not one per image")
        raise AssertionError("\n".join(errors))

    # 4. data dependence
    prod_end = np.where(src == g.source, src_t[timg], end_of[timg * nv + src])
    cons_start = np.where(dst == g.sink, snk_t[timg], start_of[timg * nv + dst])
    lc = np.asarray(g.e_lcache, np.int64)[tedge]
    lr = np.asarray(g.e_lram, np.int64)[tedge]
    lat = np.where(place == BUFFER, lc, np.where(place == EDRAM, lr, 0))
    for mask, what in ((wr < prod_end, "written before its producer ends"),
                       (rd > cons_start, "read after its consumer starts"),
                       (rd - wr < lat, "given less time than its latency")):
        if np.any(mask):
            i = int(np.nonzero(mask)[0][0])
            errors.append(f"{int(mask.sum())} results {what}, e.g. image {timg[i]} edge "
                          f"{g.names[src[i]]}->{g.names[dst[i]]} (write {wr[i]}, read {rd[i]}, "
                          f"producer end {prod_end[i]}, consumer start {cons_start[i]}, latency {lat[i]})")
    onpe = place == ON_PE
    if np.any(onpe):
        bad = onpe & (dummy_edge | (pe_of[timg * nv + np.where(dummy_edge, 0, src)]
                                    != pe_of[timg * nv + np.where(dummy_edge, 0, dst)]))
        if np.any(bad):
            errors.append(f"{int(bad.sum())} results kept on a PE whose producer and consumer run on different PEs")

    # 5. buffer capacity
    b = np.asarray(g.e_bytes, np.int64)[tedge]
    buf = place == BUFFER
    peak = _occupancy_peak(wr[buf], rd[buf], b[buf])
    if peak > cap:
        errors.append(f"buffer holds {peak} bytes at its peak > capacity {cap}")

    # 6. periodic quantities
    period, r_max, retimings = int(s.period), int(s.r_max), int(s.retimings)
    if period < 1 or r_max < 0 or retimings < 0 or int(s.prologue) != r_max * period or (retimings > 0) != (r_max > 0):
        errors.append(f"inconsistent period {period}, R_max {r_max}, prologue {s.prologue}, retimings {retimings}")
    total = int(snk_t.max() - src_t.min())
    if np.any(snk_t < src_t):
        errors.append("an image ends before it starts")

    # 7. Theorem 3.1
    if check_theorem_3_1:
        rel = np.asarray(s.tr_retiming, np.int64)
        off_pe = ~dummy_edge & (place != ON_PE)
        bad = off_pe & ((rel < 0) | (rel > 1))
        if np.any(bad):
            errors.append(f"relative retiming outside 0..1 on {int(bad.sum())} results")
        span = rd - wr
        bad = off_pe & ((span < rel * period) | (span >= (rel + 1) * period))
        if np.any(bad):
            i = int(np.nonzero(bad)[0][0])
            errors.append(f"{int(bad.sum())} results whose relative retiming is not the number of periods between "
                          f"write and read, e.g. image {timg[i]} edge {g.names[src[i]]}->{g.names[dst[i]]}: "
                          f"R(i) - R(j) = {rel[i]}, read - write = {span[i]}, period {period}")
    if errors:
        raise AssertionError("invalid schedule:\n  " + "\n  ".join(errors))
    return {"peak_buffer": peak, "total_time": total, "buffer_results": int(np.sum(buf & ~dummy_edge))}
