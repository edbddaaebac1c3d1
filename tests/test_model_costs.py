"""Whole-model costs from shapes (``pimjax cost``, :mod:`pimjax.apps.cost`) and the
reproduction scripts built on them.

* ``pimjax cost`` for VGG16 at 224 x 224, batch 128, on 256 slices runs in well under 30 s of
  CPU (a subprocess, imports included) and its first convolution's FF MACs are 128 * 224 * 224 * 27 * 64.
* ``model_costs`` equals, field by field, the sum of ``matmul_costs`` over the model's
  ``gemm_shapes`` (CNNs), and for the translator, whose layers run once per time step,
  ``matmul_costs`` of a layer's calls together with the weights of the layers interleaved with
  them (weight reuse across time steps).
* Each reproduction script runs at its small size into ``tmp_path`` and writes its CSV and PNG.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import resource
import subprocess
import sys
import time

import pytest

from pimjax import cli
from pimjax.apps.cost import interleaved, model_costs, model_gemms, phase_hardware, phase_totals
from pimjax.cost import FIELDS, weight_share_bytes
from pimjax.nn import PHASES, TranslatorConfig
from pimjax.nn._layers import matmul_costs
from budget import quick_subset  # noqa: E402  (tests/budget.py: the default run and the thorough one)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "scripts")


def _child_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


def _check_sum(costs, gemms, hw):
    want: dict[str, dict[str, dict[str, float]]] = {}
    for name, m, k, n in gemms:
        for ph, rec in matmul_costs(m, k, n, hw).items():
            d = rec.to_dict()
            acc = want.setdefault(name, {}).setdefault(ph, {f: 0.0 for f in FIELDS})
            for f in FIELDS:
                acc[f] += d[f]
    assert list(costs) == list(want)  # same layers, in call order
    for layer, phases in want.items():
        assert sorted(costs[layer]) == sorted(PHASES)
        for ph, fields in phases.items():
            got = costs[layer][ph].to_dict()
            bad = {f: (got[f], v) for f, v in fields.items() if not _close(got[f], v)}
            assert not bad, f"{layer}/{ph}: {bad}"


# --------------------------------------------------------------------------------------------
# the CLI


@pytest.mark.slow  # full-size VGG16 shapes; the small CNN and AlexNet cost tables stay in the default run
def test_cli_vgg16_full_size_is_fast_and_counts_the_first_conv(tmp_path):
    csv_path = tmp_path / "vgg16.csv"
    t0, c0 = time.perf_counter(), _child_cpu_s()
    proc = subprocess.run(
        [sys.executable, "-m", "pimjax", "cost", "--model", "vgg16", "--input-size", "224", "--batch-size", "128",
         "--hw", "slices_hmc2", "--slices", "256", "--json", "--csv", str(csv_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    wall, cpu = time.perf_counter() - t0, _child_cpu_s() - c0
    assert proc.returncode == 0, proc.stderr
    # CPU seconds of the command (imports included): about 4 s on an idle laptop core. The wall
    # time is also bounded, loosely, since other processes may share the machine.
    assert cpu < 30, f"pimjax cost used {cpu:.1f} s of CPU ({wall:.1f} s wall)"
    assert wall < 90, f"pimjax cost took {wall:.1f} s wall ({cpu:.1f} s CPU)"
    r = json.loads(proc.stdout)
    assert r["slices"] == 256 and r["system"] == "slices_hmc2"
    first = [row for row in r["rows"] if row["layer"] == "features.conv1_1"]
    assert {row["phase"] for row in first} == set(PHASES)
    ff = next(row for row in first if row["phase"] == "ff")
    assert ff["macs"] == 128 * 224 * 224 * 27 * 64
    # every phase does the same MACs; 13 convolutions and 3 dense layers
    assert len({row["layer"] for row in r["rows"]}) == 16
    for ph in PHASES:
        assert r["totals"][ph]["macs"] == pytest.approx(r["totals"]["ff"]["macs"], rel=0)
    assert r["totals"]["all"]["time_s"] > 0 and 0 < r["totals"]["all"]["utilization"] <= 1
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16 * 3 + 4  # layers x phases + TOTAL ff/bp/up/all
    assert float(rows[0]["macs"]) == 128 * 224 * 224 * 27 * 64


def test_cli_table_and_errors(capsys):
    assert cli.main(["cost", "--model", "alexnet", "--input-size", "32", "--batch-size", "2", "--slices", "4",
                     "--model-width", "0.25"]) == 0
    out = capsys.readouterr().out
    for word in ("features.conv1", "classifier.fc3", "TOTAL", "GMACs", "Mcycles", "util", "time ms", "energy mJ",
                 "DRAM MB", "ICN MB", "achieved"):
        assert word in out
    with pytest.raises(SystemExit) as e:  # an array, not a system
        cli.main(["cost", "--model", "alexnet", "--hw", "memory_slices"])
    assert e.value.code == 2 and "argument --hw: unknown system preset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["cost", "--model", "no_such_model"])


def test_cli_translator_json(capsys):
    assert cli.main(["cost", "--model", "translator", "--batch-size", "4", "--slices", "8", "--src-len", "3", "--tgt-len", "2",
                     "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    layers = {row["layer"] for row in r["rows"]}
    assert {"enc0_fw", "enc0_bw", "enc7", "dec0", "dec7", "attn_wa", "attn_wc", "out_proj"} <= layers
    enc0 = next(row for row in r["rows"] if row["layer"] == "enc0_fw" and row["phase"] == "ff")
    assert enc0["macs"] == 3 * 4 * (1024 + 1024) * 4096  # 3 source steps of (4 x 2048) @ (2048 x 4096)


@pytest.mark.slow  # the cost CLI: the other tests here; attention products: test_attention
def test_cli_translator_attention_without_reuse(capsys):
    """The CLI and model_costs cost the attention products alike: a new preloaded operand (a
    sentence's encoder states) every call, never resident across calls (on many slices a reused
    operand would stay in register B and look ~50x cheaper in DRAM traffic)."""
    args = dict(batch=2, src_len=3, tgt_len=2)
    assert cli.main(["cost", "--model", "translator", "--batch-size", "2", "--slices", "1024", "--src-len", "3",
                     "--tgt-len", "2", "--json"]) == 0
    rows = {(r["layer"], r["phase"]): r for r in json.loads(capsys.readouterr().out)["rows"]}
    want = model_costs("translator", system="slices_hmc2", slices=1024, **args)
    for layer in ("attn_scores", "attn_context", "dec0"):
        for ph in PHASES:
            assert rows[(layer, ph)]["dram_bytes_read"] == want[layer][ph].to_dict()["dram_bytes_read"], (layer, ph)
    hw = phase_hardware("slices_hmc2", 1024)
    e, s = 1024, 3
    once = matmul_costs(1, e, s, hw, calls=2 * 2)["ff"].to_dict()
    assert rows[("attn_scores", "ff")]["dram_bytes_read"] == once["dram_bytes_read"]


# --------------------------------------------------------------------------------------------
# model_costs == sum of matmul_costs over gemm_shapes


@pytest.mark.parametrize("name,input_size,width,batch,system,slices", [
    ("alexnet", 32, 0.25, 4, "slices_hmc2", 4),
    ("resnet18", 32, 0.125, 2, "slices_hbm_2.5x", 3),
    ("vgg11", 224, 0.0625, 1, "slices_hmc1", 16),
])
def test_model_costs_is_the_sum_over_gemm_shapes_cnn(name, input_size, width, batch, system, slices):
    costs = model_costs(name, batch=batch, input_size=input_size, width=width, system=system, slices=slices)
    gemms = model_gemms(name, batch=batch, input_size=input_size, width=width)
    _check_sum(costs, gemms, phase_hardware(system, slices))
    conv1 = costs[gemms[0][0]]["ff"]
    assert float(conv1.macs) == gemms[0][1] * gemms[0][2] * gemms[0][3]


def test_model_costs_translator_calls_and_weight_reuse():
    cfg = TranslatorConfig(src_vocab=50, tgt_vocab=60, embed_dim=24, hidden=16, enc_layers=2, dec_layers=2,
                           bidirectional=True)
    kw = dict(batch=3, src_len=4, tgt_len=5)
    for system in ("slices_hmc2", "neurotrainer_module_bp"):
        costs = model_costs(cfg, system=system, slices=5, **kw)
        gemms = model_gemms(cfg, **kw)
        hw = phase_hardware(system, 5)
        assert len(gemms) > len(costs)  # layers called once per time step are summed
        shapes = {g[0]: g for g in gemms}
        # the encoder runs layer by layer: nothing between two calls of a layer; a decoder step
        # runs dec0, dec1, attn_wa, the per-sentence attention products, attn_wc
        step = ["dec0", "dec1", "attn_wa", "attn_scores", "attn_context", "attn_wc"]
        inter = interleaved(gemms)
        for name in ("enc0_fw", "enc0_bw", "enc1"):
            assert shapes[name] not in inter or not inter[shapes[name]]
        for name in step:
            assert {g[0] for g in inter[shapes[name]]} == set(step) - {name}
        assert list(costs) == ["enc0_fw", "enc0_bw", "enc1", "dec0", "dec1", "attn_wa", "attn_scores",
                               "attn_context", "attn_wc", "out_proj"]
        for name, (_, m, k, n) in shapes.items():
            c = sum(1 for g in gemms if g[0] == name)
            if c == 1:
                want = matmul_costs(m, k, n, hw)
            elif name in ("attn_scores", "attn_context"):  # a new preloaded operand every call
                assert (m, c) == (1, 3 * 5)
                want = matmul_costs(m, k, n, hw, calls=c)
            else:
                others = [shapes[o] for o in step if o != name] if name in step else []
                res = {"ff": sum(weight_share_bytes(o[2], o[3], hw.ff.system) for o in others),
                       "bp": sum(weight_share_bytes(o[3], o[2], hw.bp.system) for o in others)}
                want = matmul_costs(m, k, n, hw, calls=c, resident_with=res)
            for ph in PHASES:
                got, exp = costs[name][ph].to_dict(), want[ph].to_dict()
                bad = {f: (got[f], exp[f]) for f in FIELDS if not _close(got[f], exp[f])}
                assert not bad, f"{system} {name}/{ph}: {bad}"
    # weight reuse: on 64 slices an encoder layer's FF share (one 8 x 64 partition per slice)
    # stays in register B over the 4 steps, so its weights are read once, not 4 times; UP
    # (the gradient is the stationary operand, new every step) gains nothing
    costs = model_costs(cfg, system="slices_hmc2", slices=64, **kw)
    hw = phase_hardware("slices_hmc2", 64)
    _, m, k, n = next(g for g in gemms if g[0] == "enc1")
    once = matmul_costs(m, k, n, hw)
    reused = costs["enc1"]["ff"].to_dict()
    assert reused["macs"] == 4 * once["ff"].to_dict()["macs"]
    assert reused["dram_bytes_read"] < 4 * once["ff"].to_dict()["dram_bytes_read"]
    assert reused["cycles_preload"] < 4 * once["ff"].to_dict()["cycles_preload"]
    assert _close(costs["enc1"]["up"].to_dict()["dram_bytes_read"], 4 * once["up"].to_dict()["dram_bytes_read"])


def test_model_costs_per_phase_systems_and_totals():
    nt = {"ff": "neurotrainer_module_ff", "bp": "neurotrainer_module_bp", "up": "neurotrainer_module_bp"}
    costs = model_costs("alexnet", batch=2, input_size=32, width=0.25, system=nt)
    hw = phase_hardware(nt)
    assert hw.ff.system.name == "neurotrainer_module_ff" and hw.up.system.num_slices == 15
    _check_sum(costs, model_gemms("alexnet", batch=2, input_size=32, width=0.25), hw)
    tot = phase_totals(costs)
    assert _close(float(tot["all"].macs), sum(float(tot[p].macs) for p in PHASES))
    with pytest.raises(ValueError):
        model_costs("alexnet", batch=1, input_size=32, system="memory_slices")
    with pytest.raises(ValueError):
        model_costs("lenet", batch=1)
    with pytest.raises(ValueError):
        phase_hardware({"ff": "slices_hmc2"})


# --------------------------------------------------------------------------------------------
# the reproduction scripts at their small sizes


def _script_main(name: str):
    spec = importlib.util.spec_from_file_location(f"pimjax_script_{name}", os.path.join(SCRIPTS, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


@pytest.mark.parametrize("script,stem", quick_subset([
    ("repro_slices_fig17", "fig17_slices_speedup"),
    ("repro_roofline", "roofline"),
    ("repro_neurotrainer_fig13", "fig13_neurotrainer"),
], {("repro_neurotrainer_fig13", "fig13_neurotrainer")}))
def test_repro_script_small_writes_csv_and_png(script, stem, tmp_path, capsys):
    summary = _script_main(script)(["--out", str(tmp_path), "--small"])
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1]) == json.loads(json.dumps(summary))  # the last line is the JSON summary
    csv_path, png_path = tmp_path / f"{stem}.csv", tmp_path / f"{stem}.png"
    assert summary["csv"] == str(csv_path) and summary["png"] == str(png_path)
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 4
    with open(png_path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert png_path.stat().st_size > 10_000
    if script == "repro_slices_fig17":
        assert summary["slices"] == [2, 4, 8, 16] and isinstance(summary["superlinear"], bool)
        for r in rows:
            if r["slices"] == "2":  # speedups are relative to 2 slices
                for col in ("lstm_speedup", "lstm_speedup_wide_icn", "lstm_speedup_compute", "full_speedup"):
                    assert float(r[col]) == 1.0
            assert float(r["lstm_dram_bytes_per_flop"]) > 0
        for v in summary["lstms"].values():
            assert v["superlinear_any"] == (v["best_over_linear"] > 1 + 1e-9)
    if script == "repro_roofline":
        for r in rows:
            assert float(r["achieved_flops"]) <= float(r["attainable_flops"]) * (1 + 1e-9)
    if script == "repro_neurotrainer_fig13":
        a = summary["alexnet"]
        assert 0 < a["inference_compute_ms_per_image"] <= a["inference_ms_per_image"]
        assert a["inference_ms_per_image"] < a["training_ms_per_image"]
