"""Per-layer, per-phase costs of a whole model from its shapes alone (nothing runs).

:func:`model_costs` lists a model's emulated GEMMs (``(layer, M, K, N)`` of the forward pass)
with :func:`pimjax.nn.gemm_shapes` (CNNs: the forward pass traced by :func:`jax.eval_shape` on an
abstract model) or :func:`pimjax.nn.translator_gemm_shapes` (the GNMT-like translator:
analytic), and costs each one in its three training phases with
:func:`pimjax.nn._layers.matmul_costs`:

* FF ``(M x K) @ (K x N)``, BP ``(M x N) @ (N x K)``, UP ``(K x M) @ (M x N)``;
* each phase on the system of that phase (``system``: a preset name, a
  :class:`~pimjax.hw.SystemConfig`, or a mapping phase -> either), with ``num_slices``
  replaced by ``slices`` when given, mapped by :meth:`pimjax.system.Mapping.even` (K split over
  the slices, output tiles owned in blocks) as the emulated layers do in training;
* a layer called several times (an LSTM layer once per time step) is costed as that many
  consecutive calls with the same weights (``matmul_costs(..., calls=c, resident_with=...)``):
  the counts and times are the sums over the calls, except that a slice's share of the weights
  that stays resident (register B or weight buffer, together with the layers interleaved with
  it) is loaded once (:func:`gemm_costs`).

So ``model_costs(...)[layer][phase]`` equals ``matmul_costs(m, k, n, hw, calls=c, resident_with=r)``
for a layer of ``c`` calls (``r``: the interleaved layers' weight shares), and for a layer called
once ``matmul_costs(m, k, n, hw)``. VGG16 at 224 x 224, batch 128, on 256 slices
takes about two seconds of CPU: every record is a closed-form function of the shapes and the mapping.

>>> c = model_costs("alexnet", batch=2, input_size=32, width=0.25, system="slices_hmc2", slices=4)
>>> list(c)[:2], sorted(c["features.conv1"])
(['features.conv1', 'features.conv2'], ['bp', 'ff', 'up'])
>>> int(c["features.conv1"]["ff"].macs) == 2 * 32 * 32 * 27 * 16
True
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping



from pimjax.cost import CostRecord, total
from pimjax.hw import SystemConfig, presets
from pimjax.nn import ATTENTION_PRODUCTS, PHASES, PhaseConfig, TrainingHardware

CNN_NAMES: tuple[str, ...] = ("alexnet", "vgg11", "vgg16", "resnet18", "resnet50")
TRANSLATOR_NAMES: tuple[str, ...] = ("translator", "gnmt")
"""The GNMT-size translator (:func:`pimjax.nn.gnmt_config`); ``"gnmt"`` is its old name."""
MODEL_NAMES: tuple[str, ...] = CNN_NAMES + ("translator",)

#: Default padded (source, target) lengths of the translator: Memory Slices Sec. 6 trains its
#: LSTMs with buckets (5, 10), (10, 15), (20, 25), (40, 50); the largest bucket is the default.
DEFAULT_SRC_LEN, DEFAULT_TGT_LEN = 40, 50

SystemSpec = str | SystemConfig | Mapping[str, str | SystemConfig]


MEMORY_SLICES_LSTM_BATCH: dict[str, int] = {"lstm0": 128, "lstm1": 128, "lstm2": 64, "lstm3": 256}
"""Batch (sentence pairs) of each Memory Slices LSTM stand-in: no LSTM batch is in the text; 128 is
its CNN batch (Sec. 6), and Sec. 7.1 says "The larger batch size of LSTM3 is the main reason for its
higher throughput compared to that of LSTM2" (so LSTM3's is larger than LSTM2's)."""


def memory_slices_lstm(name: str):
    """pimjax's stand-ins for the Memory Slices LSTM translators (a :class:`pimjax.nn.TranslatorConfig`).

    The paper's Table 3 (their parameters) is not in our copy. The stand-ins are chosen to agree
    with every statement of its text about them (docs/fidelity.md lists them):

    * "LSTM0 has parameters similar to Google NMT" (Sec. 6): ``"lstm0"`` is
      :func:`pimjax.nn.gnmt_config` (1024 units and embeddings, 8 + 8 layers, the first
      bidirectional, 32K vocabulary): gate matrices 2048 x 4096 (3072 x 4096 for ``enc1``, ``dec0``);
    * "LSTM0 and 2, those with largest weight matrices" (Sec. 7.2): ``"lstm2"`` has LSTM0's gate
      matrices (1024 units) with 4 + 4 layers; "LSTM2, which requires more computation" (Sec. 1,
      against LSTM1): 4x LSTM1's FLOPs per layer and word;
    * "LSTM1 and LSTM3 ... have highest performance efficiency" (Sec. 7.4) and LSTM3's batch is
      larger than LSTM2's (Sec. 7.1): ``"lstm1"`` and ``"lstm3"`` have 512 units, 4 + 4 layers
      (1024 x 2048 gates), batch 128 and 256 (:data:`MEMORY_SLICES_LSTM_BATCH`); lstm2's is 64.
    """
    from pimjax.nn import TranslatorConfig, gnmt_config

    common = dict(src_vocab=32000, tgt_vocab=32000, bidirectional=True, residual_from=2, input_feeding=True)
    if name == "lstm0":
        return gnmt_config()
    if name in ("lstm1", "lstm3"):
        return TranslatorConfig(embed_dim=512, hidden=512, enc_layers=4, dec_layers=4, **common)
    if name == "lstm2":
        return TranslatorConfig(embed_dim=1024, hidden=1024, enc_layers=4, dec_layers=4, **common)
    raise ValueError(f"unknown Memory Slices LSTM {name!r}; choose lstm0, lstm1, lstm2 or lstm3")


def _system(spec: str | SystemConfig, slices: int | None) -> SystemConfig:
    cfg = presets.get(spec) if isinstance(spec, str) else spec
    if not isinstance(cfg, SystemConfig):
        raise ValueError(f"system {spec!r} is a {type(cfg).__name__}, not a SystemConfig preset "
                         f"(system presets: {', '.join(system_presets())})")
    if slices is not None:
        if isinstance(slices, bool) or not isinstance(slices, int) or slices < 1:
            raise ValueError(f"slices must be a positive integer, got {slices!r}")
        cfg = cfg.replace(num_slices=slices)
    return cfg


def system_presets() -> list[str]:
    """Names of the presets that are slice systems (:class:`~pimjax.hw.SystemConfig`)."""
    return [n for n in presets.names() if isinstance(presets.get(n), SystemConfig)]


def phase_hardware(system: SystemSpec = "slices_hmc2", slices: int | None = None,
                   modules: int = 1) -> TrainingHardware:
    """The :class:`~pimjax.nn.TrainingHardware` whose three phases run on ``system``.

    Args:
      system: one system for all phases (a preset name or a :class:`~pimjax.hw.SystemConfig`),
        or a mapping ``{"ff": ..., "bp": ..., "up": ...}`` (NeuroTrainer: FF on
        ``"neurotrainer_module_ff"``, BP/UP on ``"neurotrainer_module_bp"``).
      slices: overrides every phase system's ``num_slices`` (``None``: the presets' own).
      modules: synchronous data-parallel modules, each a copy of the system (NeuroTrainer
        Sec. 5.3; :mod:`pimjax.nn._modules`), with the default central unit.
    """
    if isinstance(system, Mapping):
        missing = [p for p in PHASES if p not in system]
        if missing:
            raise ValueError(f"system mapping lacks phases {missing}")
        cfgs = {p: _system(system[p], slices) for p in PHASES}
    else:
        cfg = _system(system, slices)
        cfgs = {p: cfg for p in PHASES}
    return TrainingHardware(**{p: PhaseConfig(system=cfgs[p]) for p in PHASES}, modules=modules)


def model_gemms(model: Any, *, batch: int, input_size: int = 224, width: float = 1.0, num_classes: int = 1000,
                src_len: int = DEFAULT_SRC_LEN, tgt_len: int = DEFAULT_TGT_LEN) -> list[tuple[str, int, int, int]]:
    """The forward GEMMs ``(layer, M, K, N)`` of one batch, one entry per call, in call order.

    Args:
      model: a CNN name (:data:`CNN_NAMES`), ``"translator"`` (GNMT size, :func:`pimjax.nn.gnmt_config`), or a
        :class:`pimjax.nn.TranslatorConfig`.
      batch: images or sentence pairs per batch.
      input_size, width, num_classes: the CNN (:func:`pimjax.nn.make_cnn`); ignored by translators.
      src_len, tgt_len: padded source / target lengths of a translator batch.
    """
    from pimjax.nn import TranslatorConfig

    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    if isinstance(model, TranslatorConfig) or model in TRANSLATOR_NAMES:
        from pimjax.nn import gnmt_config, translator_gemm_shapes

        cfg = model if isinstance(model, TranslatorConfig) else gnmt_config()
        return [tuple(g) for g in translator_gemm_shapes(cfg, batch, src_len, tgt_len)]
    if model in CNN_NAMES:
        from pimjax.nn import abstract_cnn, gemm_shapes, training_hardware

        net = abstract_cnn(model, hw=training_hardware("native"), num_classes=num_classes,
                           input_size=input_size, width=width)
        return gemm_shapes(net, batch)
    raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODEL_NAMES)}")


def _keys(gemms: list[tuple[str, int, int, int]]) -> list[tuple[str, int, int, int]]:
    """``(name, M, K, N)`` of every call as ``(str, int, int, int)``, converted once per distinct GEMM."""
    rows = [tuple(g) for g in gemms]
    conv = {g: (str(g[0]), int(g[1]), int(g[2]), int(g[3])) for g in dict.fromkeys(rows)}
    return [conv[g] for g in rows]


def interleaved(gemms: list[tuple[str, int, int, int]]) -> dict[tuple[str, int, int, int], set]:
    """For every GEMM called more than once: the other GEMMs called between two of its calls.

    An LSTM layer of the encoder runs all its time steps back to back (nothing in between); a
    decoder layer shares every step with the other decoder layers and the attention.
    """
    return _between(_keys(gemms))


def _between(keys: list[tuple[str, int, int, int]]) -> dict[tuple[str, int, int, int], set]:
    """:func:`interleaved` of converted keys: the GEMMs between a key's first and last calls
    (every call in between lies between two successive calls of the key), less the key itself."""
    first: dict[tuple, int] = {}
    last: dict[tuple, int] = {}  # keys called again, in the order of their second calls
    for i, key in enumerate(keys):
        if key in first:
            last[key] = i
        else:
            first[key] = i
    return {key: set(keys[first[key] + 1:j]) - {key} for key, j in last.items()}


def gemm_costs(gemms: list[tuple[str, int, int, int]], hw: TrainingHardware, *, no_reuse: Any = None
               ) -> "OrderedDict[str, dict[str, CostRecord]]":
    """``layer -> phase -> CostRecord`` of a list of forward GEMMs (summed over a layer's calls).

    A GEMM called several times (an LSTM layer once per time step) is costed as ``calls``
    consecutive calls with the same weights (:func:`pimjax.nn._layers.matmul_costs`): in FF and
    BP a slice's share of the weights stays resident across the calls when it fits the slice's
    weight storage together with the shares of the layers interleaved with it
    (:func:`interleaved`, :func:`pimjax.cost.weight_share_bytes`). Layers named in
    ``no_reuse`` (default: the translator's attention products,
    :data:`pimjax.nn.ATTENTION_PRODUCTS`) preload a new operand on every call: ``calls`` calls
    without reuse, as they record themselves in training; with ``hw.modules > 1`` they are
    per-example products, spread over the modules (``matmul_costs(..., per_example=True)``).
    """
    no_reuse = frozenset(ATTENTION_PRODUCTS if no_reuse is None else no_reuse)
    from pimjax.cost import weight_share_bytes
    from pimjax.nn._layers import matmul_costs

    keys = _keys(gemms)
    calls: "OrderedDict[tuple[str, int, int, int], int]" = OrderedDict()
    for key in keys:
        calls[key] = calls.get(key, 0) + 1
    between = _between(keys)
    share_cache: dict[tuple, int] = {}

    def share(phase: str, k: int, n: int) -> int:
        cfg = hw.phase(phase).system
        if cfg is None:
            return 0
        kk, nn = (k, n) if phase == "ff" else (n, k)  # BP holds W.T
        key = (phase, kk, nn)
        if key not in share_cache:
            share_cache[key] = weight_share_bytes(kk, nn, cfg)
        return share_cache[key]

    cache: dict[tuple, dict[str, CostRecord]] = {}
    out: "OrderedDict[str, dict[str, CostRecord]]" = OrderedDict()
    for key, times in calls.items():
        name, m, k, n = key
        if times > 1 and name not in no_reuse:
            others = between.get(key, set())
            resident = {ph: sum(share(ph, o[2], o[3]) for o in others) for ph in ("ff", "bp")}
            ck = (m, k, n, times, tuple(sorted(resident.items())))
        else:
            resident = None
            ck = (m, k, n, times, name in no_reuse)
        if ck not in cache:
            cache[ck] = matmul_costs(m, k, n, hw, calls=times, resident_with=resident, per_example=name in no_reuse)
        recs = cache[ck]
        if name in out:
            out[name] = {p: out[name][p] + recs[p] for p in PHASES}
        else:
            out[name] = dict(recs)
    return out


def check_batch_modules(batch: int, modules: int) -> None:
    """ValueError unless ``batch`` is divisible by ``modules`` (each module gets 1/modules of it)."""
    if isinstance(batch, int) and isinstance(modules, int) and modules >= 1 and batch % modules:
        raise ValueError(f"batch ({batch}) must be divisible by modules ({modules}): each module trains on a "
                         f"contiguous 1/modules of the batch (NeuroTrainer Sec. 5.3)")


def model_costs(model_name: Any, *, batch: int, input_size: int = 224, system: SystemSpec = "slices_hmc2",
                slices: int | None = None, width: float = 1.0, num_classes: int = 1000,
                src_len: int = DEFAULT_SRC_LEN, tgt_len: int = DEFAULT_TGT_LEN, modules: int = 1
                ) -> "OrderedDict[str, dict[str, CostRecord]]":
    """``layer -> phase ("ff", "bp", "up") -> CostRecord`` of one training batch, from shapes only.

    Args:
      model_name: ``"alexnet"``, ``"vgg11"``, ``"vgg16"``, ``"resnet18"``, ``"resnet50"``,
        ``"translator"`` (GNMT size), or a :class:`pimjax.nn.TranslatorConfig`.
      batch: batch size.
      input_size: CNN input side (ignored by translators).
      system: the slice system of every phase, or a mapping phase -> system
        (:func:`phase_hardware`).
      slices: number of slices (``None``: the preset's).
      width, num_classes: CNN channel multiplier and classes.
      src_len, tgt_len: translator padded lengths.
      modules: synchronous data-parallel modules (:func:`phase_hardware`); ``batch`` must be
        divisible by it.

    Layers appear in call order; a translator layer's record sums its time steps.
    """
    hw = phase_hardware(system, slices, modules)
    check_batch_modules(batch, modules)
    gemms = model_gemms(model_name, batch=batch, input_size=input_size, width=width, num_classes=num_classes,
                        src_len=src_len, tgt_len=tgt_len)
    return gemm_costs(gemms, hw)


def phase_totals(costs: Mapping[str, Mapping[str, CostRecord]]) -> dict[str, CostRecord]:
    """Per-phase totals and ``"all"`` (FF + BP + UP) of a :func:`model_costs` table."""
    out = {p: total(layer[p] for layer in costs.values() if p in layer) for p in PHASES}
    out["all"] = total(out[p] for p in PHASES)
    return out


def cost_rows(costs: Mapping[str, Mapping[str, CostRecord]], *, with_totals: bool = True) -> list[dict[str, Any]]:
    """Tidy rows ``{"layer", "phase", <every CostRecord field and derived quantity>}``."""
    rows = []
    for layer, phases in costs.items():
        for p in PHASES:
            if p in phases:
                rows.append({"layer": layer, "phase": p, **phases[p].to_dict()})
    if with_totals:
        for p, rec in phase_totals(costs).items():
            rows.append({"layer": "TOTAL", "phase": p, **rec.to_dict()})
    return rows
