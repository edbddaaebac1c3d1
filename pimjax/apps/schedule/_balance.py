"""PE groups and their start times: Memolution's balancing of cache requirement (Sec. 3.4, Alg. 3.1).

``N_g = floor(P / q)`` groups of ``q`` PEs run the same iteration on different images ("each
group adopts the same allocation of vertices in each iteration"); ``q`` is ``n`` or ``n + 1``
for ``n`` the widest level of the merged graph ("Memolution prefers to select the iteration with
n or n + 1 PEs"; pimjax builds both and keeps the faster, see
:func:`pimjax.apps.schedule.memolution_schedule`).

Algorithm 3.1 with ``C_max``, ``C_min`` the largest / smallest buffer requirement of one group
over its period (every intermediate result in the buffer, :func:`group_requirement`):

* line 1-2 (case 1): ``C_max N_g <= C_t``: all groups start together, ``gs_i = gs_0 = 0``;
* line 4-5 (case 2): ``(C_max + C_min) N_g > 2 C_t``: no stagger can fit the buffer, results
  must go to eDRAM. The paper's amount ("at least 1/2 (C_max + C_min) C_t capacity") is not
  dimensionally sound; pimjax records the case and lets Alg. 3.2 move exactly what is needed;
* line 7 (cases 2 and 3): group ``i`` starts at ``gs_0 + i p / N_g`` (rounded down to a tick)
  so that the peaks of one group meet the valleys of the others.

The requirement is the steady state of the periodic schedule (:func:`periodic_profile`): a
result held during ``[w, w + span)`` in every period ``p`` occupies the buffer during ``[w + k p,
w + span + k p)`` for all ``k``.

>>> import numpy as np
>>> periodic_profile(np.array([0, 3]), np.array([2, 2]), np.array([10, 5]), 4)  # (max, argmax, min)
(15, 0, 0)
>>> alg31_case(10, 0, 4, 40), alg31_case(10, 0, 4, 20), alg31_case(10, 8, 4, 20)
(1, 3, 2)
>>> group_starts(8, 4, stagger=True).tolist(), group_starts(8, 4, stagger=False).tolist()
([0, 2, 4, 6], [0, 0, 0, 0])
"""

from __future__ import annotations

import numpy as np

from pimjax.apps.schedule._iteration import Iteration
from pimjax.apps.schedule._merge import MergedGraph


def periodic_profile(w: np.ndarray, span: np.ndarray, size: np.ndarray, p: int) -> tuple[int, int, int]:
    """Steady-state requirement of the intervals ``[w + k p, w + span + k p)`` (all ``k``).

    Args:
      w: write times (any integers).
      span: how long each result stays (``>= 0``; ``>= p`` means several copies at once).
      size: bytes of each result.
      p: the period (``>= 1``).

    Returns:
      ``(max, argmax, min)`` of the requirement over ``[0, p)``; ``argmax`` is the first time of
      the maximum.
    """
    if size.size == 0:
        return 0, 0, 0
    wm = np.mod(w, p)
    full = span // p
    rem = span % p
    base = int(np.sum(size * full))
    end = wm + rem
    s1, e1 = wm, np.minimum(end, p)
    wrap = end > p
    starts = np.concatenate([s1, np.zeros(int(wrap.sum()), np.int64)])
    ends = np.concatenate([e1, end[wrap] - p])
    sizes = np.concatenate([size, size[wrap]])
    keep = ends > starts
    starts, ends, sizes = starts[keep], ends[keep], sizes[keep]
    t = np.concatenate([starts, ends, np.array([0, p], np.int64)])
    d = np.concatenate([sizes, -sizes, np.zeros(2, np.int64)])
    order = np.argsort(t, kind="stable")
    t, d = t[order], d[order]
    uniq, first = np.unique(t, return_index=True)
    vals = np.cumsum(np.add.reduceat(d, first))[:-1]  # value on [uniq[i], uniq[i+1]); uniq[-1] == p
    times = uniq[:-1]
    i = int(np.argmax(vals))
    return base + int(vals[i]), int(times[i]), base + int(vals.min())


def group_requirement(mg: MergedGraph, it: Iteration, exclude: frozenset[int]) -> tuple[int, int]:
    """Alg. 3.1's inputs ``(C_max, C_min)`` for one group.

    Args:
      mg: the merged graph.
      it: the group's iteration (no retiming).
      exclude: merged edges that are not in the buffer (pinned to eDRAM).

    Returns:
      The largest and smallest buffer requirement over the period when every other intermediate
      result stays in the buffer from its producer's end to its consumer's start.
    """
    js = [j for j in range(len(mg.e_src)) if not mg.is_dummy_edge(j) and j not in exclude and mg.e_bytes[j] > 0]
    if not js:
        return 0, 0
    u = np.array([mg.e_src[j] for j in js], np.int64)
    w = np.array([mg.e_dst[j] for j in js], np.int64)
    fin = it.start + np.array(mg.times, np.int64)[:, None]
    wr = fin[u, :].T
    span = it.start[w, :].T - wr
    size = np.broadcast_to(np.array([mg.e_bytes[j] for j in js], np.int64)[None, :], wr.shape)
    c_max, _, c_min = periodic_profile(wr.ravel(), span.ravel(), np.ascontiguousarray(size).ravel(), it.period)
    return c_max, c_min


def all_groups_requirement(mg: MergedGraph, it: Iteration, exclude: frozenset[int], gs: np.ndarray) -> int:
    """Peak steady-state buffer requirement of all groups started at ``gs`` (Sec. 3.4, Fig. 8).

    Args:
      mg, it, exclude: as in :func:`group_requirement`.
      gs: start offsets of the groups (:func:`group_starts`).

    Returns:
      The largest requirement over the period when every group keeps all its other intermediate
      results in the buffer (``C_max N_g`` for aligned groups).
    """
    js = [j for j in range(len(mg.e_src)) if not mg.is_dummy_edge(j) and j not in exclude and mg.e_bytes[j] > 0]
    if not js:
        return 0
    u = np.array([mg.e_src[j] for j in js], np.int64)
    w = np.array([mg.e_dst[j] for j in js], np.int64)
    fin = it.start + np.array(mg.times, np.int64)[:, None]
    wr = fin[u, :].T.ravel()
    span = (it.start[w, :].T - fin[u, :].T).ravel()
    size = np.broadcast_to(np.array([mg.e_bytes[j] for j in js], np.int64)[None, :], (it.start.shape[1], len(js))).ravel()
    gs = np.asarray(gs, np.int64)
    peak, _, _ = periodic_profile((wr[None, :] + gs[:, None]).ravel(), np.tile(span, len(gs)), np.tile(size, len(gs)),
                                  it.period)
    return peak


def alg31_case(c_max: int, c_min: int, ng: int, capacity: int) -> int:
    """Which case of Alg. 3.1 applies (module docstring).

    Args:
      c_max, c_min: the largest / smallest requirement of one group (:func:`group_requirement`).
      ng: ``N_g``, the number of groups.
      capacity: ``C_t``, the buffer in bytes.

    Returns:
      1 (line 2: everything fits, no stagger), 2 (line 4-5: results must go to eDRAM, stagger)
      or 3 (line 7: stagger to overlap peaks and valleys).
    """
    if c_max * ng <= capacity:
        return 1
    return 2 if (c_max + c_min) * ng > 2 * capacity else 3


def group_starts(p: int, ng: int, *, stagger: bool) -> np.ndarray:
    """Start offsets ``gs_i`` of the ``ng`` groups (Alg. 3.1 line 2 or line 7, ``gs_0 = 0``).

    Args:
      p: the period.
      ng: the number of groups.
      stagger: ``False``: all at 0 (line 2); ``True``: group ``i`` at ``floor(i p / N_g)`` (line 7).

    Returns:
      ``(ng,)`` int64 offsets.
    """
    return np.array([i * p // ng for i in range(ng)] if stagger else [0] * ng, np.int64)
