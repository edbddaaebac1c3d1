"""Memolution fidelity: the paper's LS baseline, the memory-cost model, the fidelity rows.

Hand-computed small cases: the paper's LS (iterations of ``batch`` images, no overlap between
iterations, Sec. 4.2 item 2) halves its time when the PEs double where one-image-at-a-time LS
stays flat (Table 1's LS column); the shared buffer vs eDRAM decides when an operation may
start (Sec. 3.2: ``L_cache`` vs ``L_RAM``); an operation computes from the PE's buffers (Sec.
2.2), so a model graph's operation times exclude the streamed operands; ``rows(quick=True)``
keeps the fidelity-table contract.
"""

import dataclasses
import math

import pytest

from pimjax.apps.fidelity._memolution import PAPER_UTILIZATION, paper_summary, rows
from pimjax.apps.fidelity._row import Row, verdict_for
from pimjax.apps.schedule import DataFlowGraph, Latencies, ScheduleConfig, list_schedule, memolution_schedule, model_graph
from sched_validator import validate


def chain(times, nbytes=1, l_cache=0, l_ram=0):
    names = [f"t{i}" for i in range(len(times))]
    edges = [(a, b, nbytes, l_cache, l_ram) for a, b in zip(names, names[1:])]
    return DataFlowGraph.from_edges(dict(zip(names, times)), edges)


def cfg(p, c, n):
    return ScheduleConfig(num_pes=p, buffer_bytes=c, images=n)


def test_papers_ls_halves_with_the_pes_per_image_ls_does_not():
    g = chain([2, 3, 1])  # 6 ticks per image, no parallelism inside an image
    for p in (2, 4, 8):
        s = list_schedule(g, cfg(p, 0, 16), batch=p)  # one image per PE per iteration
        validate(s)
        assert s.total_time == (16 // p) * 6 and s.info["iterations"] == 16 // p and s.utilization == 1.0
        flat = list_schedule(g, cfg(p, 0, 16))
        validate(flat)
        assert flat.total_time == 16 * 6  # one image at a time: flat in the PE count


def test_papers_ls_has_no_overlap_between_iterations():
    # fork-join: a (2), then b, c (3) in parallel, then d (1): 6 per iteration, whatever the PEs
    g = DataFlowGraph.from_edges({"a": 2, "b": 3, "c": 3, "d": 1},
                                 [("a", "b", 1, 0, 0), ("a", "c", 1, 0, 0), ("b", "d", 1, 0, 0), ("c", "d", 1, 0, 0)])
    s = list_schedule(g, cfg(4, 8, 5), batch=2)  # iterations of 2, 2 and 1 images
    validate(s)
    assert s.total_time == 3 * 6 and s.period == 6 and s.info["batch"] == 2
    # on 3 PEs, one image per iteration leaves a PE idle for 6 ticks: 5 x 6; a sliding window
    # of 2 images overlaps them and is faster
    one = list_schedule(g, cfg(3, 8, 5), batch=1)
    validate(one)
    assert one.total_time == 30
    w = list_schedule(g, cfg(3, 8, 5), in_flight=2)
    validate(w)
    assert w.total_time < 30
    with pytest.raises(ValueError, match="batch"):
        list_schedule(g, cfg(4, 8, 5), batch=0)
    with pytest.raises(ValueError, match="exclude"):
        list_schedule(g, cfg(4, 8, 5), batch=2, in_flight=2)


def test_buffer_or_edram_decides_when_the_consumer_starts():
    # two images on two PEs: t0 (2 ticks) on both; image 0's 10-byte result fits the 10-byte
    # buffer (L_cache 1: t1 at 3..6), image 1's goes to eDRAM (L_RAM 4: t1 at 6..9)
    g = chain([2, 3], nbytes=10, l_cache=1, l_ram=4)
    s = list_schedule(g, cfg(2, 10, 2), batch=2)
    validate(s)
    assert s.total_time == 9 and s.place_counts()["buffer"] == 0.5 and s.place_counts()["edram"] == 0.5
    both = list_schedule(g, cfg(2, 20, 2), batch=2)  # a buffer for both: 2 + 1 + 3
    validate(both)
    assert both.total_time == 6 and both.place_counts()["buffer"] == 1


def test_memolution_hides_the_edram_latency_that_ls_waits_for():
    # L_RAM = 10 ticks next to 1-tick operations, no buffer: each LS iteration waits 10 ticks
    g = chain([1, 1], nbytes=1, l_cache=0, l_ram=10)
    ls = list_schedule(g, cfg(2, 0, 64), batch=2)
    validate(ls)
    assert ls.total_time == 32 * (1 + 10 + 1) and ls.utilization == pytest.approx(2 / 12)
    mem = memolution_schedule(g, cfg(2, 0, 64))
    validate(mem, check_theorem_3_1=True)
    assert mem.total_time < ls.total_time / 2  # results in eDRAM retimed instead of waited for
    assert mem.r_max <= 1


def test_operation_costs_from_the_pes_buffers_and_edge_latencies():
    paper = model_graph("alexnet", input_size=16, width=0.125, split=2)
    streamed = model_graph("alexnet", input_size=16, width=0.125, split=2, op_cost="streamed")
    assert [paper.names[v] for v in paper.ops] == [streamed.names[v] for v in streamed.ops]
    # a convolution with its operands in the PE's buffers costs its compute time, less than or
    # equal to streaming them from the bank; some are memory-bound when streamed
    pt = [paper.times[v] for v in paper.ops]
    st = [streamed.times[v] for v in streamed.ops]
    assert all(a <= b for a, b in zip(pt, st)) and sum(pt) < sum(st)
    # a pooling group compares one input element per cycle at 2 GHz: 2x2 windows read 4 elements
    # per 16-bit output, i.e. (out_bytes / 2) * 4 / 2 GHz = out_bytes ns
    pool = paper.index["features.conv1.pool[0]"]
    assert paper.times[pool] == paper.vertices[pool].out_bytes
    # an intermediate result through one 10 GB/s vault: write + read, 2 * bytes / 10 ns;
    # in the buffer half of it (Sec. 3.2), or nothing (Sec. 3.1 reading, cache_speedup = inf)
    e = paper.in_edges[pool][0]
    b = paper.e_bytes[e]
    assert paper.e_lram[e] == math.ceil(2 * b / 10) and paper.e_lcache[e] == math.ceil(b / 10)
    assert Latencies(cache_speedup=math.inf).of(2048, 10.0) == (0, 410)
    with pytest.raises(ValueError, match="op_cost"):
        model_graph("alexnet", input_size=16, width=0.125, split=2, op_cost="free")


def test_verdicts_and_paper_summary():
    assert verdict_for(100.0, 125.0) == "within 25%" and verdict_for(100.0, 74.0) == "misses"
    assert verdict_for(-10.0, -12.0) == "within 25%"
    ps = paper_summary()
    assert ps["imp_vs_ls_all"] == pytest.approx(0.5572, abs=1e-4)  # Table 1: 55.72 %
    assert ps["imp_vs_sparta_all"] == pytest.approx(0.2535, abs=1e-4)  # 25.35 %
    assert ps["buffer_ratio_vs_ls"] == pytest.approx(2.76, abs=0.01)  # Table 2: 2.76x
    assert ps["buffer_ratio_vs_sparta"] == pytest.approx(3.64, abs=0.01)  # 3.64x
    assert [round(x, 4) for x in ps["retiming_cut_vs_sparta"]] == pytest.approx([0.6117, 0.8052], abs=2e-4)
    assert ps["ls_speedup"][0] == pytest.approx(2.06, abs=0.01) and ps["ls_buffer_constant"]
    assert PAPER_UTILIZATION == (0.829, 0.978)


def test_quick_rows_keep_the_contract():
    rs = rows(quick=True)
    assert rs and all(isinstance(r, Row) and r.paper == "Memolution" for r in rs)
    names = [r.quantity for r in rs]
    assert len(set(names)) == len(names)
    for key in ("LS time 32 PEs / 64 PEs", "Memolution time cut vs LS, average", "Results in the shared buffer, "
                "Memolution / LS", "Memolution PE utilization, lowest", "Memolution retimings fall with the PEs"):
        assert key in names
    for r in rs:
        assert r.kind in ("value", "trend") and r.verdict in ("within 25%", "trend holds", "misses")
        assert r.assumptions and r.source
        if r.kind == "value" and r.pimjax_value is not None:
            assert r.verdict == verdict_for(r.paper_value, r.pimjax_value)
        if r.gap:
            assert r.verdict == "misses" and sum(s for _, s in r.gap) == pytest.approx(100.0, abs=0.5)
        if r.verdict == "misses" and r.kind == "value" and "variant" not in r.quantity and "earlier" not in r.quantity:
            assert r.gap  # every headline miss is decomposed
    ls = next(r for r in rs if r.quantity == "LS time 32 PEs / 64 PEs")
    assert ls.verdict == "within 25%"  # the paper's LS halves with the PEs
    assert dataclasses.is_dataclass(Row)


def test_peak_cache_requirement_of_all_groups():
    # Fig. 8: aligned groups peak together (C_max N_g); Alg. 3.1's stagger never raises the peak here
    g = DataFlowGraph.from_edges({"a": 2, "b": 3, "c": 3, "d": 1},
                                 [("a", "b", 8, 0, 0), ("a", "c", 4, 0, 0), ("b", "d", 2, 0, 0), ("c", "d", 2, 0, 0)])
    from pimjax.apps.schedule import MemolutionOptions

    for q in (1, 2, 3):
        m = memolution_schedule(g, cfg(6, 10**6, 24), MemolutionOptions(group_size=q, merge=False))
        validate(m, check_theorem_3_1=True)
        assert m.info["peak_aligned"] == m.info["c_max"] * m.info["groups"] > 0
        assert m.info["c_max"] <= m.info["peak_staggered"] <= m.info["peak_aligned"]
