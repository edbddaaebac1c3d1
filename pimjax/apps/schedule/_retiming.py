"""Allocation of the results to buffer or eDRAM with minimum prologue: Memolution Sec. 3.2 and 3.5.

Retiming (Definition 2.3): retiming ``T_i`` once (``R(i) += 1``) moves one iteration of it into
the prologue: its instance of iteration ``l`` runs in period ``l - R(i)``. The prologue is
``R_max p`` (Sec. 3.2), so minimizing it "is equivalent to ... reducing the maximum retiming
value" (Sec. 3.5).

Properties 3.1-3.3 for a result ``I_ij`` of the iteration (``s``: start, ``c``: time):

* 3.1: ``s_i + c_i + L_RAM <= s_j``: it can go to eDRAM as it is, ``R(i) = R(j)``;
* 3.2: ``s_i + c_i + L_cache >= s_j``: it needs one retiming even in the buffer. This case cannot
  arise here: the iteration is built with ``L_cache`` on every result (and the paper's ``>=``
  needs no retiming at equality, where the result fits exactly);
* 3.3: in between: ``R(i) - R(j)`` is 0 in the buffer and 1 in eDRAM.

Theorem 3.1: with ``R(i) - R(j) = 1`` the producer's end and the consumer's start are ``s_j + p -
f_i >= p + L_cache >= L_RAM`` apart (the period is at least ``max(L_RAM - L_cache)``, see
:mod:`pimjax.apps.schedule._iteration`), so the result is always schedulable in eDRAM and no
result needs more than one retiming.

Algorithm 3.2 as pimjax runs it (:func:`allocate`): every result of every group and image of the
iteration starts in the buffer. While the steady-state requirement (all groups, all copies alive,
periodic in ``p``) exceeds ``C_t`` at some time, the results alive at the first such peak
(``V_sch``) are priced ``Delta L = p (1 - u / N_g) Delta R`` (group ``u``) and moved to eDRAM in
ascending order of ``Delta L / Delta C`` (``Delta C`` = bytes) until the peak fits. A move
needs no retiming when the result can go through eDRAM as it is (Property 3.1, or ``T_i``
already runs an iteration ahead); otherwise ``T_i`` is retimed once relative to ``T_j``
(Property 3.3). The retiming function is the least solution of ``R(i) - R(j) >= delta_ij``
(1 for a result in eDRAM that needs it, else 0) and ``R(i) - R(j) <= 1`` (Theorem 3.1's
hypothesis) over all intermediate results, with ``R <= max_retiming`` (default 1: "the maximum
iteration added to the initial schedule is only one iteration of time", Sec. 3.2). ``Delta R`` is
how much the move raises the group's ``R_max``. A move that would break the bounds is skipped;
if nothing at the peak can move, :class:`Stuck` names those results, and the caller pins them
to eDRAM and rebuilds the iteration with ``L_RAM`` on them (no retiming needed).

Deviations (``docs/scheduling.md``): line 11 sorts *descending*, which moves the most expensive
results first and contradicts the stated objective, so pimjax sorts ascending by default
(``edram_order``); the capacity test is time-resolved instead of a sum of sizes; ``Delta L`` uses
the increase of the group's ``R_max`` instead of ``R(i) - R(j)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pimjax.apps.schedule._balance import periodic_profile
from pimjax.apps.schedule._iteration import PROCS, Iteration
from pimjax.apps.schedule._merge import MergedGraph


class Stuck(Exception):
    """No result alive at a buffer peak can move to eDRAM within the bounds on ``R``.

    Attributes:
      edges: the merged edges that could not move.
    """

    def __init__(self, edges: set[int]) -> None:
        super().__init__(f"{len(edges)} results cannot leave the buffer without breaking Theorem 3.1's bound")
        self.edges = edges


@dataclasses.dataclass
class Allocation:
    """Where the results of all groups live and how the operations are retimed.

    Attributes:
      gs: ``(N_g,)`` group start offsets (Alg. 3.1).
      place: ``(N_g, PROCS, J)`` per candidate result (merged edges that are neither dummy nor
        pinned, in edge order): ``True`` = buffer, ``False`` = eDRAM.
      R: ``(N_g, PROCS, M)`` retiming of every merged vertex instance (the source: the largest of
        its successors'; the sink: 0).
      moves: results moved to eDRAM.
    """

    gs: np.ndarray
    place: np.ndarray
    R: np.ndarray
    moves: int


def allocate(mg: MergedGraph, it: Iteration, gs: np.ndarray, capacity: int, pinned: frozenset[int],
             order: str, r_cap: int) -> Allocation:
    """Alg. 3.2 with the retiming of Properties 3.1-3.3 and Theorem 3.1 (module docstring).

    Args:
      mg: the merged graph.
      it: the iteration every group runs.
      gs: ``(N_g,)`` start offsets of the groups (:func:`pimjax.apps.schedule._balance.group_starts`).
      capacity: ``C_t``, the buffer in bytes.
      pinned: merged edges already in eDRAM with ``L_RAM`` in the iteration (not candidates).
      order: ``"ascending"`` or ``"descending"`` ``Delta L / Delta C``.
      r_cap: the largest retiming value allowed.

    Returns:
      The :class:`Allocation`.

    Raises:
      Stuck: nothing alive at a peak of the requirement can move to eDRAM.
    """
    p = it.period
    ng = len(gs)
    m = mg.num_vertices
    cand = [j for j in range(len(mg.e_src)) if not mg.is_dummy_edge(j) and j not in pinned]
    jidx = {j: i for i, j in enumerate(cand)}
    nc = len(cand)
    cu = np.array([mg.e_src[j] for j in cand], np.int64)
    cw = np.array([mg.e_dst[j] for j in cand], np.int64)
    cbytes = np.array([mg.e_bytes[j] for j in cand], np.int64)
    clram = np.array([mg.e_lram[j] for j in cand], np.int64)
    fin = it.start + np.array(mg.times, np.int64)[:, None]  # (M, PROCS)
    slack0 = (it.start[cw, :] - fin[cu, :]).T if nc else np.zeros((PROCS, 0), np.int64)  # (PROCS, J)
    place = np.ones((ng, PROCS, nc), bool)
    delta = np.zeros((ng, PROCS, nc), np.int64)
    R = np.zeros((ng, PROCS, m), np.int64)
    opmask = np.ones(m, bool)
    opmask[[mg.source, mg.sink]] = False
    inner = [j for j in range(len(mg.e_src)) if not mg.is_dummy_edge(j)]
    in_inner: list[list[int]] = [[] for _ in range(m)]
    out_inner: list[list[int]] = [[] for _ in range(m)]
    for j in inner:
        in_inner[mg.e_dst[j]].append(j)
        out_inner[mg.e_src[j]].append(j)

    def raise_to(g: int, k: int, v: int, val: int) -> bool:
        """Least raise of ``R[g, k]`` with ``R(v) >= val`` that keeps ``delta_ij <= R(i) - R(j) <= 1``
        on every intermediate result; ``False`` (and ``R`` unchanged) if it needs ``R > r_cap``."""
        r = R[g, k]
        saved = r.copy()
        stack = [(v, val)]
        while stack:
            x, val = stack.pop()
            if r[x] >= val:
                continue
            if val > r_cap:
                r[:] = saved
                return False
            r[x] = val
            for j in in_inner[x]:
                i = jidx.get(j, -1)
                need = val + (int(delta[g, k, i]) if i >= 0 else 0)
                u = mg.e_src[j]
                if r[u] < need:
                    stack.append((u, need))
            for j in out_inner[x]:
                w = mg.e_dst[j]
                if r[w] < val - 1:
                    stack.append((w, val - 1))
        return True

    def intervals() -> tuple[np.ndarray, np.ndarray]:
        """``(write, span)`` ``(N_g, PROCS, J)`` of every candidate result in the buffer under ``R``."""
        ru = R[:, :, cu]
        rw = R[:, :, cw]
        w = gs[:, None, None] + fin[cu, :].T[None, :, :] - ru * p
        return w, slack0[None, :, :] + (ru - rw) * p

    def profile() -> tuple[int, int, int]:
        """Steady-state buffer requirement of all groups: ``(max, argmax, min)``."""
        if nc == 0:
            return 0, 0, 0
        sel = place & (cbytes > 0)[None, None, :]
        w, span = intervals()
        size = np.broadcast_to(cbytes[None, None, :], sel.shape)
        return periodic_profile(w[sel], span[sel], size[sel], p)

    moves = 0
    # Alg. 3.2, time-resolved
    while True:
        peak, tau, _ = profile()
        if peak <= capacity:
            break
        w, span = intervals()
        mult = span // p + (np.mod(tau - w, p) < span % p)
        blocked: set[int] = set()
        live = place & (cbytes > 0)[None, None, :] & (mult > 0)
        gl, kl, il = np.nonzero(live)
        gmax = R[:, :, opmask].reshape(ng, -1).max(axis=1)
        cands = []
        for g, k, i in zip(gl.tolist(), kl.tolist(), il.tolist()):
            mu = int(mult[g, k, i])
            need = 1 if int(span[g, k, i]) < int(clram[i]) else 0
            dr = 0
            if need:  # tentatively retime: how much does the group's R_max grow?
                saved = R[g, k].copy()
                delta[g, k, i] = 1
                ok = raise_to(g, k, int(cu[i]), int(R[g, k, int(cw[i])]) + 1)
                delta[g, k, i] = 0
                if not ok:
                    blocked.add(cand[i])
                    continue
                dr = max(0, int(R[g, k][opmask].max()) - int(gmax[g]))
                R[g, k] = saved
            dl = p * (1.0 - g / ng) * dr
            cands.append((dl / int(cbytes[i]), need, -int(cbytes[i]) * mu, g, k, i, mu))
        if order == "ascending":
            cands.sort(key=lambda c: c[:6])
        else:
            cands.sort(key=lambda c: (-c[0],) + c[1:6])
        excess = peak - capacity
        moved = False
        for _, _, _, g, k, i, mu in cands:
            if excess <= 0:
                break
            u, wv = int(cu[i]), int(cw[i])
            if int(slack0[k, i]) < int(clram[i]):  # needs R(u) - R(w) >= 1 in eDRAM (Property 3.3)
                delta[g, k, i] = 1
                if not raise_to(g, k, u, int(R[g, k, wv]) + 1):
                    delta[g, k, i] = 0
                    blocked.add(cand[i])
                    continue
            place[g, k, i] = False
            moved = True
            moves += 1
            excess -= int(cbytes[i]) * mu
        if not moved:
            raise Stuck(blocked)
    # the source runs with its earliest successor (input available any time); the sink is never retimed
    for j in mg.out_edges[mg.source]:
        R[:, :, mg.source] = np.maximum(R[:, :, mg.source], R[:, :, mg.e_dst[j]])
    return Allocation(gs=gs, place=place, R=R, moves=moves)
