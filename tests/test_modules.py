"""Synchronous data-parallel training on several modules (NeuroTrainer Sec. 5.3): every phase equals
``parallel_matmul`` on the modules' node bit for bit, the costs hold the sync, and training runs."""

import dataclasses
import json
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pimjax.apps.train._config import TrainConfig, run_config
from pimjax.apps.train._loop import _check_config, make_steps, prepare
from pimjax.cli import main
from pimjax.cost import host_sync, parallel_cost
from pimjax.hw import AggregationConfig, ArrayConfig, ParallelConfig, SystemConfig
from pimjax.nn import (EmuLinear, PhaseConfig, TrainingHardware, decode_events, emulated_bmm, emulated_dot,
                       emulated_layers, training_hardware, zero_probe)
from pimjax.nn._layers import matmul_costs
from pimjax.nn._modules import default_central, module_blocks, node_cost
from pimjax.numerics import FixedFormat, FloatFormat, NumericEvents, fold_key, quantize
from pimjax.system import parallel_matmul
from budget import quick_subset  # noqa: E402  (tests/budget.py: the default run and the thorough one)

RNG = np.random.default_rng(1)
X = jnp.asarray(RNG.standard_normal((8, 12)), jnp.float32)  # batch 8: blocks of 4 / 2 rows for 2 / 4 modules
W = jnp.asarray(RNG.standard_normal((12, 5)) * 0.2, jnp.float32)
DY = jnp.asarray(RNG.standard_normal((8, 5)) * 1e-2, jnp.float32)
SEED = jnp.uint32(5)
NT = dict(rows=8, width=4)


def _grads(x, w, dy, probe, hw):
    """y, FF events, dx, dw and the probe gradient of one emulated_dot under grad."""
    def loss(x, w, p):
        y, ev = emulated_dot(x, w, hw, seed=SEED, probe=p)
        return jnp.sum(y * dy), (y, ev)

    (_, (y, ev)), (dx, dw, dp) = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(x, w, probe)
    return y, ev, dx, dw, dp


_GRADS = jax.jit(_grads, static_argnums=4)


def run(hw, dy=DY):
    return [np.asarray(v) for v in _GRADS(X, W, dy, zero_probe(), hw)]


def test_one_module_is_unchanged():
    hw = training_hardware("neurotrainer", **NT)
    one = training_hardware("neurotrainer", **NT, modules=1)
    assert one == hw and all(one.node(p) is None for p in ("ff", "bp", "up"))
    for a, b in zip(run(one), run(hw)):
        np.testing.assert_array_equal(a, b)


@partial(jax.jit, static_argnums=(2, 3, 5))
def _reference_phase(a, b, phase, node, key, k_ranges=None):
    """The phase's operands quantized as ``phase_matmul`` does, then ``parallel_matmul`` directly."""
    arr = phase.system.array
    kq = fold_key(key, 101)
    qa, ea = quantize(a, arr.a_format, phase.input_rounding, key=fold_key(kq, 0))
    qb, eb = quantize(b, arr.b_format, phase.input_rounding, key=fold_key(kq, 1))
    with jax.enable_x64(True):
        qa, qb = qa.astype(arr.a_format.code_dtype), qb.astype(arr.b_format.code_dtype)
    res = parallel_matmul(qa, qb, node, key=key, k_ranges=k_ranges)
    agg = node.host if node.scheme == "model" else node.unit.aggregation
    with jax.enable_x64(True):
        vals = (res.out.astype(jnp.float64) * 2.0 ** -agg.output_format.frac).astype(jnp.float32)
    return vals, ea.merge(eb).merge(res.events), res


@pytest.mark.parametrize("n", quick_subset([2, 4], {2}))
def test_phases_are_parallel_matmul_bit_for_bit(n):
    """FF/BP on the "data" node, UP on the "model" node with the modules' row blocks and the
    default central unit (32-bit Q11.20 accumulator, the UP output format), events exact."""
    hw = training_hardware("neurotrainer", **NT, modules=n)
    y, ev, dx, dw, dp = run(hw)
    central = AggregationConfig(packet_format=None, accumulator_format=FixedFormat(bits=32, frac=20),
                                output_format=FixedFormat(bits=32, frac=20))
    assert default_central(hw.up.system) == central
    data = {p: ParallelConfig(unit=hw.phase(p).system, num_units=n, scheme="data") for p in ("ff", "bp")}
    up = ParallelConfig(unit=hw.up.system, num_units=n, scheme="model", host=central)
    assert hw.node("up").host == central
    blocks = [(u * 8 // n, (u + 1) * 8 // n) for u in range(n)]
    y_ref, ev_ff, r_ff = _reference_phase(X, W, hw.ff, data["ff"], fold_key(SEED, 0))
    dx_ref, ev_bp, _ = _reference_phase(DY, W.T, hw.bp, data["bp"], fold_key(SEED, 1))
    dw_ref, ev_up, r_up = _reference_phase(X.T, DY, hw.up, up, fold_key(SEED, 2), tuple(blocks))
    assert list(r_ff.splits) == blocks == list(r_up.splits)  # example-aligned blocks, the same in FF and UP
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    np.testing.assert_array_equal(dw, dw_ref)
    np.testing.assert_array_equal(decode_events(ev), np.asarray(ev_ff))
    np.testing.assert_array_equal(decode_events(dp), np.asarray([ev_bp, ev_up]))
    assert int(ev_up.random_bits) > 0


def _exact_system() -> SystemConfig:
    """Q5.6 operands, exact products and 32-bit Q19.12 sums: the product is exact when nothing saturates."""
    f, acc = FixedFormat(bits=12, frac=6), FixedFormat(bits=32, frac=12)
    arr = ArrayConfig(rows=8, width=4, a_format=f, b_format=f, accumulator_format=acc, output_format=acc)
    return SystemConfig(array=arr, num_slices=2, aggregation=AggregationConfig(
        packet_format=None, accumulator_format=acc, output_format=acc))


@pytest.mark.slow  # test_phases_are_parallel_matmul_bit_for_bit keeps the modules' bits
@pytest.mark.parametrize("n", [2, 4])
def test_independent_checks(n):
    """Deterministic rounding: FF/BP on n modules equal one system over all rows. Exact wide
    formats: UP (module partials summed by the central unit) equals the exact product."""
    det = run(training_hardware("fixed16", **NT, modules=n))
    one = run(training_hardware("fixed16", **NT))
    for i in (0, 1, 2):  # y, FF events, dx
        np.testing.assert_array_equal(det[i], one[i])
    s = PhaseConfig(system=_exact_system())
    dy = DY * 100
    _, _, _, dw, dp = run(TrainingHardware(ff=s, bp=s, up=s, modules=n), dy=dy)
    qx = np.round(np.asarray(X, np.float64) * 64).astype(np.int64)  # nearest even, in range
    qdy = np.round(np.asarray(dy, np.float64) * 64).astype(np.int64)
    np.testing.assert_array_equal(dw, ((qx.T @ qdy) * 2.0**-12).astype(np.float32))
    assert int(decode_events(dp)[1, 0]) == 0  # no overflow


def _up_is_share_plus_sync(rec, m, k, n, hw):
    """UP time = one module's UP time on its 1/N of the batch rows + the central reduction and
    copy-back of dW (NeuroTrainer's T2, ``host_sync``)."""
    node = hw.node("up")
    share = matmul_costs(m // hw.modules, k, n, dataclasses.replace(hw, modules=1))["up"]
    sync = host_sync(k, m, n, node, k_ranges=module_blocks(m, hw.modules))
    assert sync.sync_s > 0 and sync.additions == (hw.modules - 1) * k * n
    assert float(rec.time_s) == float(share.time_s) + sync.sync_s
    assert float(rec.aggregation_additions) == hw.modules * float(share.aggregation_additions) + sync.additions


def test_costs_hold_the_sync():
    m, k, n = 8, 12, 5
    hw1, hw2 = training_hardware("neurotrainer", **NT), training_hardware("neurotrainer", **NT, modules=2)
    c1, c2 = matmul_costs(m, k, n, hw1), matmul_costs(m, k, n, hw2)
    assert c2["up"].to_dict() == parallel_cost(k, m, n, hw2.node("up"), k_ranges=((0, 4), (4, 8))).to_dict()
    _up_is_share_plus_sync(c2["up"], m, k, n, hw2)
    for p, (pm, pk, pn) in (("ff", (m, k, n)), ("bp", (m, n, k))):
        ref = parallel_cost(pm, pk, pn, hw2.node(p))
        assert c2[p].to_dict() == ref.to_dict()
        # the per-module path of resident weights gives the same record for one call
        assert node_cost(pm, pk, pn, hw2.node(p), reuse_weights=True).to_dict() == ref.to_dict()
        assert float(c2[p].time_s) < float(c1[p].time_s) and float(c2[p].macs) == float(c1[p].macs)
    # a large dW against a small batch: the sync makes UP slower than on one module
    h8 = [training_hardware("neurotrainer", **NT, num_slices=8, modules=mo) for mo in (1, 2)]
    big1, big2 = (matmul_costs(8, 256, 256, h)["up"] for h in h8)
    assert float(big2.time_s) > float(big1.time_s)
    ev = NumericEvents.make(1, 2, 3, 4)
    assert int(matmul_costs(m, k, n, hw2, {"up": ev})["up"].random_bits) == 4


def test_attention_products_per_module():
    """Per-sentence products run whole on the module holding the sentence (the arithmetic of one
    module, by construction: the same phase_matmul per sentence); the costs are B / N calls per
    module, the modules concurrent."""
    hw1, hw2 = training_hardware("neurotrainer", **NT), training_hardware("neurotrainer", **NT, modules=2)
    c1, c2 = matmul_costs(2, 3, 2, hw1, calls=4), matmul_costs(2, 3, 2, hw2, calls=4, per_example=True)
    half = matmul_costs(2, 3, 2, hw1, calls=2)
    for p in ("ff", "bp", "up"):
        assert float(c2[p].macs) == float(c1[p].macs) and float(c2[p].time_s) == float(half[p].time_s)


def test_bad_input():
    hw = training_hardware("neurotrainer", **NT, modules=4)
    with pytest.raises(ValueError, match="batch size 6 .* divisible by TrainingHardware.modules \\(4\\)"):
        emulated_dot(X[:6], W, hw, seed=0)
    with pytest.raises(ValueError, match="lin7: the batch size 6"):
        EmuLinear(12, 5, hw=hw, layer_id=7, rngs=nnx.Rngs(0), name="lin7")(X[:6], seed=0)
    with pytest.raises(ValueError, match="emulated_bmm: the batch size 3"):
        emulated_bmm(jnp.ones((3, 2, 4)), jnp.ones((3, 4, 2)), hw, seed=0)
    with pytest.raises(ValueError, match="TrainingHardware.modules must be in 1..1024"):
        training_hardware("neurotrainer", modules=0)
    with pytest.raises(ValueError, match="central needs modules > 1"):
        training_hardware("neurotrainer", central=default_central(hw.up.system))
    with pytest.raises(ValueError, match="frac must equal"):  # the central accumulator keeps the partials' frac
        training_hardware("neurotrainer", modules=2, central=AggregationConfig(
            packet_format=None, accumulator_format=FixedFormat(bits=32, frac=8), output_format=None))
    with pytest.raises(TypeError, match="TrainingHardware.central cannot form the UP node .* must be a FixedFormat"):
        training_hardware("neurotrainer", modules=2, central=AggregationConfig(  # float central on a fixed UP
            packet_format=None, accumulator_format=FloatFormat(name="fp32"), output_format=None))
    with pytest.raises(ValueError, match="TrainConfig.batch_size \\(6\\) must be divisible by TrainConfig.modules"):
        TrainConfig(batch_size=6, modules=4)


def test_cli_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--modules", "3", "--batch-size", "8", "--no-progress", "--max-steps", "1"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--modules (3)" in err and "Traceback" not in err


TINY = TrainConfig(model="cnn_d2_k3_c4", input_size=8, batch_size=8, epochs=1, rows=8, width=4, slices=8,
                   modules=2, progress=False, learning_rate=1e-2)


def test_cost_cli(capsys):
    """``pimjax cost --modules``: the UP totals hold the sync; a batch the modules do not divide is a usage error."""
    args = ["cost", "--model", "alexnet", "--input-size", "32", "--batch-size", "8", "--model-width", "0.25",
            "--slices", "4", "--json"]
    reports = []
    for mods in ("1", "2"):
        assert main([*args, "--modules", mods]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert [r["modules"] for r in reports] == [1, 2]
    one, two = (r["totals"]["up"] for r in reports)
    assert two["macs"] == one["macs"] and two["dram_bytes"] > one["dram_bytes"]  # the partials and the copies
    with pytest.raises(SystemExit) as e:
        main([*args, "--batch-size", "9", "--modules", "2"])
    assert e.value.code == 2 and "--batch-size (9) must be divisible by --modules (2)" in capsys.readouterr().err


def test_resume_checks_modules(tmp_path):
    """The run config holds ``modules``; a checkpoint saved before the field existed counts as modules=1."""
    cfg = dataclasses.replace(TINY, out_dir=str(tmp_path))
    assert run_config(cfg)["modules"] == 2
    old = {k: v for k, v in run_config(dataclasses.replace(cfg, modules=1)).items() if k != "modules"}
    path, saved = str(tmp_path / "step_00000001"), {"config": old, "epoch_state": {}}
    with pytest.raises(ValueError, match="TrainConfig.modules: 1 in the checkpoint, 2 now"):
        _check_config(path, saved, cfg)
    _check_config(path, saved, dataclasses.replace(cfg, modules=1))


def _one_step(cfg):
    """One training step of ``cfg``: the parameters after it, the step's costs, the model."""
    p = prepare(cfg)
    train_step, _ = make_steps(p.task)
    batch = p.task.train_batch(cfg.batch_size, seed=cfg.seed, epoch=0, index=0)
    _, _, costs = train_step(p.model, p.optimizer, batch, jnp.uint32(0))
    params = [np.asarray(v) for v in jax.tree.leaves(nnx.to_pure_dict(nnx.state(p.model, nnx.Param)))]
    return params, costs.unpack(), p.model


@pytest.fixture(scope="module")
def two_modules():
    return _one_step(TINY)


@pytest.mark.slow  # a whole 2-module training step; the bits: test_phases_are_parallel_matmul_bit_for_bit, the sync
# cost: test_parallel's test_sync_cost_equals_amd_formula
def test_training_step_records_the_sync(two_modules):
    params, costs, model = two_modules
    layers = emulated_layers(model)
    assert len(costs) == len(layers) == 3
    for lin, (name, phases) in zip(layers, costs.items()):
        assert set(phases) == {"ff", "bp", "up"}
        k, n = lin.kernel.shape
        m = int(phases["up"].macs) // (k * n)  # the layer's batch rows
        want = matmul_costs(m, k, n, lin.hw)
        for p in ("ff", "bp", "up"):
            assert float(phases[p].time_s) == float(want[p].time_s), (name, p)
        _up_is_share_plus_sync(phases["up"], m, k, n, lin.hw)
        assert float(phases["up"].random_bits) > 0
    assert all(np.all(np.isfinite(v)) for v in params)


@pytest.mark.slow  # a second whole training step on 8 devices; test_parallel checks the nodes' bits on 1-8 devices
def test_one_and_eight_devices_same_bits(two_modules):
    if len(jax.devices()) < 8:
        pytest.skip("needs 8 (fake) devices")
    eight, _, _ = _one_step(dataclasses.replace(TINY, devices=8))
    for a, b in zip(two_modules[0], eight):
        np.testing.assert_array_equal(a, b)

