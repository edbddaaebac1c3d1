"""Training on emulated slices: one loop for every model (flax-examples style).

``train(TrainConfig(...))`` builds the task (data + model), the per-phase hardware
(:func:`pimjax.nn.training_hardware`) on ``slices`` slices sharded over ``devices`` devices,
an optax optimizer, and runs epochs with a progress bar. Every step records per-layer,
per-phase costs (FF/BP/UP) in the same jitted computation. It writes per-epoch metrics to
``metrics.csv``/``metrics.json``, the cost table to ``costs.csv``, and orbax checkpoints; a
resumed run gives the same bits and the same epoch metrics as an uninterrupted one (data order
and stochastic-rounding seeds are functions of (seed, step); the epoch's running loss, event
counts and elapsed time are saved next to each checkpoint, in ``step_NNNNNNNN.json``, with the
run's :func:`run_config`, which a resume must match).

An epoch's metrics: ``train_loss`` (mean over its steps), the test metrics, ``overflow``,
``nan``, ``inf``, ``random_bits`` (the numeric events of every emulated matmul, FF/BP/UP, summed
over its steps, as exact Python ints), with resident weights ``update_overflow``/``update_nan``/
``update_inf``/``update_random_bits`` (those of its in-memory weight updates), ``seconds`` since
the run's start, and ``partial`` (True when ``max_steps`` stopped it before its end; a resumed
run replaces that row when it finishes the epoch).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import shutil
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from pimjax.apps.cost._collect import CostLayout, collect_costs, cost_rows, format_cost_table
from pimjax.apps.train._tasks import Task, make_task
from pimjax.hw import MAX_UNITS
from pimjax.nn import PRECISIONS, WEIGHTS, resident_update, to_resident, training_hardware
from pimjax.nn._layers import CostProbe
from pimjax.numerics import FixedFormat, fold_key
from pimjax.system import default_mesh

OPTIMIZERS = ("adam", "sgd", "momentum")
EVENTS = ("overflow", "nan", "inf", "random_bits")
RUNTIME_FIELDS = ("devices", "out_dir", "checkpoint_every", "resume", "overwrite", "max_steps", "progress")
"""TrainConfig fields a resumed run may change: where, how long and how visibly it runs, and
over how many devices (1 and N devices give the same bits). Every other field (the model, data,
hardware, optimizer, seed, and ``epochs``, which sets the learning-rate schedule) makes the run
and must match its checkpoint's (:func:`run_config`)."""


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
    modules: int = 1
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
    overwrite: bool = False
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
        for f, lo in (("slices", 1), ("modules", 1), ("devices", 1), ("rows", 1), ("width", 1), ("epochs", 1),
                      ("batch_size", 1), ("input_size", 4), ("checkpoint_every", 0), ("seed", 0)):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"TrainConfig.{f} must be an integer >= {lo}, got {v!r}")
        if self.modules > MAX_UNITS:
            raise ValueError(f"TrainConfig.modules must be in 1..{MAX_UNITS}, got {self.modules}")
        if self.batch_size % self.modules:
            raise ValueError(f"TrainConfig.batch_size ({self.batch_size}) must be divisible by TrainConfig.modules "
                             f"({self.modules}): each module trains on a contiguous 1/modules of every batch, "
                             f"the evaluation batches (of batch_size) too")
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
        if self.seed >= 2**32:
            raise ValueError(f"TrainConfig.seed must be an integer in [0, 2**32 - 1], got {self.seed!r}")
        if self.out_dir is not None and not isinstance(self.out_dir, (str, os.PathLike)):
            raise TypeError(f"TrainConfig.out_dir must be a path or None, got {self.out_dir!r}")
        for f in ("resume", "overwrite", "progress"):
            if not isinstance(getattr(self, f), bool):
                raise TypeError(f"TrainConfig.{f} must be a bool, got {getattr(self, f)!r}")
        if self.resume and self.overwrite:
            raise ValueError("TrainConfig.resume and TrainConfig.overwrite exclude each other (continue the run "
                             "in out_dir, or replace it)")
        if not self.out_dir and (self.resume or self.overwrite or self.checkpoint_every):
            field = "resume" if self.resume else "overwrite" if self.overwrite else "checkpoint_every"
            raise ValueError(f"TrainConfig.{field} needs TrainConfig.out_dir (the directory of the checkpoints), "
                             f"got out_dir={self.out_dir!r}")


def hardware_label(cfg: TrainConfig) -> str:
    """``"N slices"``, or ``"M modules x N slices"`` with several modules (for titles)."""
    return f"{cfg.modules} modules x {cfg.slices} slices" if cfg.modules > 1 else f"{cfg.slices} slices"


def run_config(cfg: TrainConfig) -> dict[str, Any]:
    """The fields of ``cfg`` that make the run (all but :data:`RUNTIME_FIELDS`)."""
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name not in RUNTIME_FIELDS}


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
    :class:`~pimjax.apps.cost._collect.PackedCosts`: the step's per-layer, per-phase cost records,
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


_CKPT = re.compile(r"^step_\d{8}$")


def _ckpt_name(step: int) -> str:
    return f"step_{step:08d}"


@dataclasses.dataclass
class _EpochState:
    """What a resumed run needs to report its epoch as an uninterrupted one would (saved as JSON
    next to each checkpoint): the running loss of the epoch so far, its matmul events, the
    resident-update events at its start, and the seconds since the run's start."""

    loss_sum: float = 0.0
    loss_count: int = 0
    events: dict[str, int] = dataclasses.field(default_factory=lambda: dict.fromkeys(EVENTS, 0))
    update_base: dict[str, int] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0


def _ckpt_state(model, optimizer, step: int) -> dict[str, Any]:
    return jax.device_get({"model": nnx.to_pure_dict(nnx.state(model)),
                           "opt": nnx.to_pure_dict(nnx.state(optimizer)), "step": np.asarray(step)})


def _save(ckpt_dir: str, step: int, model, optimizer, cfg: TrainConfig, epoch: _EpochState) -> None:
    import orbax.checkpoint as ocp

    path = os.path.abspath(os.path.join(ckpt_dir, _ckpt_name(step)))
    with ocp.StandardCheckpointer() as ck:
        ck.save(path, _ckpt_state(model, optimizer, step), force=True)
    tmp = path + ".json.tmp"
    with open(tmp, "w") as f:
        json.dump({"config": run_config(cfg), "epoch_state": dataclasses.asdict(epoch)}, f, indent=1)
    os.replace(tmp, path + ".json")


def _checkpoints(ckpt_dir: str) -> list[str]:
    """The finished checkpoints in ``ckpt_dir`` (``step_NNNNNNNN``; never an orbax temporary
    directory), oldest first."""
    if not os.path.isdir(ckpt_dir):
        return []
    return sorted(d for d in os.listdir(ckpt_dir) if _CKPT.match(d) and os.path.isdir(os.path.join(ckpt_dir, d)))


def _latest(ckpt_dir: str) -> str | None:
    """The newest finished checkpoint, or None."""
    steps = _checkpoints(ckpt_dir)
    return os.path.join(ckpt_dir, steps[-1]) if steps else None


def _fresh_start(ckpt_dir: str, overwrite: bool) -> None:
    """A run from step 0 into ``ckpt_dir``: refuses to mix its checkpoints with an earlier run's
    (a later resume would continue whichever step is newest) unless ``overwrite``, which deletes
    them (and their ``.json``) first."""
    old = _checkpoints(ckpt_dir)
    if old and not overwrite:
        raise ValueError(f"TrainConfig.out_dir holds checkpoints of an earlier run ({ckpt_dir}: {old[0]} .. "
                         f"{old[-1]}): pass resume=True (--resume) to continue it, overwrite=True (--overwrite) "
                         f"to replace it, or another out_dir")
    for d in old:
        shutil.rmtree(os.path.join(ckpt_dir, d))
        if os.path.exists(os.path.join(ckpt_dir, d + ".json")):
            os.remove(os.path.join(ckpt_dir, d + ".json"))
    if old:
        print(f"pimjax train: removed {len(old)} checkpoints of an earlier run from {ckpt_dir}", file=sys.stderr)


def _check_config(path: str, cfg: TrainConfig) -> _EpochState:
    """The checkpoint's epoch state, after checking that its run's config is ``cfg``'s."""
    if not os.path.exists(path + ".json"):
        print(f"pimjax train: {path} has no {os.path.basename(path)}.json (an older pimjax): its config is not "
              f"checked and the resumed epoch's loss, events and seconds cover only the resumed steps",
              file=sys.stderr)
        return _EpochState()
    with open(path + ".json") as f:
        saved = json.load(f)
    now = run_config(cfg)
    # a field the checkpoint's pimjax did not have yet (e.g. modules) had its default's effect
    then = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name in now} | saved["config"]
    diff = [f"TrainConfig.{k}: {v!r} in the checkpoint, {now[k]!r} now"
            for k, v in then.items() if k in now and v != now[k]]
    if diff:
        raise ValueError(f"cannot resume from {path}: it was saved by a different run ({'; '.join(diff)}); "
                         f"resume with the checkpoint's values or use another out_dir")
    state = _EpochState(**saved["epoch_state"])
    for f in EVENTS:  # counts an older pimjax did not record start at 0
        state.events.setdefault(f, 0)
    return state


def _check_tree(path: str, saved: Any, target: Any) -> None:
    """Raises ValueError unless the checkpoint's leaves (metadata) are the target's, by path, shape and dtype."""
    def leaves(tree):
        return {jax.tree_util.keystr(p, simple=True, separator="/"): f"{tuple(x.shape)} {np.dtype(x.dtype)}"
                for p, x in jax.tree_util.tree_leaves_with_path(tree)}

    have, want = leaves(saved), leaves(target)
    bad = [f"{k}: {have[k]} in the checkpoint, {want[k]} here" for k in want if k in have and have[k] != want[k]]
    bad += [f"{k}: missing in the checkpoint" for k in want if k not in have]
    bad += [f"{k}: in the checkpoint, not in this run" for k in have if k not in want]
    if bad:
        more = f"; and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise ValueError(f"cannot resume from {path}: its arrays do not fit this run's model and optimizer "
                         f"({'; '.join(bad[:5])}{more}); a checkpoint of an older pimjax (before the exact "
                         f"event encoding: probes (2, 4), int32 event totals) cannot be resumed either")


def _restore(path: str, model, optimizer) -> int:
    import orbax.checkpoint as ocp

    target = _ckpt_state(model, optimizer, 0)
    path = os.path.abspath(path)
    with ocp.StandardCheckpointer() as ck:
        _check_tree(path, ck.metadata(path).item_metadata, target)
        state = ck.restore(path, target)
    with jax.enable_x64(True):  # on the device with their saved dtypes: int64 event totals stay int64 under jit
        state = jax.tree.map(jnp.asarray, state)
    ms, os_ = nnx.state(model), nnx.state(optimizer)
    nnx.replace_by_pure_dict(ms, state["model"])
    nnx.replace_by_pure_dict(os_, state["opt"])
    nnx.update(model, ms)
    nnx.update(optimizer, os_)
    return int(state["step"])


def _event_index(treedef) -> dict[str, np.ndarray]:
    """Positions of the ``EVENTS`` fields of every record in a packed cost table."""
    from pimjax.cost import CostRecord

    recs = jax.tree.leaves(jax.tree.unflatten(treedef, list(range(treedef.num_leaves))),
                           is_leaf=lambda x: isinstance(x, CostRecord))
    return {f: np.array([getattr(r, f) for r in recs], dtype=np.int64) for f in EVENTS}


@dataclasses.dataclass
class Prepared:
    """A run set up to its first step (:func:`prepare`); :meth:`run` trains it."""

    cfg: TrainConfig
    task: Task
    model: Any
    optimizer: Any
    steps_per_epoch: int
    total_steps: int
    step: int
    epoch_state: _EpochState
    history: list[dict[str, Any]]
    load_events: dict[str, int]

    def run(self) -> dict[str, Any]:
        return _run(self)


def prepare(cfg: TrainConfig) -> Prepared:
    """Everything before the first step: the hardware, task (data, model), optimizer and, with
    ``cfg.resume``, the latest checkpoint in ``cfg.out_dir`` (none there: a notice on stderr and
    a fresh start). Bad input (data, model name, a checkpoint of another run) raises ValueError,
    TypeError or FileNotFoundError here, before any training."""
    mesh = default_mesh(devices=cfg.devices) if cfg.devices > 1 else None
    hw = training_hardware(cfg.precision, num_slices=cfg.slices, mesh=mesh, rows=cfg.rows, width=cfg.width,
                           weights=cfg.weights, weight_format=FixedFormat(bits=cfg.weight_bits, frac=cfg.weight_frac),
                           modules=cfg.modules)
    task = make_task(cfg, hw)
    model = task.make_model(nnx.Rngs(cfg.seed))
    load_events = load_resident(model, hw)
    steps_per_epoch = task.steps_per_epoch(cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    optimizer = nnx.Optimizer(model, _tx(cfg, total_steps, hw), wrt=nnx.Param)
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    step, epoch_state, history = 0, _EpochState(update_base=update_events(optimizer)), []
    if cfg.out_dir and not cfg.resume:
        _fresh_start(os.path.join(cfg.out_dir, "checkpoints"), cfg.overwrite)
    if cfg.resume:
        ckpt_dir = os.path.join(cfg.out_dir, "checkpoints")
        latest = _latest(ckpt_dir)
        if latest is None:
            print(f"pimjax train: no checkpoint in {ckpt_dir}: starting from step 0", file=sys.stderr)
        else:
            epoch_state = _check_config(latest, cfg)
            step = _restore(latest, model, optimizer)
            metrics = os.path.join(cfg.out_dir, "metrics.json")
            if os.path.exists(metrics):
                with open(metrics) as f:
                    history = [r for r in json.load(f).get("epochs", []) if r["step"] <= step]
    return Prepared(cfg, task, model, optimizer, steps_per_epoch, total_steps, step, epoch_state, history,
                    load_events)


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Runs ``cfg``; returns metrics per epoch, final test metrics and the cost table
    (:func:`prepare`, then :meth:`Prepared.run`)."""
    return prepare(cfg).run()


def _run(p: Prepared) -> dict[str, Any]:
    cfg, task, model, optimizer, spe = p.cfg, p.task, p.model, p.optimizer, p.steps_per_epoch
    train_step, eval_step = make_steps(task)
    ckpt_dir = os.path.join(cfg.out_dir, "checkpoints") if cfg.out_dir else None
    step, ep, history = p.step, p.epoch_state, list(p.history)
    bar = _progress(p.total_steps, step, cfg.progress, f"{cfg.model} [{cfg.precision}, {hardware_label(cfg)}]")
    step_costs = index = None
    t0 = time.perf_counter() - ep.seconds
    while step < p.total_steps:
        epoch, i = divmod(step, spe)
        batch = task.train_batch(cfg.batch_size, seed=cfg.seed, epoch=epoch, index=i)
        seed = fold_key(jnp.uint32(cfg.seed), step)
        loss, _, step_costs = train_step(model, optimizer, batch, seed)
        if index is None:
            index = _event_index(step_costs.treedef)
        packed = np.asarray(step_costs.packed)
        for f in EVENTS:  # float64 fields holding exact integers (< 2**53): summed as int64
            ep.events[f] += int(packed[index[f]].astype(np.int64).sum())
        ep.loss_sum += float(loss)
        ep.loss_count += 1
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{float(loss):.4f}")
        end = step % spe == 0 or step == p.total_steps
        if end:
            test = evaluate(task, model, eval_step, cfg)
            upd = update_events(optimizer)
            rec = {"epoch": epoch + 1, "step": step, "partial": step % spe != 0,
                   "train_loss": ep.loss_sum / ep.loss_count, **{f"test_{k}": v for k, v in test.items()},
                   **ep.events, **{f"update_{f}": upd[f] - ep.update_base.get(f, 0) for f in EVENTS if f in upd},
                   "seconds": time.perf_counter() - t0}
            history = [r for r in history if r["epoch"] != rec["epoch"]] + [rec]
            bar.write(f"epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                                          for k, v in rec.items() if k != "epoch"), file=sys.stderr)
            if step % spe == 0:
                ep = _EpochState(update_base=upd)
        if ckpt_dir and (end or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0)):
            ep.seconds = time.perf_counter() - t0
            _save(ckpt_dir, step, model, optimizer, cfg, ep)
        if end and cfg.out_dir:
            _write_metrics(cfg, history)
    bar.close()
    if step_costs is None:  # nothing left to run (resumed at the end): cost of one step
        batch = task.train_batch(cfg.batch_size, seed=cfg.seed, epoch=0, index=0)
        _, _, step_costs = train_step(nnx.clone(model), nnx.clone(optimizer), batch, jnp.uint32(0))
    step_costs = step_costs.unpack()
    final = evaluate(task, model, eval_step, cfg)
    table = format_cost_table(step_costs, title=f"cost of one training step (batch {len(jax.tree.leaves(batch)[0])}), "
                                                 f"{hardware_label(cfg)}, precision {cfg.precision}")
    if cfg.out_dir:
        _write_costs(cfg, step_costs)
    return {"config": dataclasses.asdict(cfg), "epochs": history, "final": final, "step_costs": step_costs,
            "cost_table": table, "steps": step, "model": model, "update_events": update_events(optimizer),
            "load_events": p.load_events, "events": {f: sum(r.get(f, 0) for r in history) for f in EVENTS}}


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
    keys = list(dict.fromkeys(k for r in history for k in r))
    with open(os.path.join(cfg.out_dir, "metrics.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(history)


def _write_costs(cfg: TrainConfig, costs) -> None:
    rows = cost_rows(costs)
    os.makedirs(cfg.out_dir, exist_ok=True)
    with open(os.path.join(cfg.out_dir, "costs.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["layer", "phase"])  # no emulated layer: a header
        w.writeheader()
        w.writerows(rows)
