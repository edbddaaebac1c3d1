"""Scheduling data-flow graphs on PIM PEs: list scheduling vs Memolution (pimjax.apps.schedule).

Every schedule is checked by ``sched_validator.validate`` (written from the paper's definitions,
independent of the schedulers): data dependences with the buffer / eDRAM latencies, PE
exclusivity, buffer capacity. Hand-computed optima pin the algorithms down on small graphs;
hypothesis covers random DAGs; Theorem 3.1's bound on relative retiming is checked everywhere.
"""

import json
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimjax import cli
from pimjax.apps.schedule import (BUFFER, EDRAM, ON_PE, DataFlowGraph, Edge, Latencies, MemolutionOptions,
                                  ScheduleConfig, Vertex, compare, format_tables, list_schedule,
                                  memolution_schedule, merge_vertices, model_graph, parse_bytes, sparta_schedule)
from sched_validator import validate


def chain(times, nbytes=1, l_cache=0, l_ram=0):
    names = [f"t{i}" for i in range(len(times))]
    edges = [(a, b, nbytes, l_cache, l_ram) for a, b in zip(names, names[1:])]
    return DataFlowGraph.from_edges(dict(zip(names, times)), edges)


def fork_join():
    return DataFlowGraph.from_edges({"a": 2, "b": 3, "c": 3, "d": 1},
                                    [("a", "b", 1, 0, 0), ("a", "c", 1, 0, 0), ("b", "d", 1, 0, 0), ("c", "d", 1, 0, 0)])


def cfg(p, c, n):
    return ScheduleConfig(num_pes=p, buffer_bytes=c, images=n)


# ---------------------------------------------------------------------------------------------
# small graphs with optima known by hand


def test_ls_fork_join_on_two_pes_is_optimal():
    s = list_schedule(fork_join(), cfg(2, 8, 3))
    validate(s)
    # a (2) then b, c in parallel (3) then d (1): the critical path, 6 per image, images one by one
    assert s.period == 6 and s.total_time == 18 and s.retimings == 0 and s.r_max == 0
    assert set(np.unique(s.run_pe)) == {0, 1}


def test_ls_buffer_capacity_decides_the_latency():
    g = chain([2, 3], nbytes=10, l_cache=1, l_ram=4)
    fits = list_schedule(g, cfg(1, 10, 2))
    validate(fits)
    assert fits.period == 2 + 1 + 3 and fits.place_counts()["buffer"] == 1
    spills = list_schedule(g, cfg(1, 9, 2))
    validate(spills)
    assert spills.period == 2 + 4 + 3 and spills.place_counts()["edram"] == 1 and spills.peak_buffer == 0


def test_memolution_fills_all_pes_with_groups_on_a_chain():
    # 4 unit operations in a chain: LS can use one PE; Memolution runs 4 groups of 1 PE, each on
    # 4 images per period, and reaches the bound images * work / PEs = 16 * 4 / 4
    g = chain([1, 1, 1, 1])
    c = cfg(4, 64, 16)
    ls, mem = list_schedule(g, c), memolution_schedule(g, c)
    validate(ls)
    validate(mem, check_theorem_3_1=True)
    assert ls.total_time == 64
    assert mem.total_time == 16 and mem.info["groups"] == 4 and mem.period == 16
    assert mem.utilization == 1.0


def test_memolution_interleaving_hides_the_latency():
    # a(2) -> b(2), L_cache = 2 on one PE. LS: 2 + 2 + 2 = 6 per image. Memolution interleaves
    # two images (a^A a^B b^A b^B ...): b^A's input arrives exactly when a^B ends; the PE never idles.
    g = chain([2, 2], nbytes=4, l_cache=2, l_ram=4)
    c = cfg(1, 64, 4)
    ls, mem = list_schedule(g, c), memolution_schedule(g, c)
    validate(ls)
    validate(mem, check_theorem_3_1=True)
    assert ls.total_time == 24
    assert mem.total_time == 16 and mem.period == 16 and mem.r_max == 0
    assert mem.place_counts()["buffer"] == 1


def test_memolution_retiming_by_hand():
    # a(2) -> b(2), 10 bytes, L_cache 0, L_RAM 3, no buffer. The iteration (4 images) is
    # a a b b a a b b with b starting 2 ticks after its a: eDRAM needs 3, so every a is retimed
    # once (Property 3.3): R_max = 1, 4 retimings, prologue = p = 16, total = prologue + 2 p.
    g = chain([2, 2], nbytes=10, l_cache=0, l_ram=3)
    mem = memolution_schedule(g, cfg(1, 0, 8))
    validate(mem, check_theorem_3_1=True)
    assert (mem.period, mem.r_max, mem.retimings, mem.prologue) == (16, 1, 4, 16)
    assert mem.total_time == 48
    inter = mem.tr_edge == g.out_edges[g.index["t0"]][0]
    assert np.all(mem.tr_place[inter] == EDRAM) and np.all(mem.tr_retiming[inter] == 1)
    # Theorem 3.1 (proof): a result retimed once has at least one period between its ends
    assert np.all(mem.tr_read[inter] - mem.tr_write[inter] >= mem.period)
    # without retiming the latency goes into a rebuilt iteration instead
    flat = memolution_schedule(g, cfg(1, 0, 8), MemolutionOptions(max_retiming=0))
    validate(flat, check_theorem_3_1=True)
    assert flat.r_max == 0 and flat.period == 18 and flat.total_time == 36


def test_alg31_staggers_group_starts_to_overlap_peaks():
    # one PE per group, 4 groups; each group needs 10 bytes for 1 tick twice per period (p = 8).
    # C = 20 < 4 * 10: Alg. 3.1 case 3 starts group i at i * p / 4 and everything fits in the buffer.
    g = chain([1, 1], nbytes=10, l_cache=0, l_ram=1)
    mem = memolution_schedule(g, cfg(4, 20, 16), MemolutionOptions(group_size=1))
    v = validate(mem, check_theorem_3_1=True)
    assert mem.info["alg31_case"] == 3 and mem.info["group_starts"] == (0, 2, 4, 6)
    assert mem.place_counts()["edram"] == 0 and v["peak_buffer"] == 20
    assert mem.total_time == 6 + 8
    together = memolution_schedule(g, cfg(4, 40, 16), MemolutionOptions(group_size=1))
    validate(together)
    assert together.info["alg31_case"] == 1 and together.info["stagger"] == 0 and together.total_time == 8
    # C = 10: case 2, some results must go to eDRAM (here with slack, so without retiming)
    small = memolution_schedule(g, cfg(4, 10, 16), MemolutionOptions(group_size=1))
    validate(small, check_theorem_3_1=True)
    assert small.info["alg31_case"] == 2 and small.place_counts()["edram"] > 0 and small.r_max == 0


def test_vertex_merge_sequential_and_parallel():
    g = DataFlowGraph.from_edges(
        {"c1": 3, "p1": 1, "c2": 3, "p2": 1, "f1": 2, "f2": 2, "big": 4},
        [("c1", "p1", 8, 1, 2), ("c2", "p2", 8, 1, 2), ("p1", "f1", 4, 1, 2), ("p1", "f2", 4, 1, 2),
         ("p2", "f1", 4, 1, 2), ("p2", "f2", 4, 1, 2), ("f1", "big", 2, 1, 2), ("f2", "big", 2, 1, 2)],
        layers={"c1": "c", "c2": "c", "p1": "p", "p2": "p", "f1": "f", "f2": "f"})
    mg = merge_vertices(g)
    groups = sorted(sorted(g.names[v] for v in m) for m in mg.members if len(m) > 1)
    assert groups == [["c1", "p1"], ["c2", "p2"], ["f1", "f2"]]
    assert max(mg.times) == 4  # c_u + c_v <= max c_i
    fm = mg.vertex_of[g.index["f1"]]
    into_f = [j for j in mg.in_edges[fm]]
    assert sorted(mg.e_bytes[j] for j in into_f) == [8, 8]  # parallel edges summed
    s = memolution_schedule(g, cfg(2, 64, 8))
    validate(s, check_theorem_3_1=True)
    assert s.place_counts()["pe"] == 2  # c -> p stays on the PE inside the merged vertex
    plain = memolution_schedule(g, cfg(2, 64, 8), MemolutionOptions(merge=False))
    validate(plain, check_theorem_3_1=True)
    assert plain.place_counts()["pe"] == 0


def test_insertion_waits_for_an_individual_predecessor_of_a_pair():
    # a, a2 and v, v2 are twins (A/B pairs), u is individual. In the phase on 3 PEs, u^B starts
    # at 6 (after the pair a^A a^B on PE 0), the pair v^A v^B already at 5 on PE 2 (v^B needs
    # u^B's result only at 7). The complement phase must insert u^D before the pair v^C v^D
    # although the pair comes first in start order, else v^D starts before u^D ends (a former
    # bug, also with the default group sizes).
    g = DataFlowGraph.from_edges({"a": 3, "a2": 3, "u": 1, "v": 2, "v2": 2},
                                 [("a", "u", 1, 0, 0), ("u", "v", 1, 0, 0), ("a2", "v2", 1, 0, 0)],
                                 layers={"a": "A", "a2": "A", "u": "U", "v": "V", "v2": "V"})
    for opts in (MemolutionOptions(group_size=3, merge=False), MemolutionOptions(merge=False)):
        s = memolution_schedule(g, cfg(3, 64, 4), opts)
        validate(s, check_theorem_3_1=True)
        assert s.info["group_size"] == 3 and s.info["symmetric_ops"] == 4
        start = {g.names[v]: int(t) for i, v, t in zip(s.run_image, s.run_vertex, s.run_start) if i == 3}
        assert start["v"] >= start["u"] + 1  # image 3 = D


# ---------------------------------------------------------------------------------------------
# random DAGs


@st.composite
def dags(draw):
    n = draw(st.integers(1, 10))
    layer = [draw(st.integers(0, 3)) for _ in range(n)]
    times = {f"v{i}": draw(st.integers(1, 6)) for i in range(n)}
    edges = []
    for a in range(n):
        for b in range(n):
            if layer[a] < layer[b] and draw(st.booleans()):
                lc = draw(st.integers(0, 3))
                edges.append((f"v{a}", f"v{b}", draw(st.integers(0, 12)), lc, lc + draw(st.integers(0, 4))))
    return DataFlowGraph.from_edges(times, edges, layers={f"v{i}": f"L{layer[i]}" for i in range(n)})


@settings(max_examples=40)
@given(g=dags(), p=st.integers(1, 6), c=st.integers(0, 30), n=st.integers(1, 12), in_flight=st.integers(1, 4),
       order=st.sampled_from(["ascending", "descending"]), q=st.one_of(st.none(), st.integers(1, 4)),
       merge=st.booleans())
def test_random_dags_every_schedule_is_valid(g, p, c, n, in_flight, order, q, merge):
    conf = cfg(p, c, n)
    ls = list_schedule(g, conf)
    validate(ls)
    lower = max(-(-n * g.work // p), g.critical_path())
    assert ls.total_time >= lower and ls.total_time == n * ls.period
    validate(list_schedule(g, conf, in_flight=in_flight))
    batched = list_schedule(g, conf, batch=in_flight)  # the paper's LS: iterations of in_flight images
    validate(batched)
    assert batched.total_time >= max(-(-n * g.work // p), g.critical_path())
    sp = sparta_schedule(g, conf, batch=in_flight)  # SPARTA: retimed, any relative retiming
    validate(sp)
    assert sp.total_time >= -(-n * g.work // p) and sp.prologue == sp.r_max * sp.period
    assert sp.period >= max(-(-min(in_flight, n) * g.work // p), max((g.times[v] for v in g.ops), default=1))
    mem = memolution_schedule(g, conf, MemolutionOptions(edram_order=order, group_size=q, merge=merge))
    validate(mem, check_theorem_3_1=True)
    assert mem.total_time >= -(-n * g.work // p)
    assert mem.r_max <= 1 and mem.prologue == mem.r_max * mem.period
    # Properties 3.1-3.3: a result in eDRAM without relative retiming has the time for L_RAM;
    # with one retiming, at least a period (Theorem 3.1)
    inter = np.array([g.is_intermediate(e) for e in range(len(g.edges))], bool)[mem.tr_edge] if g.edges else None
    if inter is not None and inter.any():
        span = mem.tr_read - mem.tr_write
        lr = np.asarray(g.e_lram)[mem.tr_edge]
        m0 = inter & (mem.tr_place == EDRAM) & (mem.tr_retiming == 0)
        assert np.all(span[m0] >= lr[m0])
        m1 = inter & (mem.tr_retiming == 1)
        assert np.all(span[m1] >= mem.period)


@settings(max_examples=30)
@given(data=st.lists(st.tuples(st.integers(-20, 20), st.integers(0, 25), st.integers(1, 9)), min_size=1, max_size=6),
       p=st.integers(1, 8))
def test_periodic_buffer_requirement_matches_brute_force(data, p):
    # Alg. 3.1 / 3.2 measure the steady state of intervals [w + k p, w + span + k p) for all k
    from pimjax.apps.schedule._balance import periodic_profile

    w, span, size = (np.array(x, np.int64) for x in zip(*data))
    req = [sum(int(c) * ((t - a) // p - (t - a - d) // p) for a, d, c in zip(w, span, size)) for t in range(p)]
    assert periodic_profile(w, span, size, p) == (max(req), req.index(max(req)), min(req))


# ---------------------------------------------------------------------------------------------
# bad input


def test_bad_graphs_are_rejected():
    with pytest.raises(ValueError, match="cycle"):
        DataFlowGraph.from_edges({"a": 1, "b": 1}, [("a", "b", 1, 0, 0), ("b", "a", 1, 0, 0)])
    with pytest.raises(ValueError, match="l_ram"):
        Edge(src="a", dst="b", bytes=1, l_cache=3, l_ram=2)
    with pytest.raises(ValueError, match="time"):
        Vertex(name="a", time=0)
    with pytest.raises(TypeError, match="time"):
        Vertex(name="a", time=1.5)
    with pytest.raises(ValueError, match="kind"):
        Vertex(name="a", time=1, kind="matmul")
    with pytest.raises(ValueError, match="unknown vertex"):
        DataFlowGraph.from_edges({"a": 1}, [("a", "zz", 1, 0, 0)])
    with pytest.raises(ValueError, match="reserved"):
        DataFlowGraph.from_edges({"source": 1}, [])
    with pytest.raises(ValueError, match="duplicate edge"):
        DataFlowGraph.from_edges({"a": 1, "b": 1}, [("a", "b", 1, 0, 0), ("a", "b", 2, 0, 0)])
    v = [Vertex(name="source", time=0, kind="source"), Vertex(name="a", time=1), Vertex(name="sink", time=0, kind="sink")]
    with pytest.raises(ValueError, match="input and one output"):
        DataFlowGraph(v, [Edge(src="source", dst="a", bytes=0, l_cache=0, l_ram=0)])


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match="num_pes"):
        ScheduleConfig(num_pes=0)
    with pytest.raises(TypeError, match="num_pes"):
        ScheduleConfig(num_pes=True)
    with pytest.raises(ValueError, match="buffer_bytes"):
        ScheduleConfig(num_pes=4, buffer_bytes=-1)
    with pytest.raises(ValueError, match="images"):
        ScheduleConfig(num_pes=4, images=0)
    with pytest.raises(TypeError):
        ScheduleConfig(4)  # keyword-only
    with pytest.raises(ValueError, match="edram_order"):
        MemolutionOptions(edram_order="random")
    with pytest.raises(ValueError, match="group_size"):
        MemolutionOptions(group_size=0)
    with pytest.raises(ValueError, match="max_retiming"):
        MemolutionOptions(max_retiming=-1)
    with pytest.raises(ValueError, match="cache_speedup"):
        Latencies(cache_speedup=0.5)
    with pytest.raises(ValueError, match="cache_access_s"):
        Latencies(cache_access_s=1e-9)
    with pytest.raises(ValueError):
        parse_bytes("12 parsecs")
    with pytest.raises(ValueError, match="in_flight"):
        list_schedule(fork_join(), cfg(2, 8, 2), in_flight=0)
    with pytest.raises(TypeError, match="DataFlowGraph"):
        memolution_schedule("alexnet", cfg(2, 8, 2))
    with pytest.raises(ValueError, match="split"):
        model_graph("alexnet", split=0)
    assert parse_bytes("128KiB") == 131072 and parse_bytes("300KB") == 300000 and parse_bytes("7") == 7


def test_latencies_follow_bytes_and_bandwidth():
    lat = Latencies()  # 10 GB/s, write + read, buffer 2x faster, 1 ns ticks
    assert lat.of(1000, 10.0) == (100, 200)
    assert Latencies(cache_speedup=4.0).of(1000, 10.0) == (50, 200)
    assert lat.of(0, 10.0) == (0, 0)


# ---------------------------------------------------------------------------------------------
# graphs of pimjax models


def test_alexnet_graph_from_the_traced_computation():
    from pimjax.apps.cost import model_gemms

    g = model_graph("alexnet", input_size=16, width=0.125, split=2)
    kinds = [g.kinds[v] for v in g.ops]
    assert kinds.count("conv") == 10 and kinds.count("pool") == 6 and kinds.count("fc") == 6
    gemms = model_gemms("alexnet", batch=1, input_size=16, width=0.125, num_classes=10)
    assert sum(g.vertices[v].macs for v in g.ops) == sum(m * k * n for _, m, k, n in gemms)
    # a pooling group reads only the convolution group with its channels; a convolution all of them
    pool = g.index["features.conv1.pool[0]"]
    assert [g.names[g.e_src[e]] for e in g.in_edges[pool]] == ["features.conv1[0]"]
    conv2 = g.index["features.conv2[1]"]
    assert len(g.in_edges[conv2]) == 2
    assert all(t > 0 for t in (g.times[v] for v in g.ops))
    e = g.in_edges[conv2][0]
    # L_RAM = write + read of the result at 10 GB/s, L_cache half of it (both rounded up to ns)
    assert g.e_lram[e] == -(-2 * g.e_bytes[e] // 10) and g.e_lcache[e] == -(-g.e_bytes[e] // 10)
    assert g.e_bytes[e] == g.vertices[g.e_src[e]].out_bytes > 0


def test_resnet_graph_has_shortcut_additions():
    g = model_graph("resnet18", input_size=16, width=0.125, split=1, depths=(1, 1, 1, 1))
    adds = [v for v in g.ops if g.kinds[v] == "add"]
    assert len(adds) == 4
    first = adds[0]
    srcs = sorted(g.names[g.e_src[e]] for e in g.in_edges[first])
    assert srcs == ["conv1", "layer1.0.conv2"]  # identity shortcut from the stem
    s = memolution_schedule(g, cfg(8, 16 * 1024, 16))
    validate(s, check_theorem_3_1=True)


def test_compare_tables_and_their_consistency():
    g = model_graph("alexnet", input_size=16, width=0.125, split=2)
    rows = compare(g, [4, 8], buffer_bytes=8 * 1024, images=32, keep=True)
    assert [r["pes"] for r in rows] == [4, 8]
    for r in rows:
        for s in r["schedules"].values():
            validate(s, check_theorem_3_1=s.scheduler == "memolution")
        sch = r["schedules"]
        for name in ("ls", "ls_pipelined", "memolution", "sparta"):
            assert r[f"{name}_time_us"] == pytest.approx(sch[name].total_time * g.time_unit_s * 1e6)
            assert r[f"{name}_buffer_results"] == sch[name].place_counts()["buffer"]
        assert sch["ls_pipelined"].info["in_flight"] == 4 * r["memolution_groups"]
        assert r["reduction_vs_ls"] == pytest.approx(1 - sch["memolution"].total_time / sch["ls"].total_time)
        assert r["ls_retimings"] == 0 and r["memolution_r_max"] <= 1
        assert sch["sparta"].info["batch"] == r["ls_batch"]
        assert r["reduction_vs_sparta"] == pytest.approx(1 - sch["memolution"].total_time / sch["sparta"].total_time)
        assert r["sparta_retimings_per_image"] == sch["sparta"].retimings / r["ls_batch"]
    text = format_tables(rows)
    assert "Table 1" in text and "Table 2" in text and "Table 3" in text


def test_cli_schedule_smoke(tmp_path, capsys):
    plot, csv_path = str(tmp_path / "gantt.png"), str(tmp_path / "t.csv")
    args = ["schedule", "--model", "alexnet", "--input-size", "16", "--model-width", "0.125", "--split", "2",
            "--pes", "4,8", "--images", "16", "--buffer", "8KiB"]
    assert cli.main(args + ["--plot", plot, "--csv", csv_path]) == 0
    out = capsys.readouterr().out
    assert "Table 1" in out and "Table 3" in out and "Memolution" in out
    assert os.path.getsize(plot) > 0 and open(csv_path).read().startswith("graph,")
    assert cli.main(args + ["--json", "--no-pipelined-ls"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert [row["pes"] for row in r["rows"]] == [4, 8] and "ls_pipelined_time_us" not in r["rows"][0]
    with pytest.raises(SystemExit) as e:
        cli.main(args + ["--hw", "no_such_system"])
    assert e.value.code == 2
    for bad in (["--pes", "0"], ["--buffer", "lots"], ["--cache-speedup", "0.5"], ["--model-width", "-1"]):
        with pytest.raises(SystemExit):
            cli.main(["schedule", *bad])


def test_validator_catches_broken_schedules():
    import dataclasses

    g = chain([2, 3], nbytes=10, l_cache=1, l_ram=4)
    s = list_schedule(g, cfg(2, 10, 2))
    validate(s)
    with pytest.raises(AssertionError, match="capacity"):
        validate(dataclasses.replace(s, buffer_bytes=9))
    start, end = s.run_start.copy(), s.run_end.copy()
    start[1] -= 1  # image 0's second operation starts before its input arrived
    end[1] -= 1
    with pytest.raises(AssertionError, match="consumer starts"):
        validate(dataclasses.replace(s, run_start=start, run_end=end))
    pe = s.run_pe.copy()
    shifted = s.run_start.copy(), s.run_end.copy()
    shifted[0][2:], shifted[1][2:] = shifted[0][2:] - 6, shifted[1][2:] - 6  # image 1 on top of image 0
    with pytest.raises(AssertionError, match="overlapping"):
        validate(dataclasses.replace(s, run_start=shifted[0], run_end=shifted[1], run_pe=pe * 0))
    with pytest.raises(AssertionError, match="execution time"):
        validate(dataclasses.replace(s, run_end=s.run_end + 1))


def test_validator_catches_broken_placements_and_retimings():
    import dataclasses

    s = list_schedule(fork_join(), cfg(2, 8, 1))
    validate(s)
    g = s.graph
    e_ac = [e for e in g.out_edges[g.index["a"]] if g.e_dst[e] == g.index["c"]][0]
    pe_of = dict(zip(s.run_vertex.tolist(), s.run_pe.tolist()))
    assert pe_of[g.index["a"]] != pe_of[g.index["c"]]
    for e_bad, place, match in ((e_ac, ON_PE, "different PEs"), (g.out_edges[g.source][0], BUFFER, "not in eDRAM")):
        pl = s.tr_place.copy()
        pl[s.tr_edge == e_bad] = place
        with pytest.raises(AssertionError, match=match):
            validate(dataclasses.replace(s, tr_place=pl))
    # Memolution's retiming by hand (a -> b, a retimed once): the reported relative retiming must
    # be the number of periods between write and read, at most 1, and the prologue R_max * p
    g = chain([2, 2], nbytes=10, l_cache=0, l_ram=3)
    mem = memolution_schedule(g, cfg(1, 0, 8))
    validate(mem, check_theorem_3_1=True)
    inter = mem.tr_edge == g.out_edges[g.index["t0"]][0]
    for rel, match in ((0, "number of periods"), (2, "outside 0..1")):
        r = mem.tr_retiming.copy()
        r[inter] = rel
        validate(dataclasses.replace(mem, tr_retiming=r))  # only checked on request
        with pytest.raises(AssertionError, match=match):
            validate(dataclasses.replace(mem, tr_retiming=r), check_theorem_3_1=True)
    with pytest.raises(AssertionError, match="prologue"):
        validate(dataclasses.replace(mem, prologue=0))


def test_gemm_recording_shows_each_gemm_and_pooling_as_one_equation():
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from pimjax.nn import abstract_cnn, gemm_recording, gemm_shapes, training_hardware

    net = abstract_cnn("alexnet", hw=training_hardware("native"), num_classes=10, input_size=16, width=0.125)
    graphdef, state = nnx.split(net)
    x = jax.ShapeDtypeStruct((1, 16, 16, 3), jnp.float32)

    def trace():
        def fwd(st, x):  # a fresh function: JAX caches traces per function, not per context
            return nnx.merge(graphdef, st)(x, seed=jnp.uint32(0), train=False)

        return str(jax.make_jaxpr(fwd)(state, x))

    with gemm_recording() as rec:
        text = trace()
    assert rec == gemm_shapes(net, 1) and len(rec) == 8
    assert text.count("reduce_window_max") == 3 and text.count("dot_general") == 8
    normal = trace()  # outside: the emulated layers and max_pool_with_index (value and argmax index) again
    assert normal.count("reduce_window_max") == 0 and normal.count("name=_window_max") == 3
