"""SPARTA, Memolution's second baseline (pimjax.apps.schedule._sparta): the mechanism on small
graphs computed by hand (characterize by cost, prioritize, least-loaded allocation, simple
retiming with L_RAM, first come first served buffer), every schedule checked by the independent
``sched_validator``."""

import numpy as np
import pytest

from pimjax.apps.schedule import BUFFER, EDRAM, DataFlowGraph, ScheduleConfig, sparta_schedule
from sched_validator import validate


def chain(times, nbytes=1, l_cache=0, l_ram=0):
    names = [f"t{i}" for i in range(len(times))]
    edges = [(a, b, nbytes, l_cache, l_ram) for a, b in zip(names, names[1:])]
    return DataFlowGraph.from_edges(dict(zip(names, times)), edges)


def runs_of(s, image=0):
    """{vertex name: (pe, start, end)} of one image."""
    g = s.graph
    m = s.run_image == image
    return {g.names[v]: (int(p), int(a), int(b)) for v, p, a, b in
            zip(s.run_vertex[m], s.run_pe[m], s.run_start[m], s.run_end[m])}


def test_two_tasks_costliest_first_and_one_retiming():
    # b (3) is allocated first (PE 0, [0, 3)), a (1) next (PE 1, [0, 1)): p = 3, b would start
    # before a ends, so a is retimed once: it runs one period earlier (R(a) = 1, R(b) = 0)
    g = DataFlowGraph.from_edges({"a": 1, "b": 3}, [("a", "b", 1, 0, 0)])
    s = sparta_schedule(g, ScheduleConfig(num_pes=2, buffer_bytes=8, images=4), batch=1)
    validate(s)
    assert (s.period, s.r_max, s.retimings, s.prologue) == (3, 1, 1, 3)
    r = runs_of(s, 0)
    assert r["b"][0] == 0 and r["a"][0] == 1
    assert r["b"][1] - r["a"][1] == 3  # a of image 0 runs in the prologue, a period before b
    assert s.total_time == 15  # prologue + 4 periods
    assert s.info["retimings_per_image"] == 1.0


def test_chain_longest_first_on_least_loaded_pe_and_retiming_by_hand():
    # LPT on 2 PEs: t0 (4) -> PE0 [0,4); t1 (3) -> PE1 [0,3); t2 (2) -> PE1 [3,5); t3 (2) -> PE0
    # [4,6); t4 (1) -> PE1 [5,6); p = 6. With L_RAM = 0: d(t0,t1) = ceil(4/6) = 1, d(t1,t2) = 0,
    # d(t2,t3) = ceil(1/6) = 1, d(t3,t4) = 1 -> R = 3, 2, 2, 1, 0
    g = chain([4, 3, 2, 2, 1])
    s = sparta_schedule(g, ScheduleConfig(num_pes=2, buffer_bytes=0, images=6), batch=1)
    validate(s)
    r = runs_of(s, 5)  # an image of the steady state
    base = r["t4"][1] - 5
    assert {k: (p, a - base) for k, (p, a, _) in r.items()} == {
        "t0": (0, 0 - 3 * 6), "t1": (1, 0 - 2 * 6), "t2": (1, 3 - 2 * 6), "t3": (0, 4 - 6), "t4": (1, 5)}
    assert (s.period, s.r_max, s.retimings) == (6, 3, 8)
    # with L_RAM = 2 every result needs one retiming more than its slack: R = 4, 3, 2, 1, 0
    s2 = sparta_schedule(chain([4, 3, 2, 2, 1], l_ram=2), ScheduleConfig(num_pes=2, buffer_bytes=0, images=6), batch=1)
    validate(s2)
    assert (s2.period, s2.r_max, s2.retimings) == (6, 4, 10)


def test_retimings_per_image_do_not_depend_on_the_images_per_iteration():
    # two images per iteration on 4 PEs: the same allocation twice (ties by image), the same R
    g = chain([4, 3, 2, 2, 1])
    one = sparta_schedule(g, ScheduleConfig(num_pes=2, buffer_bytes=0, images=8), batch=1)
    two = sparta_schedule(g, ScheduleConfig(num_pes=4, buffer_bytes=0, images=8), batch=2)
    validate(one)
    validate(two)
    assert two.period == one.period == 6
    assert two.retimings == 2 * one.retimings and two.info["retimings_per_image"] == one.info["retimings_per_image"]
    # prologue R_max p plus one period per round (the input/output latencies are 0)
    assert one.total_time == (8 + 3) * 6 and two.total_time == (4 + 3) * 6


def test_buffer_first_come_first_served():
    # one PE: t0 (2) [0,2), t1 (1) [2,3); p = 3; L_RAM = 3 > slack 0 -> R(t0) = 1; the result
    # lives [2 - 3, 2) = 3 ticks: it takes the buffer if its 10 bytes fit, else eDRAM
    g = chain([2, 1], nbytes=10, l_cache=1, l_ram=3)
    fits = sparta_schedule(g, ScheduleConfig(num_pes=1, buffer_bytes=10, images=3), batch=1)
    validate(fits)
    assert fits.r_max == 1 and fits.place_counts()["buffer"] == 1.0 and fits.peak_buffer == 10
    spills = sparta_schedule(g, ScheduleConfig(num_pes=1, buffer_bytes=9, images=3), batch=1)
    validate(spills)
    assert spills.place_counts()["edram"] == 1.0 and spills.peak_buffer == 0
    # a fork: both results are written when a ends; the first edge comes first, the second
    # does not fit next to it (15 bytes) and goes to eDRAM, never revisited
    f = DataFlowGraph.from_edges({"a": 3, "b": 1, "c": 1}, [("a", "b", 10, 1, 3), ("a", "c", 10, 1, 3)])
    s = sparta_schedule(f, ScheduleConfig(num_pes=1, buffer_bytes=15, images=4), batch=1)
    validate(s)
    inter = np.array([f.is_intermediate(e) for e in range(len(f.edges))])[s.tr_edge]
    ab = [e for e in range(len(f.edges)) if f.names[f.e_src[e]] == "a" and f.names[f.e_dst[e]] == "b"][0]
    assert np.all(s.tr_place[s.tr_edge == ab] == BUFFER)
    assert np.sum(inter & (s.tr_place == EDRAM)) == 4 and s.peak_buffer == 10


def test_bad_arguments_are_rejected():
    g = chain([1, 1])
    with pytest.raises(ValueError, match="batch"):
        sparta_schedule(g, ScheduleConfig(num_pes=2), batch=0)
    with pytest.raises(TypeError, match="DataFlowGraph"):
        sparta_schedule("g", ScheduleConfig(num_pes=2), batch=1)
