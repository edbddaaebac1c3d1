"""Synchronous data-parallel training on several modules (NeuroTrainer Sec. 5.3, AMD Sec. 5.1).

NeuroTrainer Sec. 5.3 and Fig. 17: "multiple NeuroTrainer can be used in parallel
... we propose to perform **synchronous** training. After training a single input batch, N
NeuroTrainer delivers dW to a central unit (latency = T2). The central unit needs to take all
dW from N NeuroTrainers, and generates new W". AMD Sec. 5.1: "In data parallelism,
the input batch of images is partitioned across PIMs. Each PIM GPU gets a subset of the data
and works on the full model."

With :attr:`TrainingHardware.modules <pimjax.nn.TrainingHardware>` ``= N > 1`` every emulated
matmul of training runs on a node of ``N`` identical modules (:class:`~pimjax.hw.ParallelConfig`
with ``unit`` = the phase's :class:`~pimjax.hw.SystemConfig`), each holding the whole model
(weights replicated), each with a contiguous ``1/N`` of the minibatch:

* FF ``Y = X W`` and BP ``dX = dY W^T``: the matmul's rows are the batch rows (``x.reshape(-1,
  K)`` is batch-major; the im2col rows of one image are contiguous), run with
  :func:`pimjax.system.parallel_matmul` scheme ``"data"``: module ``u`` computes rows
  ``[u M / N, (u + 1) M / N)`` with key ``fold_key(key, u)``. The leading batch dimension must
  be divisible by ``N`` (:func:`check_module_batch`), so the blocks fall on example boundaries.
* UP ``dW = X^T dY``: K is the batch rows; scheme ``"model"`` with ``k_ranges`` = the same
  example-aligned row blocks (:func:`module_blocks`): module ``u`` computes the partial
  ``X_u^T dY_u`` of its own examples and the central unit (the node's host, an aggregation
  engine: :attr:`TrainingHardware.central`, default :func:`default_central`) adds the partials
  in ascending module order, then writes the new dW, which every module then shares (the copy
  back, AMD Sec. 5.4). The loss is the mean over the whole minibatch, so each partial already
  carries the ``1/B`` factor: their *sum* is NeuroTrainer's ``average(dW)`` of the modules'
  per-module mean gradients (each a mean over ``B / N`` examples).
* The events of the whole node (operand checks, every module, the central unit) flow where a
  single system's do: FF returned by :func:`~pimjax.nn.emulated_dot`, BP/UP through the probe.
* Costs (:func:`node_cost`): :func:`pimjax.cost.parallel_cost` per phase, FF/BP ``"data"``
  (work summed over the modules, the slowest module's time, B counted once per module), UP
  ``"model"`` with the same ``k_ranges`` (plus the central reduction and the copy-back of dW,
  NeuroTrainer's T2: ``pimjax.cost.host_sync``). One sync per call of a layer (an LSTM layer
  syncs once per time step: its per-step dW is formed on the hardware).

Where ``modules`` does not change the arithmetic, and where it is refused:

* Attention's activation x activation products (:func:`~pimjax.nn.emulated_bmm`, one matmul
  per sentence) are routed per module: sentence ``i`` runs whole on the module holding it
  (module ``i // (B / N)``), all three phases, with its own key as with one module (sentence
  keys are already distinct), so the numbers equal ``modules = 1``'s; there is nothing to
  sync (the UP operand is an activation, not a weight). Costs: ``B / N`` calls per module,
  the modules concurrent (:func:`concurrent`). The batch must be divisible by ``N``.
* Native phases (``system=None``, precision ``"native"``: the float32 reference) have no
  hardware: their product is computed whole and costed as MACs, whatever ``modules``.
* The sweeps' traced-numerics forward pass (:func:`pimjax.nn._noise.override_forward`) runs on
  one system: ``emulated_dot`` raises NotImplementedError there for ``modules > 1``.
* Float layers between the matmuls (batch norm, softmax, pooling) see the whole minibatch
  (batch norm's statistics are then those of a synchronized batch norm).
"""

from __future__ import annotations

from typing import Any

from pimjax.cost import CostRecord, parallel_cost, system_cost, total
from pimjax.hw import AggregationConfig, ParallelConfig, SystemConfig
from pimjax.numerics import FixedFormat, FloatFormat
from pimjax.system import Mapping
from pimjax.system._parallel import row_splits

MODULE_SCHEMES: dict[str, str] = {"ff": "data", "bp": "data", "up": "model"}
"""How each training phase is split over the modules (module docstring)."""

_TIME_FIELDS = ("time_compute_s", "time_memory_s", "time_icn_s", "time_s")
_EVENT_FIELDS = ("overflow", "nan", "inf", "random_bits")


def default_central(up: SystemConfig) -> AggregationConfig:
    """The central unit's reduction of the modules' dW partials when none is given.

    The partials arrive as each module's UP output codes (its aggregation output format, or its
    aggregation accumulator when that is exact). The central unit

    * reads them as they are (``packet_format=None``: no requantization on the way in);
    * adds them in a 32-bit saturating accumulator with the same fraction bits: NeuroTrainer's
      BP/UP datapath is 32-bit fixed point (Sec. 3.3.2, Table 4), and the sum of ``N`` partials
      may leave a narrower UP output format (``fixed16``'s Q4.12) before the last addition
      brings it back, so the range is only enforced once, at the end;
    * saturates the sum to the UP output format (``nearest_even``; at equal fraction bits no
      rounding happens, so no random bits are used and no key is needed): dW leaves the
      central unit in the format one module would deliver it in.

    On a float datapath (``bf16``, ``fp32``) the accumulator is the UP aggregation's own (fp32)
    and every rounding is to nearest even, as the aggregation engine's.
    """
    agg = up.aggregation
    if up.array.is_float:
        return AggregationConfig(packet_format=None, accumulator_format=agg.accumulator_format,
                                 output_format=agg.output_format)
    fmt = agg.output_format if agg.output_format is not None else agg.accumulator_format
    acc = FixedFormat(bits=max(32, int(fmt.bits)), frac=int(fmt.frac), signed=bool(fmt.signed), overflow="saturate")
    return AggregationConfig(packet_format=None, accumulator_format=acc, output_format=agg.output_format,
                             output_rounding="nearest_even")


def module_node(system: SystemConfig, modules: int, phase: str, central: AggregationConfig | None) -> ParallelConfig:
    """The node of ``modules`` copies of ``system`` that runs ``phase`` (:data:`MODULE_SCHEMES`);
    UP's host is ``central`` (``None``: :func:`default_central`)."""
    scheme = MODULE_SCHEMES[phase]
    host = None
    if scheme == "model":
        host = central if central is not None else default_central(system)
    return ParallelConfig(unit=system, num_units=modules, scheme=scheme, host=host, name=f"{modules} modules")


def module_blocks(rows: int, modules: int) -> tuple[tuple[int, int], ...]:
    """The modules' contiguous blocks of ``rows`` batch rows (``rows`` divisible by ``modules``):
    FF/BP's row split and UP's ``k_ranges``.

    >>> module_blocks(12, 3)
    ((0, 4), (4, 8), (8, 12))
    """
    return row_splits(rows, modules)


def check_module_batch(shape: tuple[int, ...], modules: int, who: str) -> None:
    """ValueError unless the leading (batch) dimension of ``shape`` is divisible by ``modules``."""
    if modules == 1:
        return
    if len(shape) < 2:
        raise ValueError(f"{who}: TrainingHardware.modules is {modules}, so the input needs a leading batch "
                         f"dimension to split over the modules, got shape {tuple(shape)}")
    if shape[0] % modules:
        raise ValueError(f"{who}: the batch size {shape[0]} (the input's leading dimension) must be divisible by "
                         f"TrainingHardware.modules ({modules}): each module gets a contiguous 1/modules of the "
                         f"minibatch (NeuroTrainer Sec. 5.3)")


def concurrent(rec: CostRecord, modules: int) -> CostRecord:
    """``modules`` modules each doing ``rec``'s work at the same time, with no sync: the work,
    bytes and energy of all of them, the time of one (AMD Sec. 5.1: no inter-PIM communication)."""
    out = total([rec] * modules)
    return out.replace(**{f: getattr(rec, f) for f in _TIME_FIELDS})


def repeated(rec: CostRecord, calls: int) -> CostRecord:
    """``calls`` consecutive calls of ``rec`` (every field, times and sync included, summed)."""
    return total([rec] * calls) if calls > 1 else rec


def with_events(rec: CostRecord, events: Any) -> CostRecord:
    """``rec`` with its numeric events replaced by ``events`` (a NumericEvents, or None: kept)."""
    if events is None:
        return rec
    made = CostRecord.make(**{f: getattr(events, f) for f in _EVENT_FIELDS})
    return rec.replace(**{f: getattr(made, f) for f in _EVENT_FIELDS})


def node_cost(m: int, k: int, n: int, node: ParallelConfig, *, calls: int = 1, reuse_weights: bool = False,
              other_weights: int = 0) -> CostRecord:
    """Cost (no events) of ``calls`` consecutive ``(m x k) @ (k x n)`` matmuls of a training phase
    on the modules' node (module docstring).

    One call is :func:`pimjax.cost.parallel_cost` (``"model"``: ``k_ranges`` =
    :func:`module_blocks` of K, the batch rows). ``calls`` calls are ``calls`` node calls (each
    with its own sync), except that in FF/BP (``"data"``) with ``reuse_weights`` each module
    costs its rows as :func:`pimjax.cost.system_cost` does for one system (weights resident
    across the calls), the modules concurrent (:func:`concurrent`).

    Raises:
      ValueError: the batch rows (``m`` for ``"data"``, ``k`` for ``"model"``) not divisible by
        the number of modules.
    """
    nm = node.num_units
    rows = m if node.scheme == "data" else k
    if rows % nm:
        raise ValueError(f"the batch rows of a matmul ({rows}) must be divisible by TrainingHardware.modules ({nm})")
    if node.scheme == "data" and reuse_weights:
        unit = node.unit
        mp = Mapping.even(k=k, n=n, num_slices=unit.num_slices, width=unit.array.width, rows=unit.array.rows)
        one = system_cost(m // nm, mp.k_sizes, n, mp.owners, mp.tile_cols, unit, calls=calls, reuse_weights=True,
                          other_weights=other_weights)
        return concurrent(one, nm)
    kr = module_blocks(k, nm) if node.scheme == "model" else None
    return repeated(parallel_cost(m, k, n, node, k_ranges=kr), calls)


def per_example_cost(m: int, k: int, n: int, system: SystemConfig, *, examples: int, modules: int) -> CostRecord:
    """Cost (no events) of ``examples`` independent ``(m x k) @ (k x n)`` matmuls, one per example
    (attention's per-sentence products), spread over ``modules`` modules: ``examples / modules``
    consecutive :func:`pimjax.cost.system_cost` calls per module, the modules concurrent.

    Raises:
      ValueError: ``examples`` not divisible by ``modules``.
    """
    if examples % modules:
        raise ValueError(f"the per-example matmuls ({examples} calls) must be divisible by "
                         f"TrainingHardware.modules ({modules}): each module runs the products of its examples")
    mp = Mapping.even(k=k, n=n, num_slices=system.num_slices, width=system.array.width, rows=system.array.rows)
    one = system_cost(m, mp.k_sizes, n, mp.owners, mp.tile_cols, system, calls=examples // modules)
    return concurrent(one, modules)


def node_output_frac(node: ParallelConfig) -> int | None:
    """Fraction bits of the node's output codes (``None`` on a float datapath or float output):
    the unit aggregation's for ``"data"``, the central unit's for ``"model"``."""
    agg = node.unit.aggregation if node.scheme == "data" else node.host
    return out_frac(agg, node.unit.array.is_float)


def out_frac(agg: AggregationConfig, is_float: bool) -> int | None:
    """Fraction bits of the output codes of an aggregation engine (``None``: float values)."""
    of = agg.output_format
    if is_float or isinstance(of, FloatFormat):
        return None
    return int(of.frac) if isinstance(of, FixedFormat) else int(agg.accumulator_format.frac)


__all__ = ["MODULE_SCHEMES", "check_module_batch", "concurrent", "default_central", "module_blocks", "module_node",
           "node_cost", "node_output_frac", "out_frac", "per_example_cost", "repeated", "with_events"]
