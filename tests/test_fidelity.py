"""The fidelity table: the Row contract, the docs blocks, the golden verdicts of the
quick mode, and the mechanisms behind the rows on hand-computed cases."""

from __future__ import annotations

import json
import math
import os

import pytest

from pimjax import hw
from pimjax.apps.fidelity import PAPER_MODULES, Row, collect, verdict_for
from pimjax.apps.fidelity._docs import compare_golden, markdown_table, rewrite_blocks
from pimjax.cost import system_cost
from pimjax.numerics import FixedFormat

GOLDEN = os.path.join(os.path.dirname(__file__), "fidelity_verdicts.json")


def test_row_rel_error_and_verdict():
    r = Row(paper="X", quantity="q", source="Fig. 1", kind="value", paper_value=2.0, pimjax_value=1.5,
            verdict=verdict_for(2.0, 1.5))
    assert r.rel_error == pytest.approx(-0.25) and r.verdict == "within 25%"
    assert verdict_for(2.0, 1.49) == "misses" and verdict_for(1.0, None) == "not reproduced"
    assert Row(paper="X", quantity="q", source="s", kind="trend", paper_value="a", pimjax_value="b",
               verdict="trend holds").rel_error is None
    with pytest.raises(ValueError):
        Row(paper="X", quantity="q", source="s", kind="value", paper_value=1, pimjax_value=1, verdict="fine")


def test_rewrite_blocks_fills_only_the_marked_paper():
    rows = [Row(paper="AMD", quantity="q1", source="Fig. 10", kind="trend", paper_value="yes", pimjax_value="no",
                verdict="misses"),
            Row(paper="NeuroTrainer", quantity="q2", source="Sec. 5", kind="value", paper_value=4.8,
                pimjax_value=4.8, unit="TOPS", verdict="within 25%")]
    text = "a\n<!-- fidelity:begin amd -->\nold\n<!-- fidelity:end -->\nb\n"
    new, found = rewrite_blocks(text, rows)
    assert found == ["amd"] and "q1" in new and "q2" not in new and "old" not in new
    assert new.startswith("a\n<!-- fidelity:begin amd -->\n| quantity") and new.endswith("<!-- fidelity:end -->\nb\n")
    assert "| q2 | Sec. 5 | 4.80 TOPS | 4.80 TOPS | +0% | within 25% | - |" in markdown_table(rows, with_paper=False)


def _tiny_system(num_slices: int, wbuf_kib: float = 0.0) -> hw.SystemConfig:
    q, acc = FixedFormat(bits=8, frac=4), FixedFormat(bits=32, frac=8)
    arr = hw.ArrayConfig(rows=4, width=8, a_format=q, b_format=q, accumulator_format=acc, output_format=q,
                         accumulator_buffer_kib=1.0)
    agg = hw.AggregationConfig(packet_format=acc, accumulator_format=acc, output_format=q, buffer_kib=1.0)
    return hw.SystemConfig(array=arr, num_slices=num_slices, aggregation=agg, weight_buffer_kib=wbuf_kib)


@pytest.mark.parametrize("slices,per_slice_preload", [(1, 3 * 4 * 4), (2, 3 * 2 * 4), (4, 4)])
def test_reload_cycles_vs_partitions_per_slice_hand_computed(slices, per_slice_preload):
    """Memory Slices Sec. 7.2: K = 32 on a 4 x 8 array is 4 partitions of one 4-column tile. Over 3
    calls with the same weights and no weight buffer, a slice with p > 1 partitions reloads every
    one at every call (3 p R' = 3 p 4 preload cycles); a slice with one partition keeps it in
    register B (4 cycles, once): halving p halves the reload (2x) until p = 1, the one step beyond."""
    m, n, calls = 2, 4, 3
    k_sizes = tuple([32 // slices] * slices)
    d = system_cost(m, k_sizes, n, (0,), 4, _tiny_system(slices), calls=calls, reuse_weights=True).to_dict()
    assert d["cycles_preload"] == per_slice_preload * slices
    # B bytes from DRAM: every call (reloads) unless one partition stays in register B
    b_bytes = 32 * 4 * 1
    assert d["dram_bytes_read"] - calls * m * 32 * 1 == (b_bytes if slices == 4 else calls * b_bytes)
    # the opt-in weight buffer (what-if) keeps the share: B read once, register B still reloaded
    w = system_cost(m, k_sizes, n, (0,), 4, _tiny_system(slices, 1.0), calls=calls, reuse_weights=True).to_dict()
    assert w["dram_bytes_read"] - calls * m * 32 == b_bytes and w["cycles_preload"] == d["cycles_preload"]


def test_single_vault_write_back_bottleneck_hand_computed():
    """NeuroTrainer Sec. 5.1, FC3 BP: dX (32 x 4096) = dY (32 x 1000) @ W^T (1000 x 4096), 32-bit, on 15 PEs:
    columns split (274 on PE 0), 274 x 1000 MAC-cycles at 2.5 GHz = 109.6 us; then the 32 x 4096
    4-byte outputs merge to the common vault over the 10 GB/s bus, 52.4288 us, after the compute;
    the 128 kB broadcast of dY (12.8 us) overlaps it; tail 4 cycles."""
    cfg = hw.presets.get("neurotrainer_module_bp")
    assert cfg.write_back == "after_compute"
    ks = (1000,) + (0,) * 14
    d = system_cost(32, ks, 4096, (0,), 4096, cfg).to_dict()
    t_c, t_merge, tail = 274 * 1000 / 2.5e9, 32 * 4096 * 4 / 10e9, 4 / 2.5e9
    assert d["time_s"] == pytest.approx(t_c + t_merge + tail, rel=1e-12)
    assert d["flops"] / d["time_s"] / 1e12 == pytest.approx(1.62, abs=0.01)  # paper: 1.61 TOPS
    o = system_cost(32, ks, 4096, (0,), 4096, cfg.replace(write_back="overlapped")).to_dict()
    assert o["time_s"] == pytest.approx(max(t_c, (32 * 1000 * 4 + 32 * 4096 * 4) / 10e9) + tail, rel=1e-12)


def test_slices_presets_have_no_weight_buffer():
    for name in ("slices_hmc2", "slices_hmc1", "slices_hbm", "slices_hmc2_2x", "slices_hmc1_2x"):
        assert hw.presets.get(name).weight_buffer_kib == 0.0


def test_golden_covers_every_paper():
    with open(GOLDEN) as f:
        assert sorted(json.load(f)) == sorted(name for _, name in PAPER_MODULES)


@pytest.mark.parametrize("slug,name", PAPER_MODULES, ids=[s for s, _ in PAPER_MODULES])
def test_quick_mode_verdicts_match_golden(slug, name):
    """Fails when a row's verdict changes: rerun `pimjax fidelity --write-golden --write-docs` and
    explain the change in the commit. One paper per test (they run in parallel)."""
    with open(GOLDEN) as f:
        golden = json.load(f)
    rows = collect(quick=True, papers=(slug,))
    assert {r.paper for r in rows} == {name}
    assert compare_golden(rows, {name: golden[name]}) == []
    # every miss says where its gap goes: finite percents, shares adding up to 100 unless the basis says otherwise
    for r in rows:
        if r.verdict == "misses":
            assert r.gap, r.key
            assert all(math.isfinite(p) for _, p in r.gap), r.key
            if "not shares" not in r.gap_basis:
                assert sum(p for _, p in r.gap) == pytest.approx(100.0, abs=0.5), r.key


def test_cli_prints_and_checks_one_paper(capsys):
    from pimjax.cli import main

    assert main(["fidelity", "--paper", "yang_sze", "--markdown", "--check"]) == 0
    out = capsys.readouterr().out
    assert "| paper | quantity | source |" in out and "Yang & Sze" in out


def test_write_docs_writes_fidelity_md_and_refills_blocks(tmp_path):
    from pimjax.apps.fidelity import paper_rows
    from pimjax.apps.fidelity._docs import write_docs

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("x\n<!-- fidelity:begin yang_sze -->\n<!-- fidelity:end -->\n")
    rows = paper_rows("yang_sze")
    written = write_docs(rows, str(tmp_path))
    assert len(written) == 2
    text = (tmp_path / "docs" / "fidelity.md").read_text()
    assert text.startswith("# Fidelity") and "## Yang & Sze" in text and "## Assumptions" in text
    assert rows[0].quantity in (tmp_path / "docs" / "other.md").read_text()


def _shares_ok(gap) -> None:
    assert gap and all(math.isfinite(p) for _, p in gap)
    assert sum(p for _, p in gap) == pytest.approx(100.0, abs=0.5)


def test_superlinear_gap_terms_add_up_to_the_modelled_time():
    """Fig. 17: the time terms of LSTM1 add up to the record's time at 2 and 256 slices, and the
    shares split the time on 256 slices above linear scaling, T(256) - T(2) / 128."""
    from pimjax.apps.fidelity._memory_slices import lstm_record
    from pimjax.apps.fidelity._memory_slices_gaps import superlinear_gap, time_terms

    t = {}
    for s in (2, 256):
        t[s] = lstm_record("lstm1", "slices_hmc2", s)["time_s"]
        assert sum(time_terms("lstm1", s).values()) == pytest.approx(t[s], rel=1e-9)
    gap, basis = superlinear_gap("lstm1")
    _shares_ok(gap)
    assert f"{(t[256] - t[2] / 128) * 1e3:.3f} of {t[256] * 1e3:.3f} ms" in basis


def test_efficiency_order_gap_dram_share_hand_computed():
    """Fig. 18a: LSTM1 (the paper's) displaced by LSTM0; the DRAM share of their pJ/FLOP difference
    from the two records' own energy fields."""
    from pimjax.apps.fidelity._memory_slices import lstm_record
    from pimjax.apps.fidelity._memory_slices_gaps import efficiency_order_gap

    r0, r1 = (lstm_record(n, "slices_hmc2", 512) for n in ("lstm0", "lstm1"))
    eff = {"lstm0": r0["flops"] / r0["energy_pj"], "lstm1": r1["flops"] / r1["energy_pj"], "lstm3": 1e9}
    gap, basis = efficiency_order_gap(eff, ("lstm1", "lstm3"))
    _shares_ok(gap)
    assert basis.startswith("LSTM1 minus LSTM0")
    want = 100 * (r1["energy_dram_pj"] / r1["flops"] - r0["energy_dram_pj"] / r0["flops"]) / (
        r1["energy_pj"] / r1["flops"] - r0["energy_pj"] / r0["flops"])
    assert dict(gap)["DRAM (3.7 pJ/bit, Sec. 6)"] == pytest.approx(want, abs=0.05)


def test_amd_model_vs_data_gap_hand_computed():
    """Fig. 10 at batch 128: model minus data parallelism, summed over 4 and 8 PIMs; the host
    reduction's share from execution_time directly (data parallelism has none)."""
    from pimjax.apps.fidelity._amd import gap_model_vs_data
    from pimjax.cost import FCLayer, execution_time

    fc = FCLayer(batch=128, in_features=4096, out_features=4096)
    t = {(n, s): execution_time(fc, hw.presets.get(f"{n}PIM"), s) for n in (4, 8) for s in ("data", "model")}
    diff = sum(t[n, "model"].total_s - t[n, "data"].total_s for n in (4, 8))
    red = sum(t[n, "model"].reduction_s - t[n, "data"].reduction_s for n in (4, 8))
    gap, _ = gap_model_vs_data()
    _shares_ok(gap)
    assert dict(gap)["host reduction of the partial sums (Sec. 6.4)"] == pytest.approx(100 * red / diff, abs=0.05)


def test_accuracy_gaps_hand_computed_from_the_results_files():
    """NeuroTrainer Fig. 10 (Q8.16): the weight LSB's share of the Q8.8 no-SR loss (means over the
    seeds); Yang & Sze (4 bits, 3x3 -> 5x5): difference of means over the larger range of the three seeds."""
    from pimjax.apps.fidelity import paper_rows
    from pimjax.apps.fidelity._neurotrainer import fig10_rows
    from pimjax.apps.fidelity._row import load_results

    nt = load_results("neurotrainer_fig10.json")
    per = nt.get("per_seed") or {k: {"0": v} for k, v in nt["cases"].items()}

    def mean(case: str) -> float:
        return sum(per[case].values()) / len(per[case])

    d16 = (mean("fixed32 BP/UP SR, Q8.8 resident weights (16-bit), updates SR")
           - mean("fixed32 BP/UP nearest, Q8.8 resident weights (16-bit), updates rounded to nearest"))
    d24 = (mean("fixed32 BP/UP SR, Q8.16 resident weights (24-bit), updates SR")
           - mean("fixed32 BP/UP nearest, Q8.16 resident weights (24-bit), updates rounded to nearest"))
    (row,) = [r for r in fig10_rows() if "Q8.16" in r.quantity]
    if row.verdict == "misses" and "not shares" not in row.gap_basis:
        _shares_ok(row.gap)
        assert row.gap[0][1] == pytest.approx(100 * (d16 - d24) / d16, abs=0.05)

    res = load_results("yang_sze_bitwidth.json")
    i = res["bits"].index(4)
    k3, k5 = ([res["seeds"][s][n][i] for s in res["seeds"]] for n in ("cnn_d2_k3_c16", "cnn_d2_k5_c10"))
    want = 100 * (sum(k5) / len(k5) - sum(k3) / len(k3)) / max(max(k3) - min(k3), max(k5) - min(k5))
    (ys,) = [r for r in paper_rows("yang_sze") if r.quantity.startswith("2-layer networks at 4 bits")]
    assert "not shares" in ys.gap_basis
    assert ys.gap[0][0].startswith("3x3 -> 5x5") and ys.gap[0][1] == pytest.approx(want, abs=0.05)


def test_fig10_verdicts_follow_the_spread_rule_hand_computed():
    """NeuroTrainer Fig. 10 over the seeds of its results file: each row's verdict, recomputed by
    hand from ``per_seed`` (a difference holds when the difference of means exceeds the larger
    min-max range, a likeness when it does not; fewer than 3 seeds: "not reproduced"), and the
    spread rule itself on made-up numbers."""
    from pimjax.apps.fidelity._neurotrainer import FIG10_CASES, fig10_rows
    from pimjax.apps.fidelity._row import MIN_SEEDS, less_beyond_spread, load_results

    # the rule: difference of means 2.0; ranges 1.0 and 1.9 -> beyond; ranges 1.0 and 2.0 -> not
    assert less_beyond_spread([1.0, 2.0], [3.0, 4.0]) and less_beyond_spread([0.55, 2.45], [3.5, 3.5])
    assert not less_beyond_spread([0.5, 2.5], [3.5, 3.5]) and not less_beyond_spread([3.0, 4.0], [1.0, 2.0])

    per = load_results("neurotrainer_fig10.json")["per_seed"]
    acc = {k: list(per[c].values()) for k, c in FIG10_CASES.items()}

    def mean(v):
        return sum(v) / len(v)

    def diff_beyond(a, b):  # "a < b" by hand
        return mean(b) - mean(a) > max(max(a) - min(a), max(b) - min(b))

    def alike(a, b):
        return abs(mean(b) - mean(a)) <= max(max(a) - min(a), max(b) - min(b))

    f32 = acc["float32", None]
    want = {}
    for w in ("Q8.8", "Q8.16"):
        want[f"({w} resident"] = ([acc["nearest", w], acc["SR", w], f32],
                                  diff_beyond(acc["nearest", w], acc["SR", w]) and alike(acc["SR", w], f32))
    want["SR read as once at the output"] = ([acc["nearest", "Q8.8"], acc["SR out", "Q8.8"], f32],
                                             diff_beyond(acc["nearest", "Q8.8"], acc["SR out", "Q8.8"])
                                             and alike(acc["SR out", "Q8.8"], f32))
    want["between SR and SR LO"] = ([acc["SR LO", "Q8.8"], acc["SR", "Q8.8"]],
                                    alike(acc["SR LO", "Q8.8"], acc["SR", "Q8.8"]))
    rows = fig10_rows()
    for part, (cases, holds) in want.items():
        (row,) = [r for r in rows if part in r.quantity]
        n = min(len(c) for c in cases)
        assert row.verdict == ("not reproduced" if n < MIN_SEEDS else "trend holds" if holds else "misses"), row.key
        assert row.pimjax_value.startswith(f"{n} seed")
        # every case shown as mean (min-max), one decimal
        for c in cases:
            assert f"{mean(c):.1f} ({min(c):.1f}-{max(c):.1f})" in row.pimjax_value, row.key
        assert ("few seeds" in row.assumptions) == (n < MIN_SEEDS)


def test_q8_16_rows_stand_for_q16_16_only_without_saturations():
    """The Q8.16 Fig. 10 rows are labelled the 32-bit Q16.16 case only when every one of their
    runs recorded its weight memory's saturations and the total is zero."""
    from pimjax.apps.fidelity._neurotrainer import FIG10_CASES, fig10_rows, weight_saturations
    from pimjax.apps.fidelity._row import load_results

    res = load_results("neurotrainer_fig10.json")
    sat = res["per_seed_saturations"]
    runs = [r for k in ("nearest", "SR") for r in sat[FIG10_CASES[k, "Q8.16"]].values()]
    assert weight_saturations("Q8.16", res) == (len(runs), sum(r["load"] + r["updates"] for r in runs))
    (row,) = [r for r in fig10_rows() if "(Q8.16 resident" in r.quantity]
    assert ("Q16.16 case bit for bit" in row.quantity) == (sum(r["load"] + r["updates"] for r in runs) == 0
                                                           and len(runs) == 2 * len(res["seeds"]))
    one = {"per_seed_saturations": {FIG10_CASES["SR", "Q8.16"]: {"0": {"load": 0, "updates": 3}}}}
    assert weight_saturations("Q8.16", one) == (1, 3) and weight_saturations("Q8.8", one) is None
