"""A stock Flax NNX CNN (no pimjax inside) trained on digits in float32 and emulated with ``pimjax.emulate``.

The model is written as any Flax user would (``nnx.Conv``, ``nnx.Linear``, ``nnx.max_pool``);
pimjax only wraps it (``pimjax.emulate(model, hw, rules=...)``) and trains it with a plain
optax loop (docs/training_your_model.md explains every line). Settings (``--settings``):

* ``float32``: the stock model, not emulated (the reference);
* ``neurotrainer``: every convolution and matmul on ``training_hardware("neurotrainer")``
  (NeuroTrainer Table 4: FF 16-bit fixed point, BP/UP 32-bit fixed point with stochastic
  rounding), weights resident as Q8.16 updated in memory with SR, as ``pimjax train --hw
  neurotrainer`` does;
* ``float_ends``: the same, but the first conv and the last dense layer left in float
  (``EmulationRule(module_path="conv1|fc2", hw=None)`` first).

Same seed, data order and optimizer for every setting. Prints one line per epoch, each
setting's cost table of one step, and last one JSON object with the final test accuracies.

    python scripts/train_your_model.py                        # 3 settings x 10 epochs
    python scripts/train_your_model.py --epochs 1 --max-steps 3   # smoke test
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx


class CNN(nnx.Module):
    """A user's CNN for 16 x 16 grey images: two 3 x 3 convs with 2 x 2 max-pools, two dense layers."""

    def __init__(self, *, channels: int = 16, hidden: int = 64, classes: int = 10, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(1, channels, (3, 3), padding="SAME", rngs=rngs)
        self.conv2 = nnx.Conv(channels, 2 * channels, (3, 3), padding="SAME", rngs=rngs)
        self.fc1 = nnx.Linear(2 * channels * 4 * 4, hidden, rngs=rngs)
        self.fc2 = nnx.Linear(hidden, classes, rngs=rngs)

    def __call__(self, x):
        x = nnx.max_pool(nnx.relu(self.conv1(x)), (2, 2), (2, 2))
        x = nnx.max_pool(nnx.relu(self.conv2(x)), (2, 2), (2, 2))
        return self.fc2(nnx.relu(self.fc1(x.reshape(x.shape[0], -1))))


SETTINGS = ("float32", "neurotrainer", "float_ends")


def build(setting: str, model: nnx.Module, sample: jax.Array):
    """``(model, hw)``: the stock model emulated for ``setting`` (``hw`` None for float32)."""
    import pimjax
    from pimjax.nn import EmulationRule, training_hardware

    if setting == "float32":
        return model, None
    hw = training_hardware("neurotrainer")
    rules = [EmulationRule(hw="default")] if setting == "neurotrainer" else \
        [EmulationRule(module_path="conv1|fc2", hw=None), EmulationRule(hw="default")]
    return pimjax.emulate(model, hw, rules=rules, inputs=(sample,)), hw


def make_steps():
    """The jitted train step (loss and the step's cost table) and eval step."""
    from pimjax.apps.cost import collect_costs
    from pimjax.nn import CostProbe

    diff = nnx.DiffState(0, nnx.Any(nnx.Param, CostProbe))  # CostProbe gradients carry the BP/UP events

    @nnx.jit
    def train_step(model, optimizer, x, y):
        def loss_fn(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn, argnums=diff)(model)
        optimizer.update(model, nnx.state(grads, nnx.Param))
        costs = collect_costs(nnx.pop(model, nnx.Intermediate), nnx.state(grads, CostProbe))
        return loss, costs

    @nnx.jit
    def correct(model, x, y):
        n = jnp.sum(jnp.argmax(model(x), -1) == y)
        nnx.pop(model, nnx.Intermediate)
        return n

    return train_step, correct


def train(setting: str, *, epochs: int, batch: int, lr: float, seed: int, max_steps: int | None = None,
          log=print) -> dict:
    from pimjax.apps.cost import format_cost_table
    from pimjax.apps.data import batches, load_digits_dataset
    from pimjax.apps.train import load_resident
    from pimjax.nn import resident_update

    ds = load_digits_dataset(input_size=16, seed=seed)
    model, hw = build(setting, CNN(rngs=nnx.Rngs(seed)), jnp.asarray(ds.x_train[:batch]))
    tx = optax.adam(optax.cosine_decay_schedule(lr, epochs * (len(ds.x_train) // batch)))
    if hw is not None and hw.weights is not None:  # weights resident in the emulated memory (Q8.16, SR updates)
        load_resident(model, hw)
        tx = optax.chain(tx, resident_update(hw.weights, seed=seed))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    train_step, correct = make_steps()
    t0, step, costs, history = time.perf_counter(), 0, None, []
    for epoch in range(epochs):
        for x, y in batches(ds.x_train, ds.y_train, batch, seed=seed, epoch=epoch):
            loss, costs = train_step(model, optimizer, jnp.asarray(x), jnp.asarray(y))
            step += 1
            if max_steps is not None and step >= max_steps:
                break
        acc = sum(int(correct(model, jnp.asarray(x), jnp.asarray(y))) for x, y in
                  batches(ds.x_test, ds.y_test, batch, seed=0, epoch=0, shuffle=False, drop_remainder=False))
        acc /= len(ds.y_test)
        history.append({"epoch": epoch + 1, "loss": float(loss), "test_accuracy": acc,
                        "seconds": time.perf_counter() - t0})
        log(f"{setting} epoch {epoch + 1}: loss {float(loss):.4f}, test accuracy {acc:.4f}, "
            f"{time.perf_counter() - t0:.0f} s")
        if max_steps is not None and step >= max_steps:
            break
    table = format_cost_table(jax.device_get(costs), title=f"{setting}: cost of one training step (batch {batch})")
    return {"setting": setting, "history": history, "test_accuracy": history[-1]["test_accuracy"],
            "cost_table": table, "costs": costs}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=None)
    a = p.parse_args(argv)
    results = [train(s, epochs=a.epochs, batch=a.batch_size, lr=a.lr, seed=a.seed, max_steps=a.max_steps,
                     log=lambda m: print(m, flush=True)) for s in a.settings]
    for r in results:
        print()
        print(r["cost_table"])
    print(json.dumps({r["setting"]: round(r["test_accuracy"], 4) for r in results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
