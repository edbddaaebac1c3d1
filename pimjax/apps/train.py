"""Training on emulated slices: one loop for every model (flax-examples style).

``train(TrainConfig(...))`` builds the task (data + model), the per-phase hardware
(:func:`pimjax.nn.training_hardware`) on ``slices`` slices sharded over ``devices`` devices,
an optax optimizer, and runs epochs with a progress bar. Every step records per-layer,
per-phase costs (FF/BP/UP) in the same jitted computation. It writes per-epoch metrics to
``metrics.csv``/``metrics.json``, the cost table to ``costs.csv``, and orbax checkpoints; a
resumed run gives the same bits as an uninterrupted one (data order and stochastic-rounding
seeds are functions of (seed, step)).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from pimjax.apps.costs import CostLayout, add_costs, collect_costs, cost_rows, format_cost_table
from pimjax.apps.tasks import Task, make_task
from pimjax.nn import PRECISIONS, WEIGHTS, resident_update, to_resident, training_hardware
from pimjax.nn._layers import CostProbe
from pimjax.numerics import FixedFormat, fold_key
from pimjax.system import default_mesh

OPTIMIZERS = ("adam", "sgd", "momentum")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """A training run (every field validated; see ``pimjax train --help``)."""

    model: str = "alexnet"
    dataset: str = "digits"
    precision: str = "neurotrainer"
    weights: str = "auto"
    weight_bits: int = 24
    weight_frac: int = 16
    slices: int = 1
    devices: int = 1
    rows: int = 256
    width: int = 8
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 2e-3
    optimizer: str = "adam"
    seed: int = 0
    input_size: int = 16
    model_width: float = 0.25
    out_dir: str | None = None
    checkpoint_every: int = 0
    resume: bool = False
    max_steps: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"TrainConfig.precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.weights not in WEIGHTS:
            raise ValueError(f"TrainConfig.weights must be one of {WEIGHTS}, got {self.weights!r}")
        if isinstance(self.weight_bits, bool) or not isinstance(self.weight_bits, int) or not 2 <= self.weight_bits <= 24:
            raise ValueError(f"TrainConfig.weight_bits must be an integer in [2, 24], got {self.weight_bits!r}")
        if isinstance(self.weight_frac, bool) or not isinstance(self.weight_frac, int) or not 0 <= self.weight_frac <= 30:
            raise ValueError(f"TrainConfig.weight_frac must be an integer in [0, 30], got {self.weight_frac!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        for f, lo in (("slices", 1), ("devices", 1), ("rows", 1), ("width", 1), ("epochs", 1),
                      ("batch_size", 1), ("input_size", 4), ("checkpoint_every", 0)):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"TrainConfig.{f} must be an integer >= {lo}, got {v!r}")
        if self.slices % self.devices:
            raise ValueError(f"TrainConfig.slices ({self.slices}) must be a multiple of TrainConfig.devices ({self.devices})")
        if self.devices > len(jax.devices()):
            raise ValueError(f"TrainConfig.devices must be at most the {len(jax.devices())} available devices, got {self.devices}")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < 10):
            raise ValueError(f"TrainConfig.learning_rate must be in (0, 10), got {self.learning_rate!r}")
        if not (isinstance(self.model_width, (int, float)) and 0 < self.model_width <= 4):
            raise ValueError(f"TrainConfig.model_width must be in (0, 4], got {self.model_width!r}")
        if self.max_steps is not None and (not isinstance(self.max_steps, int) or self.max_steps < 0):
            raise ValueError(f"TrainConfig.max_steps must be a non-negative integer or None, got {self.max_steps!r}")


def _tx(cfg: TrainConfig, total_steps: int = 0, hw=None) -> optax.GradientTransformation:
    """The optimizer, with a cosine decay of the learning rate over the run; with resident
    weights, followed by their in-memory update (:func:`pimjax.nn.resident_update`)."""
    lr = optax.cosine_decay_schedule(cfg.learning_rate, max(total_steps, 1)) if total_steps else cfg.learning_rate
    if cfg.optimizer == "adam":
        tx = optax.adam(lr)
    elif cfg.optimizer == "momentum":
        tx = optax.sgd(lr, momentum=0.9)
    else:
        tx = optax.sgd(lr)
    if hw is not None and hw.weights is not None:
        tx = optax.chain(tx, resident_update(hw.weights, seed=cfg.seed))
    return tx


def load_resident(model, hw) -> dict[str, int]:
    """Rounds the model's parameters onto the resident weight grid in place; returns the events."""
    if hw.weights is None:
        return {}
    state = nnx.state(model, nnx.Param)
    pure = nnx.to_pure_dict(state)
    q, ev = to_resident(pure, hw.weights)
    nnx.replace_by_pure_dict(state, q)
    nnx.update(model, state)
    return {f: int(v) for f, v in ev._asdict().items()}


def update_events(optimizer) -> dict[str, int]:
    """Numeric events of all resident-weight updates so far (empty with float weights)."""
    from pimjax.nn import ResidentState, total_events

    found = [x for x in jax.tree.leaves(nnx.as_pure(optimizer.opt_state),
                                        is_leaf=lambda x: isinstance(x, ResidentState))
             if isinstance(x, ResidentState)]
    if not found:
        return {}
    return total_events(found[0])


_DIFF = nnx.DiffState(0, nnx.Any(nnx.Param, CostProbe))


def make_steps(task: Task):
    """The jitted train and eval steps of a task.

    ``train_step(model, optimizer, batch, seed)`` returns ``(loss, aux, costs)``; ``costs`` is a
    :class:`~pimjax.apps.costs.PackedCosts`: the step's per-layer, per-phase cost records,
    computed inside the step and returned as one float64 array (hundreds of scalar outputs
    would cost more host time than the records themselves); ``costs.unpack()`` gives the
    ``layer -> phase -> CostRecord`` table.
    """
    layout = CostLayout()

    @nnx.jit
    def _train_step(model, optimizer, batch, seed):
        def loss_fn(model):
            loss, aux = task.loss(model, batch, seed=seed, train=True)
            return loss, aux

        (loss, aux), grads = nnx.value_and_grad(loss_fn, argnums=_DIFF, has_aux=True)(model)
        params_g = nnx.state(grads, nnx.Param)
        probe_g = nnx.state(grads, CostProbe)
        optimizer.update(model, params_g)
        inter = nnx.pop(model, nnx.Intermediate)
        return loss, aux, layout.pack(collect_costs(inter, probe_g))

    def train_step(model, optimizer, batch, seed):
        loss, aux, packed = _train_step(model, optimizer, batch, seed)
        return loss, aux, layout.wrap(packed)

    @nnx.jit
    def eval_step(model, batch, seed):
        metrics = task.evaluate(model, batch, seed=seed)
        nnx.pop(model, nnx.Intermediate)
        return metrics

    return train_step, eval_step


def _save(ckpt_dir: str, step: int, model, optimizer) -> None:
    import orbax.checkpoint as ocp

    path = os.path.abspath(os.path.join(ckpt_dir, f"step_{step:08d}"))
    state = {"model": nnx.to_pure_dict(nnx.state(model)), "opt": nnx.to_pure_dict(nnx.state(optimizer)),
             "step": np.asarray(step)}
    with ocp.StandardCheckpointer() as ck:
        ck.save(path, jax.device_get(state), force=True)


def _latest(ckpt_dir: str) -> str | None:
    if not os.path.isdir(ckpt_dir):
        return None
    steps = sorted(d for d in os.listdir(ckpt_dir) if d.startswith("step_"))
    return os.path.join(ckpt_dir, steps[-1]) if steps else None


def _restore(path: str, model, optimizer) -> int:
    import orbax.checkpoint as ocp

    target = {"model": nnx.to_pure_dict(nnx.state(model)), "opt": nnx.to_pure_dict(nnx.state(optimizer)),
              "step": np.asarray(0)}
    with ocp.StandardCheckpointer() as ck:
        state = ck.restore(os.path.abspath(path), jax.device_get(target))
    ms, os_ = nnx.state(model), nnx.state(optimizer)
    nnx.replace_by_pure_dict(ms, state["model"])
    nnx.replace_by_pure_dict(os_, state["opt"])
    nnx.update(model, ms)
    nnx.update(optimizer, os_)
    return int(state["step"])


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Runs ``cfg``; returns metrics per epoch, final test metrics and the cost table."""
    mesh = default_mesh(devices=cfg.devices) if cfg.devices > 1 else None
    hw = training_hardware(cfg.precision, num_slices=cfg.slices, mesh=mesh, rows=cfg.rows, width=cfg.width,
                           weights=cfg.weights, weight_format=FixedFormat(bits=cfg.weight_bits, frac=cfg.weight_frac))
    task = make_task(cfg, hw)
    model = task.make_model(nnx.Rngs(cfg.seed))
    load_resident(model, hw)
    steps_per_epoch = task.steps_per_epoch(cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    optimizer = nnx.Optimizer(model, _tx(cfg, total_steps, hw), wrt=nnx.Param)
    train_step, eval_step = make_steps(task)
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    ckpt_dir = os.path.join(cfg.out_dir, "checkpoints") if cfg.out_dir else None
    step = 0
    if cfg.resume and ckpt_dir and _latest(ckpt_dir):
        step = _restore(_latest(ckpt_dir), model, optimizer)
    history: list[dict[str, Any]] = []
    if cfg.out_dir and step and os.path.exists(os.path.join(cfg.out_dir, "metrics.json")):
        with open(os.path.join(cfg.out_dir, "metrics.json")) as f:
            history = json.load(f).get("epochs", [])
    bar = _progress(total_steps, step, cfg.progress, f"{cfg.model} [{cfg.precision}, {cfg.slices} slices]")
    step_costs = None
    epoch_loss: list[float] = []
    t0 = time.perf_counter()
    while step < total_steps:
        epoch, i = divmod(step, steps_per_epoch)
        batch = task.train_batch(cfg.batch_size, seed=cfg.seed, epoch=epoch, index=i)
        seed = fold_key(jnp.uint32(cfg.seed), step)
        loss, _, costs = train_step(model, optimizer, batch, seed)
        step_costs = costs
        epoch_loss.append(float(loss))
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{float(loss):.4f}")
        if ckpt_dir and cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            _save(ckpt_dir, step, model, optimizer)
        if step % steps_per_epoch == 0 or step == total_steps:
            test = evaluate(task, model, eval_step, cfg)
            rec = {"epoch": epoch + 1, "step": step, "train_loss": float(np.mean(epoch_loss)),
                   **{f"test_{k}": v for k, v in test.items()}, "seconds": time.perf_counter() - t0}
            history.append(rec)
            epoch_loss = []
            bar.write(f"epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                                          for k, v in rec.items() if k != "epoch"))
            if ckpt_dir:
                _save(ckpt_dir, step, model, optimizer)
            if cfg.out_dir:
                _write_metrics(cfg, history)
    bar.close()
    if step_costs is None:  # nothing left to run (resumed at the end): cost of one step
        batch = task.train_batch(cfg.batch_size, seed=cfg.seed, epoch=0, index=0)
        _, _, step_costs = train_step(nnx.clone(model), nnx.clone(optimizer), batch, jnp.uint32(0))
    step_costs = step_costs.unpack()
    final = evaluate(task, model, eval_step, cfg)
    table = format_cost_table(step_costs, title=f"cost of one training step (batch {cfg.batch_size}), "
                                                 f"{cfg.slices} slices, precision {cfg.precision}")
    if cfg.out_dir:
        _write_costs(cfg, step_costs)
    return {"config": dataclasses.asdict(cfg), "epochs": history, "final": final, "step_costs": step_costs,
            "cost_table": table, "steps": step, "model": model, "update_events": update_events(optimizer)}


def evaluate(task: Task, model, eval_step, cfg: TrainConfig) -> dict[str, float]:
    """Test-set metrics (emulated forward pass, eval mode)."""
    sums: dict[str, float] = {}
    count = 0
    for j, batch in enumerate(task.test_batches(cfg.batch_size)):
        m = eval_step(model, batch, fold_key(jnp.uint32(cfg.seed + 1), j))
        n = int(m.pop("count"))
        for k, v in m.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        count += n
    return {k: v / max(count, 1) for k, v in sums.items()}


def _progress(total: int, initial: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, dynamic_ncols=True)


def _write_metrics(cfg: TrainConfig, history: list[dict[str, Any]]) -> None:
    os.makedirs(cfg.out_dir, exist_ok=True)
    with open(os.path.join(cfg.out_dir, "metrics.json"), "w") as f:
        json.dump({"config": dataclasses.asdict(cfg), "epochs": history}, f, indent=1)
    keys = sorted({k for r in history for k in r})
    with open(os.path.join(cfg.out_dir, "metrics.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(history)


def _write_costs(cfg: TrainConfig, costs) -> None:
    rows = cost_rows(costs)
    os.makedirs(cfg.out_dir, exist_ok=True)
    with open(os.path.join(cfg.out_dir, "costs.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
