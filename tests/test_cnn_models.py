"""CNN models on emulated hardware (``pimjax.nn.make_cnn``) and the datasets (``pimjax.apps.data``).

Every model trains one step at a tiny width and input on a small array (16 x 8, NeuroTrainer
precisions): finite loss, finite float gradients, and BP/UP event vectors (the probes'
gradients) for every emulated layer. XLA compiles dominate the runtime (each emulated layer
adds a few thousand HLO ops per phase), so each step is compiled once, at backend
optimisation level 0 (same results, faster compile), and the batch is tiny.

Full-size shapes are checked without running anything: :func:`gemm_shapes` traces the forward
pass with ``jax.eval_shape`` on an abstract model (:func:`abstract_cnn`), and the MAC counts
match the published ones (torchvision's GFLOPS column counts multiply-accumulates).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from pimjax.apps.data import batches, epoch_permutation, load_digits_dataset, load_npz_dataset, num_batches
from pimjax.nn import (CNN_MODELS, PROBE_SHAPE, abstract_cnn, decode_events, emulated_layers, gemm_shapes, make_cnn,
                       training_hardware)
from pimjax.nn._layers import CostProbe
from budget import quick_subset  # noqa: E402  (tests/budget.py: the default run and the thorough one)

# BP/UP round once at the output (neurotrainer_sr_out): these tests are about the models' layers and costs;
# that program compiles faster, and the default's per-product rounding has its own tests
# (test_rounded_products, test_emulated).
HW = training_hardware("neurotrainer_sr_out", rows=16, width=8)
FAST_COMPILE = {"xla_backend_optimization_level": 0}

# name -> (input_size, width) of the training-step test: as small as the architecture allows
TINY = {
    "alexnet": (16, 1 / 16),
    "vgg11": (16, 1 / 16),
    "vgg16": (16, 1 / 16),
    "resnet18": (16, 1 / 16),
    "resnet50": (8, 1 / 16),
}


def _loss_fn(model, x, y, seed):
    logits = model(x, seed=seed, train=True)
    costs = nnx.pop(model, nnx.Intermediate)  # keep the graph unchanged between steps
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), costs


def _train_step(model, x, y, seed):
    """One value_and_grad step, jitted functionally (split / merge) so compile options apply."""
    graphdef, state = nnx.split(model)
    diff = nnx.DiffState(0, nnx.Any(nnx.Param, CostProbe))

    def step(state, x, y, seed):
        m = nnx.merge(graphdef, state)
        (loss, costs), grads = nnx.value_and_grad(_loss_fn, argnums=diff, has_aux=True)(m, x, y, seed)
        return loss, grads, costs, nnx.state(m)

    compiled = jax.jit(step).lower(state, x, y, seed).compile(compiler_options=FAST_COMPILE)
    return compiled(state, x, y, seed)


# Each emulated layer costs ~0.5 s of tracing and ~2.5-4 s of XLA compile on a busy 2-core CPU,
# whatever its size. The default run traces AlexNet's whole training step abstractly
# (jax.eval_shape: every layer's FF/BP/UP program is built, nothing is compiled) and checks its
# structure; running the steps (AlexNet, a one-block-per-stage ResNet-18 with basic blocks,
# BatchNorm and projections, and the full networks: 11, 16, 21 and 54 layers) is marked slow
# (deselect with -m "not slow"): tests/test_train.py runs emulated CNN training steps at a small
# size in the default suite. VGG is AlexNet's code path with a longer config, ResNet-50 adds the
# bottleneck block.
STEP_CASES = [pytest.param("alexnet", None, False, id="alexnet-traced"),
              pytest.param("alexnet", None, True, marks=pytest.mark.slow, id="alexnet"),
              pytest.param("resnet18", (1, 1, 1, 1), True, marks=pytest.mark.slow, id="resnet18-d1111")] + [
    pytest.param(n, None, True, marks=pytest.mark.slow, id=n) for n in ("vgg11", "vgg16", "resnet18", "resnet50")]


@pytest.mark.parametrize("name,depths,run", STEP_CASES)
def test_one_training_step(name, depths, run):
    size, width = TINY[name]
    batch = 2
    extra = {} if depths is None else {"depths": depths}
    model = make_cnn(name, hw=HW, num_classes=10, in_channels=1, input_size=size, width=width, rngs=nnx.Rngs(0),
                     **extra)
    layers = emulated_layers(model)
    assert [m.layer_id for m in layers] == list(range(model.num_layers))
    shapes = gemm_shapes(model, batch)
    assert [s[0] for s in shapes] == [m.name for m in layers]  # call order == construction order

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.random((batch, size, size, 1)), jnp.float32)
    y = jnp.asarray([3, 7], jnp.int32)
    if not run:  # the whole step's structure, traced without compiling
        graphdef, state = nnx.split(model)
        diff = nnx.DiffState(0, nnx.Any(nnx.Param, CostProbe))

        def step(state, x, y, seed):
            m = nnx.merge(graphdef, state)
            (loss, costs), grads = nnx.value_and_grad(_loss_fn, argnums=diff, has_aux=True)(m, x, y, seed)
            return loss, grads, costs

        loss, grads, costs = jax.eval_shape(step, state, x, y, jnp.uint32(5))
        assert loss.shape == () and loss.dtype == jnp.float32
        probes = jax.tree.leaves(nnx.state(grads, CostProbe))
        assert len(probes) == model.num_layers and all(p.shape == PROBE_SHAPE for p in probes)
        params, want = jax.tree.leaves(nnx.state(grads, nnx.Param)), jax.tree.leaves(nnx.state(model, nnx.Param))
        assert [(g.shape, g.dtype) for g in params] == [(w.shape, w.dtype) for w in want]
        recs = jax.tree.leaves(costs, is_leaf=lambda c: isinstance(c, dict) and "ff" in c)
        assert len(recs) == model.num_layers and all(set(c) == {"ff", "bp", "up"} for c in recs)
        return
    loss, grads, costs, new_state = _train_step(model, x, y, jnp.uint32(5))

    assert np.isfinite(float(loss)) and float(loss) > 0
    params = jax.tree.leaves(nnx.state(grads, nnx.Param))
    assert params and all(bool(jnp.all(jnp.isfinite(g))) for g in params)
    assert any(float(jnp.max(jnp.abs(g))) > 0 for g in params)
    probes = jax.tree.leaves(nnx.state(grads, CostProbe))
    assert len(probes) == model.num_layers
    for p in probes:
        assert p.shape == PROBE_SHAPE
        assert np.all(np.isfinite(np.asarray(p)))
        p = np.asarray(decode_events(p))  # exact [overflow, nan, inf, random bits] of BP and UP
        # stochastic rounding drew bits in both
        assert p[0, 3] > 0 and p[1, 3] > 0
        assert np.all(p[:, 1:3] == 0)
    # the sown FF cost records cover the same GEMMs as gemm_shapes
    ff_macs = sum(float(c["ff"].macs) for c in jax.tree.leaves(
        costs, is_leaf=lambda c: isinstance(c, dict) and "ff" in c))
    assert ff_macs == pytest.approx(sum(m * k * n for _, m, k, n in shapes), rel=1e-6)
    if name.startswith("resnet"):  # train=True updated BatchNorm's running statistics
        old = jax.tree.leaves(nnx.state(model, nnx.BatchStat))
        new = jax.tree.leaves(nnx.state(new_state, nnx.BatchStat))
        assert any(not np.array_equal(a, b) for a, b in zip(old, new))


def test_vgg16_full_size_gemm_shapes():
    t0 = time.perf_counter()
    model = abstract_cnn("vgg16", hw=training_hardware("neurotrainer"))
    shapes = gemm_shapes(model, 128)
    elapsed = time.perf_counter() - t0
    print(f"vgg16 224x224 gemm_shapes: {elapsed:.2f} s")  # well under 10 s; not asserted (DESIGN 6)
    assert shapes[0] == ("features.conv1_1", 128 * 224 * 224, 3 * 3 * 3, 64)
    convs = [s for s in shapes if s[0].startswith("features.")]
    fcs = [s for s in shapes if s[0].startswith("classifier.")]
    assert (len(convs), len(fcs), len(shapes)) == (13, 3, 16)
    assert convs[-1] == ("features.conv5_3", 128 * 14 * 14, 512 * 9, 512)
    assert fcs == [("classifier.fc1", 128, 7 * 7 * 512, 4096), ("classifier.fc2", 128, 4096, 4096),
                   ("classifier.fc3", 128, 4096, 1000)]
    # nothing was allocated: the parameters are shapes
    assert all(isinstance(v, jax.ShapeDtypeStruct) for v in jax.tree.leaves(nnx.state(model, nnx.Param)))


# torchvision's published MACs per 224x224 image (its "GFLOPS" column) and layer counts
PUBLISHED = {"alexnet": (0.71, 8), "vgg11": (7.61, 11), "vgg16": (15.47, 16), "resnet18": (1.81, 21),
             "resnet50": (4.09, 54)}


@pytest.mark.parametrize("name", list(CNN_MODELS))
def test_full_size_macs_match_published(name):
    model = abstract_cnn(name, hw=HW)
    shapes = gemm_shapes(model, 1)
    gmacs, count = PUBLISHED[name]
    assert len(shapes) == count == model.num_layers
    assert round(sum(m * k * n for _, m, k, n in shapes) / 1e9, 2) == gmacs
    names = [s[0] for s in shapes]
    assert len(set(names)) == len(names)


def test_resnet_depths_knob():
    shapes = gemm_shapes(abstract_cnn("resnet18", hw=HW, depths=(3, 4, 6, 3)), 1)  # ResNet-34
    assert len(shapes) == 37 and round(sum(m * k * n for _, m, k, n in shapes) / 1e9, 2) == 3.66
    assert len(gemm_shapes(abstract_cnn("resnet50", hw=HW, depths=(1, 1, 1, 1)), 1)) == 18
    with pytest.raises(ValueError, match="depths"):
        abstract_cnn("resnet18", hw=HW, depths=(2, 2, 2))


def test_resnet50_structure():
    shapes = gemm_shapes(abstract_cnn("resnet50", hw=HW), 4)
    d = {s[0]: s[1:] for s in shapes}
    assert d["conv1"] == (4 * 112 * 112, 3 * 7 * 7, 64)
    assert d["layer1.0.downsample"] == (4 * 56 * 56, 64, 256)  # 1x1 projection, after the stem pool
    assert d["layer2.0.conv2"] == (4 * 28 * 28, 128 * 9, 128)  # stride on the 3x3 (v1.5)
    assert d["layer4.2.conv3"] == (4 * 7 * 7, 512, 2048)
    assert d["fc"] == (4, 2048, 1000)
    assert sum(1 for n in d if n.endswith("downsample")) == 4


# the default run: every model at 32 x 32; -m slow: at 8 and 64 too
@pytest.mark.parametrize("name,size", quick_subset([(n, s) for n in CNN_MODELS for s in (8, 32, 64)],
                                                   {(n, 32) for n in CNN_MODELS}))
def test_small_inputs_trace(name, size):
    model = abstract_cnn(name, hw=HW, num_classes=10, in_channels=1, input_size=size, width=1 / 8)
    shapes = gemm_shapes(model, 2)
    assert len(shapes) == model.num_layers
    assert shapes[-1][1:] == (2, shapes[-1][2], 10)
    if size < 64:
        assert shapes[0][2] == 9  # 3x3 stem on one channel


def test_small_input_feature_sizes():
    w = 1 / 8
    # AlexNet < 64: three 2x2 pools
    s = gemm_shapes(abstract_cnn("alexnet", hw=HW, num_classes=10, in_channels=1, input_size=32, width=w), 1)
    assert dict((n, (m, k, c)) for n, m, k, c in s)["classifier.fc1"] == (1, 4 * 4 * 32, 512)
    # VGG16 at 16: the fifth pool is skipped (map already 1x1), classifier 512 * width
    s = gemm_shapes(abstract_cnn("vgg16", hw=HW, num_classes=10, in_channels=1, input_size=16, width=w), 1)
    d = dict((n, (m, k, c)) for n, m, k, c in s)
    assert d["features.conv5_3"] == (1, 64 * 9, 64)
    assert d["classifier.fc1"] == (1, 64, 64)
    # ResNet < 64: 3x3/1 stem, no pool
    s = gemm_shapes(abstract_cnn("resnet18", hw=HW, num_classes=10, in_channels=3, input_size=32, width=w), 1)
    assert s[0] == ("conv1", 32 * 32, 27, 8)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown CNN"):
        make_cnn("lenet", hw=HW, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="input_size >= 8"):
        abstract_cnn("alexnet", hw=HW, input_size=4)
    with pytest.raises(ValueError, match="width"):
        abstract_cnn("vgg11", hw=HW, width=0)


# --------------------------------------------------------------------------------------------
# datasets


def test_digits_shapes_and_range():
    ds = load_digits_dataset(input_size=16)
    assert ds.x_train.shape == (1347, 16, 16, 1) and ds.x_test.shape == (450, 16, 16, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert ds.num_classes == 10 and ds.input_size == 16 and ds.channels == 1
    for x in (ds.x_train, ds.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    ds3 = load_digits_dataset(input_size=32, channels=3, resize="nearest")
    assert ds3.x_train.shape == (1347, 32, 32, 3)
    np.testing.assert_array_equal(ds3.x_train[..., 0], ds3.x_train[..., 2])
    # nearest 8 -> 32 repeats each pixel 4 x 4; 8 keeps the originals / 16
    ds8 = load_digits_dataset(input_size=8)
    np.testing.assert_array_equal(ds3.x_train[:, ::4, ::4, 0], ds8.x_train[..., 0])
    from sklearn.datasets import load_digits
    vals = np.unique(ds8.x_train)
    assert set(vals.tolist()) <= {v / 16 for v in range(17)}
    assert len(load_digits().target) == len(ds8.y_train) + len(ds8.y_test)


def test_digits_deterministic_and_stratified():
    a, b = load_digits_dataset(seed=3), load_digits_dataset(seed=3)
    for f in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    c = load_digits_dataset(seed=4)
    assert not np.array_equal(a.y_test, c.y_test)
    tot = np.bincount(np.concatenate([a.y_train, a.y_test]), minlength=10)
    test = np.bincount(a.y_test, minlength=10)
    assert np.all(np.abs(test - 0.25 * tot) <= 1)  # every class held out in proportion
    ds = load_digits_dataset(test_fraction=0.5)
    assert abs(len(ds.y_test) - len(ds.y_train)) <= 1
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_dataset(test_fraction=1.0)


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_loader(tmp_path):
    rng = np.random.default_rng(0)
    p = _write_npz(tmp_path / "tiny.npz", x_train=rng.integers(0, 256, (6, 4, 4, 3), dtype=np.uint8),
                   y_train=np.array([0, 1, 2, 0, 1, 2]), x_test=rng.integers(0, 256, (2, 4, 4, 3), dtype=np.uint8),
                   y_test=np.array([[1], [2]]))
    ds = load_npz_dataset(p)
    assert ds.x_train.shape == (6, 4, 4, 3) and ds.x_train.dtype == np.float32
    assert ds.x_train.max() <= 1.0 and ds.num_classes == 3 and ds.name == "tiny"
    np.testing.assert_array_equal(ds.y_test, [1, 2])
    # grey (N, H, W) and NCHW inputs become NHWC
    p2 = _write_npz(tmp_path / "grey.npz", x_train=np.ones((3, 5, 5), np.float32), y_train=np.zeros(3, int),
                    x_test=np.ones((1, 5, 5), np.float32), y_test=np.zeros(1, int))
    assert load_npz_dataset(p2).x_train.shape == (3, 5, 5, 1)
    p3 = _write_npz(tmp_path / "nchw.npz", x_train=np.ones((3, 2, 5, 5), np.float32), y_train=np.zeros(3, int),
                    x_test=np.ones((1, 2, 5, 5), np.float32), y_test=np.zeros(1, int))
    assert load_npz_dataset(p3, channels_first=True).x_test.shape == (1, 5, 5, 2)


def test_npz_loader_errors(tmp_path):
    x, y = np.zeros((3, 4, 4, 1), np.float32), np.zeros(3, int)
    p = _write_npz(tmp_path / "a.npz", x_train=x, y_train=y, x_test=x)
    with pytest.raises(ValueError, match="'y_test'"):
        load_npz_dataset(p)
    p = _write_npz(tmp_path / "b.npz", x_train=x, y_train=y[:2], x_test=x, y_test=y)
    with pytest.raises(ValueError, match="y_train has 2"):
        load_npz_dataset(p)
    p = _write_npz(tmp_path / "c.npz", x_train=x, y_train=y, x_test=np.zeros((3, 5, 5, 1)), y_test=y)
    with pytest.raises(ValueError, match="differ in shape"):
        load_npz_dataset(p)
    p = _write_npz(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    with pytest.raises(ValueError, match="num_classes"):
        load_npz_dataset(p, num_classes=0)
    with pytest.raises(FileNotFoundError):
        load_npz_dataset(tmp_path / "missing.npz")


def test_batches_deterministic_and_resumable():
    x = np.arange(23, dtype=np.float32)[:, None]
    y = np.arange(23)
    run = list(batches(x, y, 5, seed=1, epoch=2))
    assert len(run) == num_batches(23, 5) == 4 and all(len(b[0]) == 5 for b in run)
    again = list(batches(x, y, 5, seed=1, epoch=2))
    for (xa, ya), (xb, yb) in zip(run, again):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in run]), epoch_permutation(23, seed=1, epoch=2)[:20])
    for xa, ya in run:
        np.testing.assert_array_equal(xa[:, 0], ya)  # x and y stay paired
    resumed = list(batches(x, y, 5, seed=1, epoch=2, start_batch=2))
    for (_, ya), (_, yb) in zip(run[2:], resumed):
        np.testing.assert_array_equal(ya, yb)
    assert len(resumed) == 2
    other = np.concatenate([b[1] for b in batches(x, y, 5, seed=1, epoch=3)])
    assert not np.array_equal(other, np.concatenate([b[1] for b in run]))
    full = list(batches(x, y, 5, seed=1, epoch=2, drop_remainder=False, shuffle=False))
    assert [len(b[1]) for b in full] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in full]), y)


def test_unpopped_cost_records_sum_over_calls_and_do_not_recompile():
    # the layers' "cost" records are summed over calls until popped: a jitted loop that never
    # pops them traces twice (the first call adds the records), and after three calls every
    # record holds three times one call's counts
    from pimjax.apps.cost import collect_costs

    hw = training_hardware("native")
    m = make_cnn("cnn_d2_k3_c8", hw=hw, num_classes=10, in_channels=1, input_size=8, rngs=nnx.Rngs(0))
    traces = []

    @nnx.jit
    def fwd(m, x):
        traces.append(1)
        return m(x, seed=jnp.uint32(0), train=False)

    x = jnp.ones((2, 8, 8, 1))
    fwd(m, x)
    one = collect_costs(nnx.pop(m, nnx.Intermediate), nnx.State({}))
    for _ in range(3):
        fwd(m, x)
    three = collect_costs(nnx.pop(m, nnx.Intermediate), nnx.State({}))
    assert len(traces) == 2  # the state without records (calls 1, 2), the state holding them (3, 4)
    assert set(one) == set(three) and len(one) == 3
    for layer, phases in one.items():
        for ph, rec in phases.items():
            assert float(three[layer][ph].macs) == 3 * float(rec.macs) > 0
