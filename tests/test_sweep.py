"""Vectorized sweeps: a vmapped batch of configs equals separate runs and the ordinary emulated
hardware bit for bit; grids, config files, the resumable CSV and ``pimjax sweep``."""

import dataclasses
import json
import os
import shutil

import jax
import numpy as np
import pytest
from flax import nnx
from hypothesis import given, settings
from hypothesis import strategies as st

from pimjax import cli
from pimjax.apps.data import ArrayDataset, load_digits_dataset
from pimjax.apps.sweep import (COLUMNS, ModelSpec, NumericPoint, ResultsFile, SweepEvaluator, SweepGrid,
                               SweepHardware, SweepSpec, load_spec, read_results, reference_logits, run_sweep)
from pimjax.apps.sweep._results import row_key
from pimjax.apps.sweep.models import load_params, make_model, save_params
from budget import THOROUGH, examples  # noqa: E402  (tests/budget.py: the default run and the thorough one)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the data and the model (random weights: bits are bits), made when the module's first test runs
# (_module_data), not when pytest collects it
X = Y = MODEL = DATA = None

P = NumericPoint.make
POINTS = [
    P(act_bits=8, act_frac=4, weight_bits=4, noise_kind="fixed", noise_level=0.1),
    P(act_bits=6, act_frac=3, weight_bits=8, rounding="floor", out_bits=8, out_frac=3),
    P(act_bits=4, act_frac=2, weight_bits=3, weight_scale="fixed", weight_frac=3, rounding="nearest_away",
      noise_kind="rescaled", noise_level=0.05),
    P(act_bits=8, act_frac=5, weight_bits=2, rounding="toward_zero", out_bits=6, out_frac=2, noise_kind="fixed",
      noise_level=0.0),
    P(act_bits=7, act_frac=6, weight_bits=5, out_bits=12, out_frac=8),
]
# traced rounding and noise kind, 2 slices of a small array (K-split: the aggregation runs)
HW = SweepHardware(max_act_bits=8, max_weight_bits=8, num_slices=2, rows=8, width=4)


@pytest.fixture(scope="module", autouse=True)
def _module_data():
    global X, Y, MODEL, DATA
    digits = load_digits_dataset(input_size=8)
    X, Y = digits.x_test[:24], digits.y_test[:24]
    MODEL = make_model(ModelSpec(name="cnn_d2_k3_c4", input_size=8, seed=1))
    

@pytest.fixture(scope="module")
def evaluator():
    return SweepEvaluator(MODEL, HW, X, Y, batch_size=12, devices=1)


def test_vmapped_sweep_equals_separate_runs_bit_for_bit(evaluator):
    mv, lv = evaluator.evaluate(POINTS, return_logits=True)
    assert lv.shape == (len(POINTS), len(X), 10)
    for i, p in enumerate(POINTS):
        m1, l1 = evaluator.evaluate_one(p, return_logits=True)
        np.testing.assert_array_equal(lv[i], l1)
        for k in ("accuracy", "overflow", "nan", "inf", "random_bits"):
            np.testing.assert_array_equal(mv[k][i], m1[k])
    assert mv["overflow"][2] > 0  # 4-bit activations saturate
    # chunked (padded last chunk) gives the same bits
    np.testing.assert_array_equal(evaluator.logits(POINTS, chunk=3), lv)


def test_sweep_equals_the_emulated_hardware_bit_for_bit(evaluator):
    """Each config on the ordinary emulation (static formats, system_matmul, one compile each)."""
    lv = evaluator.logits(POINTS)
    for i, p in enumerate(POINTS):
        np.testing.assert_array_equal(lv[i], reference_logits(MODEL, HW, p, evaluator))


def test_ordered_accumulation_and_stochastic_rounding_equal_the_hardware():
    # a 12-bit accumulator overflows: the ordered (saturating, K-chunk and slice order) path runs
    # (stochastic rounding: activations, weights and the output stage draw the hardware's words)
    hw = dataclasses.replace(HW, accumulator_bits=12, stochastic=True, rounding="stochastic")
    pts = [P(act_bits=8, act_frac=5, weight_bits=8, rounding="stochastic", noise_kind="fixed", noise_level=0.1),
           P(act_bits=8, act_frac=4, weight_bits=6, rounding="stochastic", out_bits=10, out_frac=4)]
    ev = SweepEvaluator(MODEL, hw, X, Y, batch_size=12, devices=1)
    m, lv = ev.evaluate(pts, return_logits=True)
    assert m["overflow"][0] > 0 and m["random_bits"].min() > 0
    for p in pts if THOROUGH else pts[1:]:  # the default run: the output stage's point
        np.testing.assert_array_equal(lv[pts.index(p)], reference_logits(MODEL, hw, p, ev))


@pytest.mark.slow  # a second evaluator's compile; the vmapped-vs-separate tests keep the bits
def test_specialised_programs_give_the_same_bits(evaluator):
    pts = [P(act_bits=8, act_frac=4, weight_bits=b, noise_kind="fixed", noise_level=l) for b in (3, 6) for l in (0.0, 0.2)]
    hw = dataclasses.replace(HW, rounding="nearest_even", noise_kind="fixed", output_stage=False)
    ev = SweepEvaluator(MODEL, hw, X, Y, batch_size=12, devices=1)
    np.testing.assert_array_equal(ev.logits(pts), evaluator.logits(pts))
    with pytest.raises(ValueError, match="rounding"):
        ev.evaluate([P(act_bits=8, act_frac=4, weight_bits=4, rounding="floor", noise_kind="fixed")])
    with pytest.raises(ValueError, match="output_stage"):
        ev.evaluate([P(act_bits=8, act_frac=4, weight_bits=4, out_bits=8, noise_kind="fixed")])
    with pytest.raises(ValueError, match="noise kind"):
        ev.evaluate([POINTS[2]])


@pytest.mark.slow  # a second evaluator; the noise's seed dependence: test_noise
def test_reseeded_evaluator_equals_a_new_one_without_compiling(evaluator):
    # the noise draws of another seed, from the same compiled program (scripts/repro_yang_sze_noise.py)
    pts = [POINTS[0], POINTS[3]]
    fresh = SweepEvaluator(MODEL, HW, X, Y, batch_size=12, devices=1, seed=7)
    re = evaluator.reseeded(7)
    np.testing.assert_array_equal(re.logits(pts), fresh.logits(pts))
    assert re._batched is evaluator._batched  # the programs are shared, not rebuilt
    assert not np.array_equal(re.logits(pts)[0], evaluator.logits(pts)[0])  # fixed noise: other draws


@pytest.mark.slow  # the sweep over 2 processes x 4 devices vs 1 x 8 vs 1: tests/test_multiprocess.py (CI)
@pytest.mark.multidevice
def test_configs_sharded_over_devices_give_the_same_bits(evaluator):
    if len(jax.devices()) < 4:
        pytest.skip("needs 4 devices (XLA_FLAGS=--xla_force_host_platform_device_count=8)")
    ev4 = SweepEvaluator(MODEL, HW, X, Y, batch_size=12, devices=4)
    np.testing.assert_array_equal(ev4.logits(POINTS), evaluator.logits(POINTS))  # 5 configs padded to 8
    m4, m1 = ev4.evaluate(POINTS, return_logits=True)[0], evaluator.evaluate(POINTS, return_logits=True)[0]
    np.testing.assert_array_equal(m4["accuracy"], m1["accuracy"])
    np.testing.assert_array_equal(m4["overflow"], m1["overflow"])


_points = st.builds(
    lambda ab, af, wb, ws, wf, ob, of, r, nk, nl: P(act_bits=ab, act_frac=af, weight_bits=wb, weight_scale=ws,
                                                    weight_frac=wf, out_bits=ob, out_frac=of, rounding=r,
                                                    noise_kind=nk, noise_level=nl),
    st.integers(2, 8), st.integers(-2, 8), st.integers(2, 8), st.sampled_from(("fixed", "layer")), st.integers(0, 8),
    st.sampled_from((0, 4, 8, 16)), st.integers(-2, 10),
    st.sampled_from(("floor", "toward_zero", "nearest_even", "nearest_away")),
    st.sampled_from(("none", "fixed", "rescaled")), st.floats(0, 1, width=32))


@settings(max_examples=examples(2, 8))
@given(pts=st.lists(_points, min_size=3, max_size=3))
def test_vmapped_equals_single_property(evaluator, pts):
    lv = evaluator.logits(pts, chunk=3)  # one compiled program for every example (and the first test's)
    for i, p in enumerate(pts):
        np.testing.assert_array_equal(lv[i], evaluator.logits_one(p))


# ---------------------------------------------------------------------------------- configs


def test_grid_expands_validates_and_fans_out_static_settings():
    g = SweepGrid(act_bits=[4, 8], weight_bits=[2, 4, 8], noise_kind=["none", "fixed"], noise_level=[0.0, 0.1])
    (hw, pts), = g.groups().items()
    assert len(pts) == 2 * 3 * 3 == len(g)  # "none" ignores its level: duplicates dropped
    assert hw.max_act_bits == 8 and hw.max_weight_bits == 8 and hw.rounding == "nearest_even" and not hw.stochastic
    d = pts[0].to_dict()
    assert d["act_frac"] == 4 - 6 and d["weight_scale"] == "layer" and d["noise_kind"] == "none"
    fan = SweepGrid(rows=[8, 16], num_slices=[1, 2], weight_bits=[4, 8])
    assert [(h.rows, h.num_slices, len(p)) for h, p in fan.groups().items()] == [(8, 1, 2), (8, 2, 2), (16, 1, 2), (16, 2, 2)]
    z = SweepGrid(act_bits=[4, 6, 8], act_frac=[2, 3, 4], weight_bits=[8], mode="zip")
    assert [p.to_dict()["act_frac"] for p in z.configs() and next(iter(z.groups().values()))] == [2, 3, 4]
    mixed = SweepGrid(rounding=["floor", "stochastic"])
    (hw2, _), = mixed.groups().items()
    assert hw2.rounding is None and hw2.stochastic
    for kw, field in ((dict(act_bits=[0]), "SweepGrid.act_bits"), (dict(rounding=["sr_lo"]), "SweepGrid.rounding"),
                      (dict(noise_level=[-1.0]), "SweepGrid.noise_level"), (dict(width=[5000]), "SweepGrid.width"),
                      (dict(mode="grid"), "SweepGrid.mode"), (dict(act_bits=[]), "SweepGrid.act_bits"),
                      (dict(act_bits=[4, 8], weight_bits=[2, 4, 8], mode="zip"), "length")):
        with pytest.raises(ValueError, match=field):
            SweepGrid(**kw)
    with pytest.raises(TypeError, match="SweepGrid.act_bits"):
        SweepGrid(act_bits=[4.5])
    with pytest.raises(ValueError, match="SweepHardware.width"):
        SweepHardware(width=0)
    with pytest.raises(TypeError, match="SweepHardware.rows"):
        SweepHardware(rows=8.0)
    with pytest.raises(ValueError, match="NumericPoint.rounding"):
        P(act_bits=8, act_frac=4, weight_bits=4, rounding="sr_lo")
    with pytest.raises(ValueError, match="NumericPoint.act_bits"):
        NumericPoint(act_bits=np.int32(40), act_frac=np.int32(0), weight_bits=np.int32(8))
    with pytest.raises(ValueError, match="ModelSpec.name"):
        ModelSpec(name="lenet")


def test_spec_files(tmp_path):
    spec = load_spec(os.path.join(REPO, "examples", "sweep_digits.toml"))
    assert spec.model.name == "cnn_d2_k3_c8" and len(spec.grid) == 100 and spec.chunk == 64
    d = {"name": "j", "model": {"name": "cnn_d1_k3_c2"}, "grid": {"weight_bits": [2, 4]}, "run": {"chunk": 4}}
    (tmp_path / "s.json").write_text(json.dumps(d))
    assert load_spec(tmp_path / "s.json") == SweepSpec(name="j", model=ModelSpec(name="cnn_d1_k3_c2"),
                                                        grid=SweepGrid(weight_bits=(2, 4)), chunk=4)
    (tmp_path / "bad.json").write_text(json.dumps({**d, "grid": {"bits": [2]}}))
    with pytest.raises(ValueError, match="grid"):
        load_spec(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError):
        load_spec(tmp_path / "missing.toml")


def test_params_round_trip(tmp_path):
    m = make_model(ModelSpec(name="cnn_d2_k3_c4", input_size=8, seed=5))
    save_params(MODEL, str(tmp_path / "w.npz"))
    load_params(m, str(tmp_path / "w.npz"))
    for a, b in zip(jax.tree.leaves(nnx.state(m, nnx.Param)), jax.tree.leaves(nnx.state(MODEL, nnx.Param))):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------- results


def _spec(out):
    grid = SweepGrid(act_bits=[6, 8], act_int_bits=[3], weight_bits=[3, 6], noise_kind=["fixed"], noise_level=[0.0, 0.2])
    return SweepSpec(name="t", model=ModelSpec(name="cnn_d2_k3_c4", input_size=8, seed=1), grid=grid, chunk=3,
                     batch_size=12, out=str(out))




def _rows(path):
    return sorted((row_key(r), r["metric"], r["value"]) for r in read_results(path))


def test_resume_writes_no_duplicate_and_loses_no_row(tmp_path):
    kw = dict(model=MODEL, data=DATA, progress=False, plot=False)
    full = run_sweep(_spec(tmp_path / "full.csv"), **kw)
    assert full.evaluated == 8 and len(full.rows) == 8 * 6
    ref = _rows(tmp_path / "full.csv")
    assert len(set((k, m) for k, m, _ in ref)) == len(ref)
    # interrupted after one chunk, then resumed
    part = run_sweep(_spec(tmp_path / "a.csv"), max_chunks=1, **kw)
    assert part.evaluated == 3
    again = run_sweep(_spec(tmp_path / "a.csv"), **kw)
    assert (again.evaluated, again.skipped) == (5, 3)
    assert _rows(tmp_path / "a.csv") == ref
    # killed while writing: the file ends in the middle of a config's block (cut line)
    text = (tmp_path / "full.csv").read_text()
    lines = text.splitlines(keepends=True)
    cut = "".join(lines[:1 + 6 * 4 + 2]) + lines[1 + 6 * 4 + 2][:10]
    (tmp_path / "b.csv").write_text(cut)
    shutil.copy(tmp_path / "full.csv.fingerprint.json", tmp_path / "b.csv.fingerprint.json")
    resumed = run_sweep(_spec(tmp_path / "b.csv"), **kw)
    assert (resumed.evaluated, resumed.skipped) == (4, 4)
    assert _rows(tmp_path / "b.csv") == ref
    # nothing left to do: nothing written
    before = (tmp_path / "b.csv").read_text()
    assert run_sweep(_spec(tmp_path / "b.csv"), **kw).evaluated == 0
    assert (tmp_path / "b.csv").read_text() == before
    # a repeated block (e.g. two writers) is dropped on repair
    shutil.copy(tmp_path / "full.csv", tmp_path / "c.csv")
    with open(tmp_path / "c.csv", "a") as f:
        f.write("".join(lines[1:13]))
    assert len(ResultsFile(tmp_path / "c.csv", ("accuracy", "loss")).prepare()) == 8
    assert _rows(tmp_path / "c.csv") == ref
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a pimjax sweep results file"):
        ResultsFile(tmp_path / "d.csv", ("accuracy",)).prepare()
    assert tuple(read_results(tmp_path / "full.csv")[0]) == COLUMNS


def test_a_shared_results_file_keeps_other_sweeps_and_resumes_only_the_same_trained_model(tmp_path):
    kw = dict(model=MODEL, data=DATA, progress=False, plot=False)
    path = tmp_path / "shared.csv"
    spec = _spec(path)
    a = run_sweep(dataclasses.replace(spec, name="a"), events=False, **kw)  # accuracy and loss only
    assert a.evaluated == 8 and len(a.rows) == 8 * 2
    a_rows = sorted(row_key(r) + r["metric"] for r in read_results(path) if r["sweep"] == "a")
    b = run_sweep(dataclasses.replace(spec, name="b"), **kw)  # every metric: a's rows are not "incomplete"
    assert b.evaluated == 8
    assert sorted(row_key(r) + r["metric"] for r in read_results(path) if r["sweep"] == "a") == a_rows
    # the same sweep of another float training run (epochs) or another evaluation seed is new work
    other_model = dataclasses.replace(spec, name="b", model=dataclasses.replace(spec.model, epochs=3))
    assert run_sweep(other_model, **kw).evaluated == 8
    assert run_sweep(dataclasses.replace(spec, name="b", seed=5), **kw).evaluated == 8
    assert run_sweep(dataclasses.replace(spec, name="b"), **kw).evaluated == 0
    rows = read_results(path)
    assert {(r["sweep"], r["model_spec"], r["seed"]) for r in rows} == {
        ("a", spec.model.run_key, 0), ("b", spec.model.run_key, 0), ("b", other_model.model.run_key, 0),
        ("b", spec.model.run_key, 5)}
    assert len(rows) == 8 * 2 + 3 * 8 * 6
    with pytest.raises(ValueError, match=f"devices must be in 0..{len(jax.devices())} "):
        run_sweep(dataclasses.replace(spec, devices=len(jax.devices()) + 1), **kw)


def test_resume_with_other_settings_is_refused_and_writes_nothing(tmp_path):
    """A changed grid, run batch size, trained model or metric set: refused, naming what changed;
    the file is left as it was (rows of different settings are never mixed)."""
    from pimjax.apps.sweep._fingerprint import FingerprintMismatch

    kw = dict(model=MODEL, data=DATA, progress=False, plot=False)
    path = tmp_path / "r.csv"
    spec = _spec(path)
    part = run_sweep(spec, max_chunks=1, **kw)
    assert part.evaluated == 3
    before = path.read_text()
    grid = dataclasses.replace(spec.grid, weight_bits=(3, 4, 6))
    for changed, what in ((dataclasses.replace(spec, grid=grid), r"grid.weight_bits: \[3, 6\] in the file, \[3, 4, 6\] now"),
                          (dataclasses.replace(spec, batch_size=6), "run.batch_size: 12 in the file, 6 now")):
        with pytest.raises(FingerprintMismatch, match=what + ".*--out NEW.csv"):
            run_sweep(changed, **kw)
        assert path.read_text() == before
    with pytest.raises(FingerprintMismatch, match=r"weights: digest .* \(the trained float weights"):
        run_sweep(spec, **{**kw, "model": make_model(ModelSpec(name="cnn_d2_k3_c4", input_size=8, seed=9))})
    with pytest.raises(FingerprintMismatch, match=r"metrics: "):
        run_sweep(spec, events=False, **kw)
    assert path.read_text() == before
    # the same settings resume
    assert run_sweep(spec, **kw).evaluated == 5


def test_cli_sweep_refusals_are_one_line(tmp_path, capsys):
    d = {"name": "cli", "model": {"name": "cnn_d1_k3_c2", "epochs": 1},
         "grid": {"act_bits": [8], "weight_bits": [2, 8], "noise_kind": ["rescaled"], "noise_level": [0.0, 0.1]},
         "run": {"chunk": 4, "batch_size": 150}}
    (tmp_path / "f").write_text("x")
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps(d))
    assert cli.main(["sweep", str(cfg), "--out", str(tmp_path / "f" / "s.csv"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sweep output directory" in err[0] and "cannot be created" in err[0]
    cfg.write_text("[1, 2]")
    assert cli.main(["sweep", str(cfg)]) == 2
    assert "top level must be a table" in capsys.readouterr().err


@pytest.mark.parametrize("name, match", [("cnn_d0_k3_c8", "depth must be in 1..32"),
                                         ("cnn_d2_k9_c8", r"kernel must be in 1..8 \(the input size\)"),
                                         ("cnn_d2_k3_c0", "channels must be in 1..4096"),
                                         ("cnn_2_3", "ModelSpec.name must be")])
def test_model_spec_bounds_the_small_cnn_knobs(name, match):
    with pytest.raises(ValueError, match=match):
        ModelSpec(name=name, input_size=8)


def test_cli_sweep(tmp_path, capsys):
    d = {"name": "cli", "model": {"name": "cnn_d1_k3_c2", "epochs": 1},
         "grid": {"act_bits": [8], "weight_bits": [2, 8], "noise_kind": ["rescaled"], "noise_level": [0.0, 0.1]},
         "run": {"chunk": 4, "batch_size": 150}}
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps(d))
    out = tmp_path / "r" / "s.csv"
    assert cli.main(["sweep", str(cfg), "--out", str(out), "--no-progress", "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["configs"] == 4 and r["evaluated"] == 4 and os.path.exists(r["plot"])
    assert 0 <= r["worst"]["accuracy"] <= r["best"]["accuracy"] <= 1
    assert cli.main(["sweep", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert "0 evaluated now, 4 already there" in capsys.readouterr().out
    assert cli.main(["sweep", str(tmp_path / "none.toml")]) == 2
    assert cli.main(["sweep", str(cfg), "--devices", "-1"]) == 2
    assert "SweepSpec.devices" in capsys.readouterr().err
    assert cli.main(["sweep", str(cfg), "--devices", str(len(jax.devices()) + 1)]) == 2
    assert "devices must be in" in capsys.readouterr().err
