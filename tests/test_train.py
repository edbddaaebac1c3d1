"""The training loop: costs of every phase, exact resume, and 1 vs 8 devices give the same bits."""

import csv
import dataclasses
import os
import shutil

import jax
import numpy as np
import pytest
from flax import nnx

from pimjax.apps.train._config import EVENTS, TrainConfig
from pimjax.apps.train._loop import _latest, _restore, prepare, train

# the loop's features on a small CNN (two 3x3 convs of 4 channels, one dense layer: 3 emulated
# layers, few compiles); every model's own training step is in test_cnn_models.py
TINY = TrainConfig(model="cnn_d2_k3_c4", input_size=8, batch_size=8, epochs=1, rows=8, width=4,
                   progress=False, learning_rate=1e-2)


def _params(model):
    return [np.asarray(x) for x in jax.tree.leaves(nnx.to_pure_dict(nnx.state(model, nnx.Param)))]


def _assert_same_params(a, b):
    pa, pb = _params(a), _params(b)
    assert len(pa) == len(pb)
    for x, y in zip(pa, pb):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """TINY, 4 steps in one epoch (the slow mid-epoch resume compares against it)."""
    out = tmp_path_factory.mktemp("full")
    return train(dataclasses.replace(TINY, max_steps=4, out_dir=str(out)))


@pytest.mark.slow  # a second whole training run; test_resident checks the float-master update rule
def test_float_master_weights_leave_the_grid():
    out = train(dataclasses.replace(TINY, max_steps=1, weights="float"))
    assert out["update_events"] == {}
    codes = np.concatenate([p.ravel() for p in _params(out["model"])]).astype(np.float64) * 2.0**16
    assert np.any(codes != np.round(codes))


@pytest.mark.slow  # mid-epoch resume of TINY; test_resumed_epochs_equal_uninterrupted resumes mid-epoch too
def test_resume_is_bit_exact(uninterrupted, tmp_path):
    first = train(dataclasses.replace(TINY, max_steps=2, out_dir=str(tmp_path), checkpoint_every=2))
    assert first["steps"] == 2
    resumed = train(dataclasses.replace(TINY, max_steps=4, out_dir=str(tmp_path), resume=True))
    assert resumed["steps"] == 4
    _assert_same_params(resumed["model"], uninterrupted["model"])


@pytest.mark.slow  # 1 vs 8 devices of a training step: test_modules' and test_multiprocess' cover it
def test_one_and_eight_devices_same_bits():
    if len(jax.devices()) < 8:
        pytest.skip("needs 8 (fake) devices")
    base = dataclasses.replace(TINY, slices=8, max_steps=2)
    one = train(base)
    eight = train(dataclasses.replace(base, devices=8))
    _assert_same_params(one["model"], eight["model"])


def test_bad_config():
    with pytest.raises(ValueError, match="TrainConfig.precision"):
        TrainConfig(precision="fp64")
    with pytest.raises(ValueError, match="TrainConfig.slices"):
        TrainConfig(slices=3, devices=2)
    with pytest.raises(ValueError, match="TrainConfig.weights"):
        TrainConfig(weights="int8")
    with pytest.raises(ValueError, match="TrainConfig.weight_bits"):
        TrainConfig(weight_bits=32)
    with pytest.raises(ValueError, match="TrainConfig.model"):
        train(dataclasses.replace(TINY, model="lenet"))
    with pytest.raises(ValueError, match="TrainConfig.seed"):
        TrainConfig(seed=-1)
    with pytest.raises(ValueError, match="TrainConfig.resume needs TrainConfig.out_dir"):
        TrainConfig(resume=True)
    with pytest.raises(ValueError, match="TrainConfig.checkpoint_every needs TrainConfig.out_dir"):
        TrainConfig(checkpoint_every=5)


# 16 training images of 8x8 (2 steps of 8 per epoch), each with one pixel out of the 16-bit FF
# input range: every step counts overflows
SMALL = dataclasses.replace(TINY, model="cnn_d1_k3_c4", epochs=2)


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (24, 8, 8)).astype(np.float32)
    x[:, 0, 0] = 300.0
    y = np.arange(24) % 4
    path = tmp_path_factory.mktemp("data") / "small.npz"
    np.savez(path, x_train=x[:16], y_train=y[:16], x_test=x[16:], y_test=y[16:])
    return str(path)


@pytest.fixture(scope="module")
def resumed_runs(small_npz, tmp_path_factory):
    """Two epochs of 2 steps: uninterrupted; stopped after 3 steps; resumed from there."""
    cfg = dataclasses.replace(SMALL, dataset=small_npz)
    full = train(dataclasses.replace(cfg, out_dir=str(tmp_path_factory.mktemp("full"))))
    cut_dir = str(tmp_path_factory.mktemp("cut"))
    cut = train(dataclasses.replace(cfg, out_dir=cut_dir, max_steps=3))
    resumed = train(dataclasses.replace(cfg, out_dir=cut_dir, resume=True))
    return cfg, full, cut, resumed, cut_dir


# the uninterrupted SMALL run (2 epochs of 2 steps) also checks the loop's costs, events and files
def test_costs_for_all_phases(resumed_runs):
    uninterrupted = resumed_runs[1]
    costs = uninterrupted["step_costs"]
    assert len(costs) == 2  # the conv and the dense layer
    for layer, phases in costs.items():
        assert set(phases) == {"ff", "bp", "up"}, layer
        for ph, rec in phases.items():
            d = rec.to_dict()
            assert d["macs"] > 0 and d["cycles"] > 0 and d["energy_pj"] > 0 and 0 < d["utilization"] <= 1
            if ph in ("bp", "up"):  # products rounded stochastically: random bits come from the probe
                assert d["random_bits"] > 0, (layer, ph)
    assert "TOTAL" in uninterrupted["cost_table"]


def test_epoch_events_are_exact_ints(resumed_runs):
    """Each epoch's random bits (exact Python ints): 2 steps of the same shapes, each the step's
    per-layer, per-phase records summed; the run's, 4 steps."""
    uninterrupted = resumed_runs[1]
    per_step = sum(int(rec.random_bits) for ph in uninterrupted["step_costs"].values() for rec in ph.values())
    assert [row["step"] for row in uninterrupted["epochs"]] == [2, 4] and per_step > 0
    for row in uninterrupted["epochs"]:
        for f in EVENTS:
            assert type(row[f]) is int and type(uninterrupted["events"][f]) is int, f
        assert row["random_bits"] == 2 * per_step
    assert uninterrupted["events"]["random_bits"] == 4 * per_step
    totals = [line.split() for line in uninterrupted["cost_table"].splitlines() if line.startswith("TOTAL")]
    assert sum(int(t[-1]) for t in totals) == per_step  # the table's SR bits column, exact


def test_metrics_and_costs_written(resumed_runs):
    uninterrupted = resumed_runs[1]
    out = uninterrupted["config"]["out_dir"]
    for name in ("metrics.json", "metrics.csv", "costs.csv"):
        assert os.path.exists(os.path.join(out, name)), name
    assert 0.0 <= uninterrupted["final"]["accuracy"] <= 1.0


def test_resident_weights_stay_on_the_grid(resumed_runs):
    """Default precision: Q8.16 weights in memory, updated with SR (random bits counted), 4 steps."""
    uninterrupted = resumed_runs[1]
    assert uninterrupted["config"]["weights"] == "auto"
    for p in _params(uninterrupted["model"]):
        codes = p.astype(np.float64) * 2.0**16
        np.testing.assert_array_equal(codes, np.round(codes))
        assert np.all(np.abs(codes) < 2**23)
    ev = uninterrupted["update_events"]
    n = sum(p.size for p in _params(uninterrupted["model"]))
    assert ev["random_bits"] == 4 * n * 32 and ev["nan"] == 0


def test_resumed_epochs_equal_uninterrupted(resumed_runs):
    cfg, full, cut, resumed, cut_dir = resumed_runs
    assert [(r["epoch"], r["step"], r["partial"]) for r in cut["epochs"]] == [(1, 2, False), (2, 3, True)]
    assert [(r["epoch"], r["step"], r["partial"]) for r in resumed["epochs"]] == [(1, 2, False), (2, 4, False)]
    for a, b in zip(resumed["epochs"], full["epochs"]):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    assert resumed["epochs"][1]["seconds"] > cut["epochs"][1]["seconds"]  # the clock goes on
    with open(os.path.join(cut_dir, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2"]  # epoch 2 replaced, not appended
    _assert_same_params(resumed["model"], full["model"])


def test_epoch_events_are_summed_over_its_steps(resumed_runs):
    full = resumed_runs[1]
    last_step = sum(int(rec.overflow) for ph in full["step_costs"].values() for rec in ph.values())
    assert last_step > 0
    for row in full["epochs"]:
        assert row["overflow"] > last_step and row["nan"] == 0 and row["inf"] == 0
        assert row["update_overflow"] >= 0
    assert full["events"] == {f: sum(r[f] for r in full["epochs"]) for f in EVENTS}


def test_resume_refuses_another_run(resumed_runs, tmp_path):
    cfg, cut_dir = resumed_runs[0], resumed_runs[4]
    resume = dataclasses.replace(cfg, out_dir=cut_dir, resume=True)
    with pytest.raises(ValueError, match=r"TrainConfig.model: 'cnn_d1_k3_c4' in the checkpoint, 'cnn_d1_k3_c8' now"):
        prepare(dataclasses.replace(resume, model="cnn_d1_k3_c8"))
    with pytest.raises(ValueError, match="TrainConfig.optimizer: 'adam' in the checkpoint, 'sgd' now"):
        prepare(dataclasses.replace(resume, optimizer="sgd"))
    prepare(dataclasses.replace(resume, max_steps=1, checkpoint_every=1))  # how long it runs may change
    # checkpoints without their manifest (an older pimjax's, or saves cut short) are refused by
    # name, never resumed unverified
    bare = tmp_path / "checkpoints"
    shutil.copytree(os.path.join(cut_dir, "checkpoints"), bare, ignore=shutil.ignore_patterns("*.json"))
    with pytest.raises(ValueError, match=r"no intact checkpoint .*step_00000004: incomplete: no "
                                         r"step_00000004.manifest.json"):
        prepare(dataclasses.replace(resume, out_dir=str(tmp_path)))
    # the arrays are checked against this run's model and optimizer
    other = prepare(dataclasses.replace(cfg, model="cnn_d1_k3_c8", max_steps=0))
    with pytest.raises(ValueError, match=r"do not fit .*kernel: \(9, 4\) float32 in the checkpoint, \(9, 8\)"):
        _restore(str(bare / "step_00000004"), other.model, other.optimizer)


def test_resume_without_checkpoint_starts_fresh(tmp_path, capsys):
    p = prepare(dataclasses.replace(SMALL, max_steps=0, out_dir=str(tmp_path), resume=True))
    assert p.step == 0 and "no checkpoint in" in capsys.readouterr().err


def test_fresh_run_refuses_earlier_checkpoints(resumed_runs, tmp_path, capsys):
    """A run from step 0 into an out_dir holding another run's checkpoints would leave them for a
    later resume to pick up: it is refused unless ``overwrite``, which deletes them first."""
    cfg, cut_dir = resumed_runs[0], resumed_runs[4]
    out = tmp_path / "out"
    shutil.copytree(cut_dir, out)
    fresh = dataclasses.replace(cfg, out_dir=str(out), max_steps=0)
    with pytest.raises(ValueError, match=r"TrainConfig.out_dir holds checkpoints of an earlier run .*resume=True"):
        prepare(fresh)
    assert _latest(str(out / "checkpoints")) is not None
    p = prepare(dataclasses.replace(fresh, overwrite=True))
    assert p.step == 0 and _latest(str(out / "checkpoints")) is None
    assert not list((out / "checkpoints").glob("step_*.json"))
    assert "removed" in capsys.readouterr().err
    with pytest.raises(ValueError, match="TrainConfig.resume and TrainConfig.overwrite"):
        dataclasses.replace(fresh, resume=True, overwrite=True)
    with pytest.raises(ValueError, match="TrainConfig.overwrite needs TrainConfig.out_dir"):
        dataclasses.replace(fresh, out_dir=None, overwrite=True)
    with pytest.raises(TypeError, match="TrainConfig.overwrite must be a bool"):
        dataclasses.replace(fresh, overwrite="yes")


def test_latest_skips_unfinished_checkpoints(tmp_path):
    for d in ("step_00000002", "step_00000009.orbax-checkpoint-tmp-1712", "step_00000010.orbax-checkpoint-tmp-0"):
        (tmp_path / d).mkdir()
    (tmp_path / "step_00000002.json").write_text("{}")
    assert _latest(str(tmp_path)) == str(tmp_path / "step_00000002")


def test_load_saturations_reported():
    """Q0.7 resident weights: a weight of the initial CNN saturates when it is loaded."""
    p = prepare(dataclasses.replace(SMALL, weight_bits=8, weight_frac=7))
    assert p.load_events["overflow"] >= 1


def test_events_reported_without_cost_records():
    """``record_costs=False`` drops the hardware cost records, never the numeric events."""
    import jax.numpy as jnp

    from pimjax.apps.cost import collect_costs
    from pimjax.nn import training_hardware
    from pimjax.nn._layers import CostProbe, EmuLinear

    hw = dataclasses.replace(training_hardware("neurotrainer", rows=8, width=4), record_costs=False)
    layer = EmuLinear(4, 3, hw=hw, layer_id=0, rngs=nnx.Rngs(0))
    x = jnp.array([[1e6, 0.5, jnp.nan, 0.25], [0.5, -0.5, 0.25, 1.0]], jnp.float32)  # 16-bit FF input overflows

    def loss(m):
        return jnp.sum(jnp.nan_to_num(m(x, seed=jnp.uint32(3))))

    grads = nnx.grad(loss, argnums=nnx.DiffState(0, nnx.Any(nnx.Param, CostProbe)))(layer)
    costs = collect_costs(nnx.pop(layer, nnx.Intermediate), nnx.state(grads, CostProbe))[""]
    ff, bp, up = (costs[p].to_dict() for p in ("ff", "bp", "up"))
    assert ff["overflow"] == 1 and ff["nan"] == 1
    assert ff["macs"] == 0  # no cost records
    assert bp["random_bits"] > 0 and up["random_bits"] > 0  # BP/UP products rounded stochastically
