"""The vmapped sweep evaluator: one compiled program evaluates a batch of configs on a test set.

docs/design.md section 5. For one :class:`~pimjax.apps.sweep.SweepHardware` (static: one program per
value and chunk size), :class:`SweepEvaluator` builds

``jit(shard_map(vmap(evaluate_config, axis_name="configs")))``

where ``evaluate_config(point, batch)`` runs the model (unchanged, its float parameters not
retrained, Yang & Sze) on one test batch with every emulated layer on the swept hardware
(:class:`~pimjax.apps.sweep._datapath.SweepContext`) and returns the number of correct
predictions, the logits (the host sums their cross-entropy in float64) and the numeric events; the same program runs every
test batch (dispatched asynchronously) and the totals are summed on the host in a fixed order.
The configs of a chunk are sharded over the devices of a 1-D mesh (axis ``"devices"``),
vmapped on each device. After ``jax.distributed.initialize`` (:mod:`pimjax.apps._distributed`)
the default mesh is the global one: every device of every process holds a slice of the config
axis; the inputs become global arrays (each process puts only its own shards) and the per-config
outputs are gathered to every process (a replicated output), so every process sees all rows.
The bits of a config do not depend on how many devices or processes share the chunk.

The same ``evaluate_config``, jitted on its own, evaluates one config
(:meth:`SweepEvaluator.evaluate_one`): a Python loop over configs reuses that one compile, and
its results equal the vmapped ones bit for bit (accuracy, events and logits; the loss is
computed on the host from the logits, in float64, so it is the same for every device count).

Test-set seeds: batch ``j`` uses ``fold_key(seed, j)`` as the model seed (every layer folds in
its id), so noise and stochastic rounding are reproducible and the same draws serve every
config (common random numbers).
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from pimjax.apps.sweep._config import NumericPoint, SweepHardware, as_jax
from pimjax.apps.sweep._datapath import SweepContext
from pimjax.nn import training_hardware, with_hardware
from pimjax.nn._noise import override_forward
from pimjax.numerics import fold_key

_VMAP_AXIS = "configs"
_MESH_AXIS = "devices"
METRIC_NAMES = ("accuracy", "loss", "overflow", "nan", "inf", "random_bits")
"""Metrics of one config: test accuracy, mean cross-entropy, and the FF numeric events of all
layers over the test set (padded rows included)."""


def _eval_hardware():
    return dataclasses.replace(training_hardware("native"), record_costs=False)


class SweepEvaluator:
    """Evaluates swept configs of one static hardware on a test set (module docstring).

    Args:
      model: a Flax NNX classifier built from pimjax's emulated layers, called as
        ``model(x, seed=..., train=False)`` (its own hardware is replaced; it is not modified).
      hardware: the static part of the configs.
      x, y: test images (N, ...) and integer labels (N,).
      batch_size: images per step of the in-program loop (the test set is split into
        ``ceil(N / batch_size)`` equal batches, the last padded by at most one row per batch).
      devices: JAX devices the configs are sharded over (default: all local devices).
      seed: evaluation seed.
      events: also count the numeric events (overflow, NaN, Inf, random bits); without them the
        program is smaller (faster to compile) and the metrics are accuracy and loss only.
    """

    def __init__(self, model: nnx.Module, hardware: SweepHardware, x: Any, y: Any, *, batch_size: int = 150,
                 devices: int | Sequence[Any] | None = None, seed: int = 0, events: bool = True):
        if not isinstance(hardware, SweepHardware):
            raise TypeError(f"hardware must be a SweepHardware, got {type(hardware).__name__}")
        x, y = np.asarray(x, np.float32), np.asarray(y, np.int32)
        if x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ValueError(f"x and y must hold the same non-zero number of examples, got {x.shape[0]} and {y.shape[0]}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.hardware = hardware
        self.events = bool(events)
        n = x.shape[0]
        nb = -(-n // batch_size)
        b = -(-n // nb)
        pad = nb * b - n
        self.n, self.num_batches, self.batch = n, nb, b
        xp = np.concatenate([x, np.zeros((pad, *x.shape[1:]), np.float32)]) if pad else x
        yp = np.concatenate([y, np.zeros(pad, np.int32)]) if pad else y
        valid = np.arange(nb * b) < n
        # one device array per batch, split on the host (indexing a stacked device array would
        # compile a slice and a squeeze per dtype, eagerly, before the first program runs); the
        # batch seeds are folded on the host too (fold_key of Python ints: the same words)
        xp, yp, valid = xp.reshape(nb, b, *x.shape[1:]), yp.reshape(nb, b), valid.reshape(nb, b)
        self._batches = [(jnp.asarray(xp[j]), jnp.asarray(yp[j]), jnp.asarray(valid[j]),
                          jnp.asarray(np.uint32(fold_key(int(seed) & 0xFFFFFFFF, j)))) for j in range(nb)]
        self._labels = [(yp[j], valid[j]) for j in range(nb)]  # host copies: the loss is computed here
        self.graphdef, self.state = nnx.split(with_hardware(model, _eval_hardware()))
        if devices is None:
            devs = jax.devices()
        elif isinstance(devices, int):
            if not 1 <= devices <= len(jax.devices()):
                raise ValueError(f"devices must be in 1..{len(jax.devices())} (the available devices), got {devices}")
            devs = jax.devices()[:devices]
        else:
            devs = list(devices)
        self.mesh = Mesh(np.array(devs), (_MESH_AXIS,))
        self._multi = jax.process_count() > 1
        if self._multi and len(devs) != len(jax.devices()):
            raise ValueError("a multi-process sweep shards its configs over every device of every process: "
                             f"devices must be all ({len(jax.devices())}), got {len(devs)}")
        self._global_inputs = None
        self._batched: dict[tuple[int, bool], Any] = {}
        self._single: dict[bool, Any] = {}

    def reseeded(self, seed: int) -> "SweepEvaluator":
        """The same evaluator with evaluation seed ``seed``, sharing the compiled programs.

        Only the test batches' model seeds change (they are inputs of the programs), so the
        copy evaluates without compiling again; its results equal those of a new evaluator made
        with ``seed`` bit for bit.
        """
        new = copy.copy(self)  # shares the dicts of compiled programs
        new._batches = [(x, y, v, jnp.asarray(np.uint32(fold_key(int(seed) & 0xFFFFFFFF, j))))
                        for j, (x, y, v, _) in enumerate(self._batches)]
        new._global_inputs = None
        return new

    @property
    def num_devices(self) -> int:
        return int(self.mesh.shape[_MESH_AXIS])

    # ---------------------------------------------------------------------------- programs

    def _config_fn(self, axis_name: str | None, with_logits: bool):
        """One config on one test batch: (correct, logits for the loss, events[, logits])."""
        graphdef, hw, events = self.graphdef, self.hardware, self.events

        def run(state, point, x, y, valid, seed):
            model = nnx.merge(graphdef, state)
            ctx = SweepContext(point, hw, axis_name, count_events=events)
            with override_forward(ctx):
                logits = model(x, seed=seed, train=False)
            correct = jnp.sum((jnp.argmax(logits, -1) == y) & valid, dtype=jnp.int32)
            # the loss slot holds the logits: the host computes the cross-entropy from them in
            # float64 (``_host_loss``), so the loss, like the logits, does not depend on how many
            # configs share a device (a vectorized exp/log or sum in the program would)
            loss = logits
            with jax.enable_x64(True):  # exact int64 counts (random bits of a batch may pass 2**31)
                ev = tuple(jnp.asarray(e).astype(jnp.int64) for e in ctx.total_events()) if events else ()
            out = (correct, loss, *ev)
            return (out, logits) if with_logits else out

        return run

    def _program(self, chunk: int, with_logits: bool):
        key = (chunk, with_logits)
        if key not in self._batched:
            fn = jax.vmap(self._config_fn(_VMAP_AXIS, with_logits), in_axes=(None, 0, None, None, None, None),
                          axis_name=_VMAP_AXIS)
            sharded = jax.shard_map(fn, mesh=self.mesh, in_specs=(P(), P(_MESH_AXIS), P(), P(), P(), P()),
                                    out_specs=P(_MESH_AXIS), check_vma=False)
            # several processes: every one gets every config's outputs (gathered in the program)
            out = NamedSharding(self.mesh, P()) if self._multi else None
            self._batched[key] = jax.jit(sharded, out_shardings=out)
        return self._batched[key]

    def _global(self, tree, spec):
        """``tree``'s leaves as global arrays on the mesh (several processes; same on each)."""
        from pimjax.apps._distributed import global_array

        sh = NamedSharding(self.mesh, spec)
        return jax.tree.map(lambda v: global_array(v, sh), tree)

    def _batched_inputs(self, point):
        """``(state, point, batches)`` as the sharded program takes them."""
        if not self._multi:
            return self.state, point, self._batches
        if self._global_inputs is None:
            self._global_inputs = (self._global(self.state, P()), [self._global(b, P()) for b in self._batches])
        state, batches = self._global_inputs
        return state, self._global(point, P(_MESH_AXIS)), batches

    def _single_program(self, with_logits: bool):
        if with_logits not in self._single:
            self._single[with_logits] = jax.jit(self._config_fn(None, with_logits))
        return self._single[with_logits]

    def _run(self, program, point) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Runs ``program`` over the test batches; per-config totals (int64 / float64) and logits."""
        if program in self._batched.values():
            state, point, batches = self._batched_inputs(point)
        else:
            state, batches = self.state, self._batches
        outs = [program(state, point, x, y, v, s) for x, y, v, s in batches]
        with_logits = isinstance(outs[0][0], tuple)
        metrics = [o[0] for o in outs] if with_logits else outs
        totals = []
        for i in range(len(metrics[0])):
            vals = [np.asarray(m[i]) for m in metrics]
            if i == 1:  # logits (..., B, classes) of each batch: summed cross-entropy, float64
                totals.append(sum(_host_loss(v, yb, vb) for v, (yb, vb) in zip(vals, self._labels)))
                continue
            totals.append(np.sum(np.stack([v.astype(np.int64) for v in vals]), axis=0))
        logits = None
        if with_logits:
            lg = np.stack([np.asarray(o[1]) for o in outs], axis=-3)  # (..., batches, B, classes)
            logits = lg.reshape(*lg.shape[:-3], -1, lg.shape[-1])[..., :self.n, :]
        return totals, logits

    # ---------------------------------------------------------------------------- running

    def _metrics(self, totals) -> dict[str, np.ndarray]:
        out = {"accuracy": totals[0].astype(np.float64) / self.n, "loss": totals[1] / self.n}
        for name, v in zip(("overflow", "nan", "inf", "random_bits"), totals[2:]):
            out[name] = v
        return out

    def _chunks(self, points: NumericPoint | Sequence[NumericPoint], chunk: int | None):
        if isinstance(points, NumericPoint):
            points = points.unstack() if np.shape(points.act_bits) else [points]
        points = list(points)
        if not points:
            raise ValueError("no configs to evaluate")
        _check_rounding(points, self.hardware)
        d = self.num_devices
        chunk = len(points) if chunk is None else int(chunk)
        chunk = max(d, -(-chunk // d) * d)
        for s in range(0, len(points), chunk):
            part = points[s:s + chunk]
            padded = part + [part[-1]] * (chunk - len(part))
            yield len(part), chunk, as_jax(NumericPoint.stack(padded))

    def evaluate(self, points: NumericPoint | Sequence[NumericPoint], *, chunk: int | None = None,
                 return_logits: bool = False) -> Any:
        """Metrics (:data:`METRIC_NAMES`, one value per config) of a batch or list of points.

        Points are evaluated ``chunk`` at a time (default: all at once) by one compiled program
        per chunk size; a short last chunk is padded by repeating its last point. With
        ``return_logits`` also the logits ``(configs, N, classes)``: ``(metrics, logits)``.
        """
        parts: list[dict[str, np.ndarray]] = []
        logits = []
        for n, c, batch in self._chunks(points, chunk):
            totals, lg = self._run(self._program(c, return_logits), batch)
            parts.append({k: v[:n] for k, v in self._metrics(totals).items()})
            if return_logits:
                logits.append(lg[:n])
        metrics = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return (metrics, np.concatenate(logits)) if return_logits else metrics

    def evaluate_one(self, point: NumericPoint, *, return_logits: bool = False) -> Any:
        """Metrics of a single point (one compile reused for every point of this hardware);
        ``(metrics, logits (N, classes))`` with ``return_logits``."""
        _check_rounding([point], self.hardware)
        totals, lg = self._run(self._single_program(return_logits), as_jax(point))
        metrics = {k: v.item() for k, v in self._metrics(totals).items()}
        return (metrics, lg) if return_logits else metrics

    def logits(self, points: NumericPoint | Sequence[NumericPoint], *, chunk: int | None = None) -> np.ndarray:
        """Logits ``(configs, N, classes)`` of the test set under each point (vmapped)."""
        return self.evaluate(points, chunk=chunk, return_logits=True)[1]

    def logits_one(self, point: NumericPoint) -> np.ndarray:
        """Logits ``(N, classes)`` under one point (the unbatched program)."""
        return self.evaluate_one(point, return_logits=True)[1]

    def batches(self):
        """The test batches and their model seeds ``(x, y, valid, seed)`` as the programs see them."""
        yield from self._batches


def _host_loss(logits: np.ndarray, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Summed cross-entropy of the valid examples of one batch, per config (float64, on the host)."""
    z = np.asarray(logits, np.float64)
    m = np.max(z, axis=-1, keepdims=True)
    lse = m[..., 0] + np.log(np.sum(np.exp(z - m), axis=-1))
    ce = lse - np.take_along_axis(z, np.broadcast_to(y[:, None], z.shape[:-1] + (1,)), axis=-1)[..., 0]
    return np.sum(np.where(valid, ce, 0.0), axis=-1)


def _check_rounding(points: Sequence[NumericPoint], hw: SweepHardware) -> None:
    """Raises ValueError if a point needs what the program of ``hw`` was specialised without."""
    from pimjax.hw import NOISE_KINDS
    from pimjax.numerics import ROUNDING_MODES

    for p in points:
        kind = NOISE_KINDS[int(np.asarray(p.noise_kind))]
        if hw.noise_kind is not None and kind != hw.noise_kind:
            raise ValueError(f"point has noise kind {kind!r} but the hardware is specialised to "
                             f"noise_kind={hw.noise_kind!r}")
        if not hw.output_stage and hw.datapath == "fixed" and int(np.asarray(p.out_bits)) != 0:
            raise ValueError("point has an output format (out_bits > 0) but the hardware has output_stage=False")
        rid = int(np.asarray(p.rounding))
        if hw.rounding is not None and ROUNDING_MODES[rid] != hw.rounding:
            raise ValueError(f"point rounds {ROUNDING_MODES[rid]!r} but the hardware is specialised to "
                             f"rounding={hw.rounding!r} (SweepHardware.rounding=None traces the mode)")
        if ROUNDING_MODES[rid] == "stochastic" and not hw.stochastic:
            raise ValueError("a point rounds stochastically: SweepHardware.stochastic must be True")


def reference_logits(model: nnx.Module, hardware: SweepHardware, point: NumericPoint, evaluator: SweepEvaluator
                     ) -> np.ndarray:
    """Logits of one point with the ordinary emulation: static formats, one compile per config.

    Every emulated layer of ``model`` is put on the concrete
    :func:`~pimjax.apps.sweep._datapath.training_hardware_for` hardware of ``point`` (with its
    own weights for per-layer weight scaling) and the model runs the test batches of
    ``evaluator`` with the same seeds, through :func:`pimjax.nn.emulated_dot`,
    :func:`pimjax.nn.phase_matmul` and :func:`pimjax.system.system_matmul`. The sweep must
    equal this bit for bit: the proof that the traced path is the emulated hardware.
    """
    from pimjax.apps.sweep._datapath import training_hardware_for

    m = with_hardware(model, lambda layer: training_hardware_for(point, hardware, layer.kernel[...]))

    @nnx.jit
    def step(m, x, s):
        logits = m(x, seed=s, train=False)
        nnx.pop(m, nnx.Intermediate)  # events the layers sow: not kept across batches
        return logits

    outs = [np.asarray(step(m, x, s)) for x, _, _, s in evaluator.batches()]
    lg = np.concatenate(outs)
    return lg[:evaluator.n]


def default_batch(n: int, batch_size: int) -> int:
    """The batch the evaluator uses for ``n`` examples and a requested ``batch_size``."""
    nb = math.ceil(n / batch_size)
    return math.ceil(n / nb)


__all__ = ["METRIC_NAMES", "SweepEvaluator", "default_batch", "reference_logits"]
