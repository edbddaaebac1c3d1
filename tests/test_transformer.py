"""The stock-Flax TinyTransformer and its synthetic sequence task: determinism of the data, the
emulated model with no matching rule is the float model bit for bit, and ``pimjax train --model
transformer`` trains it emulated with a cost table under module paths."""

import dataclasses
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import pimjax
from pimjax.apps.data import SEP, answer, make_sequence_dataset, sequence_batch, split_sequences
from pimjax.apps.train import SequenceTask, TrainConfig, make_task
from pimjax.cli import main
from pimjax.nn import EmulationRule, TinyTransformer


def test_sequence_dataset_is_a_function_of_its_arguments():
    a = make_sequence_dataset(length=5, n_train=300, n_test=50, seed=3)
    b = make_sequence_dataset(length=5, n_train=300, n_test=50, seed=3)
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.test, b.test)
    assert not np.array_equal(a.train, make_sequence_dataset(length=5, n_train=300, n_test=50, seed=4).train)
    # layout: digits, SEP, the sorted digits; train and test disjoint, no duplicates
    assert a.train.shape == (300, 11) and a.train.dtype == np.int32
    assert (a.train[:, 5] == SEP).all() and (a.train[:, 6:] == np.sort(a.train[:, :5], axis=1)).all()
    rows = {r.tobytes() for r in a.train}
    assert len(rows) == 300 and not rows & {r.tobytes() for r in a.test}
    rev = make_sequence_dataset(kind="reverse", length=5, n_train=300, n_test=50, seed=3)
    assert (rev.train[:, 6:] == answer(rev.train[:, :5], "reverse")).all()
    with pytest.raises(ValueError, match="kind must be one of"):
        make_sequence_dataset(kind="copy")
    with pytest.raises(ValueError, match="at most half"):
        make_sequence_dataset(length=2, n_train=40, n_test=20)


def test_batch_is_a_pure_function_of_seed_epoch_index():
    data = make_sequence_dataset(length=4, n_train=200, n_test=20, seed=0)
    x1 = sequence_batch(data, 16, seed=7, epoch=2, index=3)
    x2 = sequence_batch(data, 16, seed=7, epoch=2, index=3)
    for u, v in zip(x1, x2):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(x1[0], sequence_batch(data, 16, seed=7, epoch=3, index=3)[0])
    assert not np.array_equal(x1[0], sequence_batch(data, 16, seed=8, epoch=2, index=3)[0])
    inputs, targets, mask = x1
    assert inputs.shape == targets.shape == mask.shape == (16, 8)
    np.testing.assert_array_equal(inputs[:, 1:], targets[:, :-1])
    assert (mask[:, :4] == 0).all() and (mask[:, 4:] == 1).all()
    # the epoch's batches cover distinct training rows
    seen = np.concatenate([sequence_batch(data, 50, seed=7, epoch=0, index=i)[0] for i in range(4)])
    assert len({r.tobytes() for r in seen}) == 200
    # the task's batches are the dataset's
    task = make_task(TrainConfig(model="transformer", precision="native", batch_size=16, seed=5), None)
    assert isinstance(task, SequenceTask)
    t1, t2 = task.train_batch(16, seed=5, epoch=1, index=2), task.train_batch(16, seed=5, epoch=1, index=2)
    ref = sequence_batch(task.data, 16, seed=5, epoch=1, index=2)
    for u, v, r in zip(t1, t2, ref):
        np.testing.assert_array_equal(u, v)
        np.testing.assert_array_equal(u, r)
    batches = list(task.test_batches(64))  # 500 test sequences: 8 batches, the last padded
    assert len(batches) == 8 and sum(float(b[3].sum()) for b in batches) == 500
    with pytest.raises(ValueError, match="TrainConfig.dataset"):
        make_task(dataclasses.replace(task.cfg, dataset="translation"), None)


def test_sequence_metrics_count_answer_tokens_and_whole_sequences():
    task = make_task(TrainConfig(model="transformer", precision="native", batch_size=64), None)
    *_, last = task.test_batches(64)  # 500 = 7 x 64 + 52: the last batch has 12 padded rows
    inputs, targets, mask, valid = last
    wrong = targets.at[0, -1].set((targets[0, -1] + 1) % 11)  # one answer token wrong in row 0
    wrong = wrong.at[1, 0].set((targets[1, 0] + 1) % 11)  # a non-answer position: not counted
    m = task.evaluate(lambda x: jax.nn.one_hot(wrong, 11), last, seed=None)
    assert float(m["count"]) == 52
    assert float(m["token_accuracy"]) == 52 - 1 / 8 and float(m["sequence_accuracy"]) == 51
    loss, acc = task.loss(lambda x: 50.0 * jax.nn.one_hot(targets, 11), last, seed=None, train=True)
    assert float(acc) == 1.0 and float(loss) < 1e-6


def _tiny(seed=0):
    return TinyTransformer(vocab=11, d_model=8, heads=2, layers=1, max_len=6, rngs=nnx.Rngs(seed))


@pytest.mark.slow  # test_intercept checks no-matching-rule = native float on its own layers
def test_emulated_with_no_matching_rule_is_native_float_exactly():
    """Every contraction unmatched: the emulated model's logits and gradients are the stock model's bits."""
    tokens = jnp.asarray(np.random.default_rng(0).integers(0, 11, (3, 6)), jnp.int32)
    targets = jnp.roll(tokens, -1, axis=1)
    model = _tiny()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "matched no rule" / "rule matched nothing": intended here
        emu = pimjax.emulate(model, rules=[EmulationRule(module_path="no/such/module", hw="fixed16")],
                             inputs=(tokens,))
    report = pimjax.emulation_report(emu)
    assert not report.emulated and len(report.unmatched) == 9  # q, k, v, scores, context, out, mlp x2, head

    def loss(m):
        return optax.softmax_cross_entropy_with_integer_labels(m(tokens), targets).mean()

    @nnx.jit
    def step(m):
        return m(tokens), nnx.grad(loss)(m)

    y0, g0 = step(model)
    y1, g1 = step(emu)
    np.testing.assert_array_equal(np.asarray(y0), np.asarray(y1))
    for a, b in zip(jax.tree.leaves(nnx.state(g0, nnx.Param)), jax.tree.leaves(nnx.state(g1, nnx.Param))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.slow  # ~35 s of CPU on a cold compile cache (the emulated step of 9 call sites x 3 phases)
def test_cli_trains_the_transformer_emulated_with_costs_by_module_path(capsys, monkeypatch):
    monkeypatch.setattr(SequenceTask, "LAYERS", 1)  # one block: a tiny model compiles fast
    assert main(["train", "--model", "transformer", "--hw", "fixed16", "--max-steps", "2", "--model-width", "0.0625",
                 "--batch-size", "100", "--rows", "8", "--width", "4", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert re.search(r"^\s*1\*\s+2\s", err, re.M) and "* partial epoch (--max-steps stopped it)" in err  # epoch 1, step 2
    layers = {line.split()[0] for line in out.splitlines() if line.split()[1:2] in (["ff"], ["bp"], ["up"])}
    expect = {f"blocks/0/{m}/pim_dot0" for m in ("attn/query", "attn/key", "attn/value", "attn/out", "mlp_in",
                                                 "mlp_out")}
    expect |= {"blocks/0/attn/pim_dot0", "blocks/0/attn/pim_dot1", "head/pim_dot0", "TOTAL"}
    assert layers == expect
    ff = {line.split()[0]: float(line.split()[2]) for line in out.splitlines() if line.split()[1:2] == ["ff"]}
    # d_model 8, 16 tokens, batch 100: the Q projection is (1600 x 8) @ (8 x 8), the head (1600 x 8) @ (8 x 11)
    assert ff["blocks/0/attn/query/pim_dot0"] == round(1600 * 8 * 8 / 1e9, 4)
    assert "emulated matmul events over the run's epochs (2 steps)" in out
    assert "final test sequence_accuracy" in out and "token_accuracy" in out


@pytest.mark.slow  # three short emulated runs (~2 min of CPU)
def test_resume_after_a_max_steps_stop_gives_the_uninterrupted_bits(tmp_path, monkeypatch):
    """SR words come from the call sites' counters: evaluating (at the max_steps stop) must not move them."""
    from pimjax.apps.train import train

    monkeypatch.setattr(SequenceTask, "LAYERS", 1)
    base = dict(model="transformer", precision="neurotrainer", model_width=0.0625, batch_size=100, rows=8, width=4,
                progress=False, epochs=1)
    whole = train(TrainConfig(**base, max_steps=3))
    train(TrainConfig(**base, max_steps=2, out_dir=str(tmp_path)))
    resumed = train(TrainConfig(**base, max_steps=3, out_dir=str(tmp_path), resume=True))
    assert whole["steps"] == resumed["steps"] == 3
    for a, b in zip(jax.tree.leaves(nnx.state(whole["model"])), jax.tree.leaves(nnx.state(resumed["model"]))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert whole["final"] == resumed["final"]
