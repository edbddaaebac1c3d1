"""Where the Memory Slices trend misses go: decompositions computed from the cost model's own terms.

Every number here comes from the records of :func:`pimjax.apps.fidelity._memory_slices.lstm_costs`
(one training batch of an LSTM stand-in's LSTM layers, FF + BP + UP) when the table is made.

* Time terms (:func:`time_terms`): a record's time is ``max(T_c, T_m, T_i) + tail``
  (:mod:`pimjax.cost._model`), split additively into its compute time ``T_c`` (itself split into
  preload, streaming and fill/drain in proportion to the record's cycle counts), the memory time
  beyond the compute ``max(T_c, T_m) - T_c``, the network time beyond both and the tail (network
  hops, aggregation fan-in). The terms of all records add up to the record's ``time_s``.
* DRAM traffic classes (:func:`traffic_classes`): the weight reloads are the read bytes that a
  resident weight buffer removes (``weight_buffer_kib`` very large, a what-if used only to count
  them; the mapper may then pick another row split, so the class is what that what-if removes),
  the other reads are A's streaming, the first load of the weights and spilled partial sums, the
  writes are the outputs and spilled partial sums.
* Energy terms (:data:`ENERGY_TERMS`): the record's energy fields, which add up to ``energy_pj``.
"""

from __future__ import annotations

import math
from typing import Sequence

from ._memory_slices import SLICES, lstm_costs, lstm_record
from ._row import shares

TIME_TERMS: tuple[tuple[str, str], ...] = (
    ("preload", "register-B preload (weight reloads, 256 cycles per partition)"),
    ("stream", "streaming A through the arrays"),
    ("fill_drain", "array fill/drain per partition pass"),
    ("memory", "vault traffic beyond the compute (memory-bound time)"),
    ("network", "network beyond compute and memory (16 B/cycle links)"),
    ("tail", "network hops and aggregation fan-in after the last call"),
)
"""(key, mechanism) of the additive time terms of :func:`time_terms`."""

RESIDENT = 1e9
"""Weight buffer (KiB) of the what-if that counts the weight reloads: every share stays resident."""

TRAFFIC: tuple[tuple[str, str], ...] = (
    ("reloads", "weight reloads (the reads a resident weight buffer removes)"),
    ("reads", "A streaming, first weight load, spilled partial sums read"),
    ("writes", "outputs and spilled partial sums written"),
)
"""(key, class) of the DRAM traffic classes of :func:`traffic_classes`."""


def time_terms(name: str, slices: int, system: str = "slices_hmc2") -> dict[str, float]:
    """Seconds per term of :data:`TIME_TERMS` (module docstring); they sum to the batch's ``time_s``."""
    out = {k: 0.0 for k, _ in TIME_TERMS}
    for phases in lstm_costs(name, system, slices).values():
        for rec in phases.values():
            d = rec.to_dict()
            tc, tm, ti = d["time_compute_s"], d["time_memory_s"], d["time_icn_s"]
            cyc = d["cycles_preload"] + d["cycles_stream"] + d["cycles_fill_drain"]
            for k in ("preload", "stream", "fill_drain"):
                out[k] += tc * d[f"cycles_{k}"] / cyc if cyc else 0.0
            out["memory"] += max(tc, tm) - tc
            out["network"] += max(tc, tm, ti) - max(tc, tm)
            out["tail"] += d["time_s"] - max(tc, tm, ti)
    return out


def superlinear_gap(name: str) -> tuple[tuple[tuple[str, float], ...], str]:
    """Shares of the time at the most slices above linear scaling from the fewest, per time term.

    Linear scaling from ``S0`` to ``S1`` slices takes ``T(S0) S0 / S1``; the excess ``T(S1) - T(S0)
    S0 / S1`` is the sum of the terms' excesses (each term's ``x(S1) - x(S0) S0 / S1``), so the
    shares add up to 100 %. Returns ``(gap, basis)``.
    """
    s0, s1 = SLICES[0], SLICES[-1]
    a, b = time_terms(name, s0), time_terms(name, s1)
    r = s0 / s1
    excess = sum(b.values()) - r * sum(a.values())
    gap = shares([(mech, b[k] - r * a[k]) for k, mech in TIME_TERMS])
    basis = (f"the time on {s1} slices above linear scaling from {s0}: {excess * 1e3:.3f} of "
             f"{sum(b.values()) * 1e3:.3f} ms")
    return gap, basis


def traffic_classes(name: str, slices: int = 512, system: str = "slices_hmc2") -> dict[str, float]:
    """DRAM bytes per class of :data:`TRAFFIC` (module docstring); they sum to the batch's ``dram_bytes``."""
    d, w = lstm_record(name, system, slices), lstm_record(name, system, slices, RESIDENT)
    return {"reloads": d["dram_bytes_read"] - w["dram_bytes_read"], "reads": w["dram_bytes_read"],
            "writes": d["dram_bytes_written"]}


def compute_bound_gap(names: Sequence[str], slices: int = 512) -> tuple[tuple[tuple[str, float], ...], str]:
    """Shares of the DRAM bytes behind the memory time, per traffic class, summed over ``names``."""
    cls = {k: sum(traffic_classes(n, slices)[k] for n in names) for k, _ in TRAFFIC}
    t_m = sum(lstm_record(n, "slices_hmc2", slices)["time_memory_s"] for n in names)
    t_c = sum(lstm_record(n, "slices_hmc2", slices)["time_compute_s"] for n in names)
    basis = (f"the DRAM bytes of the {len(names)} LSTMs on {slices} slices, whose memory time "
             f"({t_m * 1e3:.2f} ms) exceeds their compute time ({t_c * 1e3:.2f} ms)")
    return shares([(mech, cls[k]) for k, mech in TRAFFIC]), basis


def intensity_gap(names: Sequence[str], slices: int = 512) -> tuple[tuple[tuple[str, float], ...], str]:
    """Shares per traffic class of the bytes-per-FLOP difference of the most inverted pair of ``names``.

    ``names`` are in the paper's order of FLOP per byte (ascending, i.e. descending bytes per FLOP);
    of the consecutive pairs that pimjax inverts (or ties), the one with the largest relative
    inversion is decomposed: ``bytes/FLOP`` of the first minus the second, per class.
    """
    bpf = {n: {k: v / lstm_record(n, "slices_hmc2", slices)["flops"] for k, v in traffic_classes(n, slices).items()}
           for n in names}
    tot = {n: sum(v.values()) for n, v in bpf.items()}
    pairs = list(zip(names, names[1:]))
    lo, hi = max(pairs, key=lambda p: (tot[p[1]] - tot[p[0]]) / tot[p[0]])
    diff = tot[lo] - tot[hi]
    basis = (f"{lo.upper()} minus {hi.upper()} in DRAM bytes per FLOP ({tot[lo] * 1e3:.2f} - {tot[hi] * 1e3:.2f} "
             f"= {diff * 1e3:+.2f} B per kFLOP; the paper's order needs it > 0)")
    return shares([(mech, bpf[lo][k] - bpf[hi][k]) for k, mech in TRAFFIC]), basis


ENERGY_TERMS: tuple[tuple[str, str], ...] = (
    ("energy_dram_pj", "DRAM (3.7 pJ/bit, Sec. 6)"),
    ("energy_icn_pj", "ICN (0.5 pJ/bit/hop, pimjax assumption)"),
    ("energy_buffer_pj", "on-slice buffers (0.3 pJ/bit, pimjax assumption)"),
    ("energy_register_pj", "registers"),
    ("energy_aggregation_pj", "aggregation adds"),
    ("energy_compute_pj", "compute (Table 1 stand-in for McPAT)"),
)
"""(record field, mechanism) of the energy terms (they sum to ``energy_pj``)."""


def efficiency_order_gap(eff: dict[str, float], paper_best: Sequence[str],
                         slices: int = 512) -> tuple[tuple[tuple[str, float], ...], str]:
    """Shares per energy term of the pJ/FLOP difference that puts a paper's best LSTM out of the top.

    The paper's best LSTM with the lowest efficiency in pimjax against the lowest of pimjax's top
    ``len(paper_best)`` that the paper does not name: its pJ/FLOP minus the intruder's, per term.
    """
    top = sorted(eff, key=lambda n: -eff[n])[:len(paper_best)]
    out = min((n for n in paper_best if n not in top), key=lambda n: eff[n])
    intruder = min((n for n in top if n not in paper_best), key=lambda n: eff[n])
    a, b = lstm_record(out, "slices_hmc2", slices), lstm_record(intruder, "slices_hmc2", slices)
    diff = a["energy_pj"] / a["flops"] - b["energy_pj"] / b["flops"]
    basis = (f"{out.upper()} minus {intruder.upper()} in energy per FLOP "
             f"({a['energy_pj'] / a['flops']:.3f} - {b['energy_pj'] / b['flops']:.3f} = {diff:+.3f} pJ/FLOP)")
    gap = shares([(mech, a[k] / a["flops"] - b[k] / b["flops"]) for k, mech in ENERGY_TERMS])
    if not all(math.isfinite(p) for _, p in gap):
        return (), basis
    return gap, basis
