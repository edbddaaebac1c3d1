"""Training on emulated slices: one loop for every model (flax-examples style).

``train(TrainConfig(...))`` builds the task (data + model), the per-phase hardware
(:func:`pimjax.nn.training_hardware`) on ``slices`` slices sharded over ``devices`` devices,
an optax optimizer, and runs epochs with a progress bar. Every step records per-layer,
per-phase costs (FF/BP/UP) in the same jitted computation. It writes per-epoch metrics to
``metrics.csv``/``metrics.json``, the cost table to ``costs.csv``, and orbax checkpoints; a
resumed run gives the same bits and the same epoch metrics as an uninterrupted one (data order
and stochastic-rounding seeds are functions of (seed, step); the epoch's running loss, event
counts and elapsed time are saved next to each checkpoint, in ``step_NNNNNNNN.json``, with the
run's :func:`run_config`, which a resume must match, and the metrics rows so far). Checkpoints
are saved and verified as one unit (:mod:`pimjax.apps.train._checkpoint`: a sha256 manifest
written last; a damaged newest checkpoint is named and the run falls back to the newest intact
one), every output is written atomically (:mod:`pimjax.apps._atomic`), ``out_dir`` is checked
before anything compiles, and a NaN or Inf stops the run by default (``on_nonfinite``,
:mod:`pimjax.apps.train._nonfinite`).

An epoch's metrics: ``train_loss`` (mean over its steps), the test metrics, ``overflow``,
``nan``, ``inf``, ``random_bits`` (the numeric events of every emulated matmul, FF/BP/UP, summed
over its steps, as exact Python ints), with resident weights ``update_overflow``/``update_nan``/
``update_inf``/``update_random_bits`` (those of its in-memory weight updates), ``nonfinite_losses``
(its steps whose loss was NaN or Inf, counted on every hardware, native too), ``seconds`` since
the run's start, and ``partial`` (True when ``max_steps`` stopped it before its end; a resumed
run replaces that row when it finishes the epoch).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from pimjax.apps import _atomic
from pimjax.apps import _distributed as dist
from pimjax.apps.cost._collect import CostLayout, collect_costs, cost_rows, format_cost_table
from pimjax.apps.train import _checkpoint as ckpt
from pimjax.apps.train._config import EVENTS, TrainConfig, hardware_label, run_config
from pimjax.apps.train._nonfinite import NonFiniteError, NonFiniteWatch, record_labels
from pimjax.apps.train._report import PARTIAL_NOTE, EpochTable, compile_notice, layer_names, remove_outputs
from pimjax.apps.train._tasks import Task, make_task
from pimjax.nn import resident_update, to_resident, training_hardware
from pimjax.nn._layers import CostProbe
from pimjax.numerics import FixedFormat, fold_key
from pimjax.system import default_mesh


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


_ckpt_name = ckpt.ckpt_name
_checkpoints = ckpt.checkpoints
_latest = ckpt.latest


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
    nonfinite_losses: int = 0


def _ckpt_state(model, optimizer, step: int) -> dict[str, Any]:
    return jax.device_get({"model": nnx.to_pure_dict(nnx.state(model)),
                           "opt": nnx.to_pure_dict(nnx.state(optimizer)), "step": np.asarray(step)})


def _save(ckpt_dir: str, step: int, model, optimizer, cfg: TrainConfig, epoch: _EpochState,
          history: list[dict[str, Any]] | None = None) -> None:
    """Checkpoint ``step`` with its metadata (config, epoch state, the metrics rows so far) as one
    unit (:func:`pimjax.apps.train._checkpoint.save`)."""
    meta = {"config": run_config(cfg), "epoch_state": dataclasses.asdict(epoch),
            "history": [_atomic.flag_nonfinite(r) for r in (history or [])]}
    ckpt.save(ckpt_dir, step, _ckpt_state(model, optimizer, step), meta, writer=dist.is_writer())


def _fresh_start(ckpt_dir: str, overwrite: bool) -> None:
    """A run from step 0 into ``ckpt_dir``: refuses to mix its checkpoints with an earlier run's
    (a later resume would continue whichever step is newest) unless ``overwrite``, which deletes
    them (and their ``.json`` and manifest) first."""
    old = _checkpoints(ckpt_dir)
    if old and not overwrite:
        raise ValueError(f"TrainConfig.out_dir holds checkpoints of an earlier run ({ckpt_dir}: {old[0]} .. "
                         f"{old[-1]}): pass resume=True (--resume) to continue it, overwrite=True (--overwrite) "
                         f"to replace it, or another out_dir")
    ckpt.remove_all(ckpt_dir)
    if old:
        print(f"pimjax train: removed {len(old)} checkpoints of an earlier run from {ckpt_dir}", file=sys.stderr)


def _check_config(path: str, saved: dict[str, Any], cfg: TrainConfig) -> _EpochState:
    """The checkpoint's epoch state (from its metadata ``saved``), after checking that its run's
    config is ``cfg``'s."""
    now = run_config(cfg)
    # a field the checkpoint's pimjax did not have yet (e.g. modules) had its default's effect
    then = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name in now} | saved["config"]
    diff = [f"TrainConfig.{k}: {v!r} in the checkpoint, {now[k]!r} now"
            for k, v in then.items() if k in now and v != now[k]]
    if diff:
        raise ValueError(f"cannot resume from {path}: it was saved by a different run ({'; '.join(diff)}); "
                         f"resume with the checkpoint's values or use another out_dir")
    es = dict(saved["epoch_state"])
    if es.get("loss_sum") is None:  # a non-finite running loss, stored as null in strict JSON
        es["loss_sum"] = float("nan")
    state = _EpochState(**es)
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
        try:
            state = ck.restore(path, target)
        except Exception as e:  # verified by checksum, yet orbax cannot read it (another orbax?)
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ckpt.CheckpointError(f"cannot restore {path}: {msg}") from None
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
    if cfg.out_dir:  # before anything loads or compiles: an unwritable --out fails here, in seconds
        _atomic.preflight(cfg.out_dir, os.path.join(cfg.out_dir, "checkpoints"), what="--out")
    mesh = default_mesh(devices=cfg.devices) if cfg.devices > 1 else None
    dist.check_train_devices(cfg.devices)
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
    if cfg.out_dir and not cfg.resume and dist.is_writer():
        _fresh_start(os.path.join(cfg.out_dir, "checkpoints"), cfg.overwrite)
        if cfg.overwrite:  # the earlier run's metrics go with its checkpoints
            remove_outputs(cfg.out_dir)
    dist.sync("pimjax train: fresh start")
    if cfg.resume:
        ckpt_dir = os.path.join(cfg.out_dir, "checkpoints")
        found = ckpt.newest_intact(ckpt_dir)  # damaged newer ones: reported, moved aside
        if found is None:
            print(f"pimjax train: no checkpoint in {ckpt_dir}: starting from step 0", file=sys.stderr)
        else:
            latest, meta = found
            epoch_state = _check_config(latest, meta, cfg)
            step = _restore(latest, model, optimizer)
            print(f"pimjax train: resuming from step {step} of {total_steps}", file=sys.stderr)
            history = _resumed_history(cfg.out_dir, meta, step)
    dist.replicate_modules(mesh, model, optimizer)  # several processes: the state on the global mesh
    return Prepared(cfg, task, model, optimizer, steps_per_epoch, total_steps, step, epoch_state, history,
                    load_events)


def _resumed_history(out_dir: str, meta: dict[str, Any], step: int) -> list[dict[str, Any]]:
    """The metrics rows up to ``step``: the checkpoint's own (checksummed) copy, else (a
    checkpoint without one) ``metrics.json``; a damaged ``metrics.json`` is refused by name."""
    if "history" in meta:
        rows = meta["history"]
    else:
        path = os.path.join(out_dir, "metrics.json")
        if not os.path.exists(path):
            return []
        try:
            rows = _atomic.read_json(path, "metrics file").get("epochs", [])
        except _atomic.DamagedFileError as e:
            raise ValueError(f"{e}; its rows are not in the checkpoint either: move it aside to resume "
                             f"without the earlier epochs' rows") from None
    out = []
    for r in rows:
        if r["step"] > step:
            continue
        r = dict(r)
        for k in r.pop("nonfinite", []):  # stored as null in strict JSON
            r[k] = float("nan")
        out.append(r)
    return out


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Runs ``cfg``; returns metrics per epoch, final test metrics and the cost table
    (:func:`prepare`, then :meth:`Prepared.run`)."""
    return prepare(cfg).run()


def _run(p: Prepared) -> dict[str, Any]:
    cfg, task, model, optimizer, spe = p.cfg, p.task, p.model, p.optimizer, p.steps_per_epoch
    train_step, eval_step = make_steps(task)
    ckpt_dir = os.path.join(cfg.out_dir, "checkpoints") if cfg.out_dir else None
    step, ep, history = p.step, p.epoch_state, list(p.history)
    place = dist.replicator(default_mesh(devices=cfg.devices) if cfg.devices > 1 else None)
    bar = None  # made after the first step: its compile would make the bar's rate and ETA meaningless
    table = EpochTable()
    table.start(history)
    evaluated = False
    if step < p.total_steps and dist.is_writer():
        print(compile_notice(), file=sys.stderr, flush=True)
    step_costs = index = None
    t0 = time.perf_counter() - ep.seconds
    watch = None
    while step < p.total_steps:
        epoch, i = divmod(step, spe)
        batch = place(task.train_batch(cfg.batch_size, seed=cfg.seed, epoch=epoch, index=i))
        seed = place(fold_key(jnp.uint32(cfg.seed), step))
        loss, _, step_costs = train_step(model, optimizer, batch, seed)
        if index is None:
            index = _event_index(step_costs.treedef)
            watch = NonFiniteWatch(cfg.on_nonfinite, record_labels(step_costs.treedef),
                                   native=cfg.precision == "native", checkpoints=bool(ckpt_dir))
        packed = np.asarray(step_costs.packed)
        for f in EVENTS:  # float64 fields holding exact integers (< 2**53): summed as int64
            ep.events[f] += int(packed[index[f]].astype(np.int64).sum())
        ep.loss_sum += float(loss)
        ep.loss_count += 1
        ep.nonfinite_losses += 0 if np.isfinite(float(loss)) else 1
        try:
            watch.check(step + 1, epoch, i, float(loss), packed[index["nan"]], packed[index["inf"]])
        except NonFiniteError:
            if bar is not None:
                bar.close()
            raise
        step += 1
        if bar is None:
            bar = _progress(p.total_steps, step, cfg.progress and dist.is_writer(),
                            f"{cfg.model} [{cfg.precision}, {hardware_label(cfg)}]")
        else:
            bar.update(1)
        bar.set_postfix(loss=f"{float(loss):.4f}")
        end = step % spe == 0 or step == p.total_steps
        if end:
            if not evaluated and dist.is_writer():
                bar.write(compile_notice("evaluation step", "first epoch only"), file=sys.stderr)
                evaluated = True
            test = evaluate(task, model, eval_step, cfg, place)
            upd = update_events(optimizer)
            rec = {"epoch": epoch + 1, "step": step, "partial": step % spe != 0,
                   "train_loss": ep.loss_sum / ep.loss_count, **{f"test_{k}": v for k, v in test.items()},
                   **ep.events, "nonfinite_losses": ep.nonfinite_losses,
                   **{f"update_{f}": upd[f] - ep.update_base.get(f, 0) for f in EVENTS if f in upd},
                   "seconds": time.perf_counter() - t0}
            history = [r for r in history if r["epoch"] != rec["epoch"]] + [rec]
            if dist.is_writer():
                bar.write(table.row(rec) + (f"\n{PARTIAL_NOTE}" if rec["partial"] else ""), file=sys.stderr)
            if step % spe == 0:
                ep = _EpochState(update_base=upd)
        if ckpt_dir and (end or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0)):
            ep.seconds = time.perf_counter() - t0
            _save(ckpt_dir, step, model, optimizer, cfg, ep, history)
        if end and cfg.out_dir and dist.is_writer():
            _write_metrics(cfg, history)
    if bar is not None:
        bar.close()
    if step_costs is None:  # nothing left to run (resumed at the end): cost of one step
        batch = task.train_batch(cfg.batch_size, seed=cfg.seed, epoch=0, index=0)
        _, _, step_costs = train_step(nnx.clone(model), nnx.clone(optimizer), place(batch), place(jnp.uint32(0)))
    step_costs = layer_names(model, step_costs.unpack())  # the layer names of `pimjax cost`
    final = evaluate(task, model, eval_step, cfg, place)
    table = format_cost_table(step_costs, title=f"cost of one training step (batch {len(jax.tree.leaves(batch)[0])}), "
                                                 f"{hardware_label(cfg)}, precision {cfg.precision}")
    if cfg.out_dir and dist.is_writer():
        _write_costs(cfg, step_costs)
    return {"config": dataclasses.asdict(cfg), "epochs": history, "final": final, "step_costs": step_costs,
            "cost_table": table, "steps": step, "model": model, "update_events": update_events(optimizer),
            "load_events": p.load_events, "events": {f: sum(r.get(f, 0) for r in history) for f in EVENTS}}


def evaluate(task: Task, model, eval_step, cfg: TrainConfig, place=lambda t: t) -> dict[str, float]:
    """Test-set metrics (emulated forward pass, eval mode); ``place`` puts the batches on the
    global mesh (several processes)."""
    sums: dict[str, float] = {}
    count = 0
    for j, batch in enumerate(task.test_batches(cfg.batch_size)):
        m = eval_step(model, place(batch), place(fold_key(jnp.uint32(cfg.seed + 1), j)))
        n = int(m.pop("count"))
        for k, v in m.items():
            sums[k] = sums.get(k, 0.0) + float(v)
        count += n
    return {k: v / max(count, 1) for k, v in sums.items()}


def _progress(total: int, initial: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, dynamic_ncols=True)


def _write_metrics(cfg: TrainConfig, history: list[dict[str, Any]]) -> None:
    """``metrics.json`` (strict JSON: a non-finite number is null, its field named in the row's
    ``nonfinite``) and ``metrics.csv``, each written atomically."""
    _atomic.write_json(os.path.join(cfg.out_dir, "metrics.json"),
                       {"config": dataclasses.asdict(cfg), "epochs": [_atomic.flag_nonfinite(r) for r in history]},
                       indent=1)
    _atomic.write_csv(os.path.join(cfg.out_dir, "metrics.csv"), history)


def _write_costs(cfg: TrainConfig, costs) -> None:
    rows = cost_rows(costs)
    fields = list(rows[0]) if rows else ["layer", "phase"]  # no emulated layer (native): a header only
    _atomic.write_csv(os.path.join(cfg.out_dir, "costs.csv"), rows, fields)
