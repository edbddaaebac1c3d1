"""Execution time and memory per PIM of conv, pool and FC layers on a host or on several PIMs.

AMD multi-PIM paper (Xu, Zhang, Jayasena, seed 000), Sec. 5-6: a layer runs either on the
host GPU, or on ``N`` PIM GPUs with *data parallelism* (the batch is split, every PIM holds the
whole model) or *model parallelism* (the model is split; for the FC layer the host reduces the
partial sums and the other PIMs copy the result back from PIM0). The paper's numbers come
from a machine-learned GPU performance model (its Sec. 4) that is not public; this module is
an analytic roofline model of the same organisation. It is a plain-Python (float) model of
configurations: the shapes are static, nothing here is traced.

Notation: ``e`` bytes per element; ``N`` PIMs; ``P_pim``, ``BW_pim`` a PIM's peak (FLOP/s)
and in-stack bandwidth (bytes/s); ``BW_r = remote_bandwidth_fraction * BW_pim`` (AMD Sec. 3:
1/8, i.e. 40 GB/s); ``P_host``, ``BW_host`` the host's peak and total bandwidth,
``BW_hs = BW_host / N`` its bandwidth to one stack. ``ceil`` splits: the slowest (largest)
partition sets the time and the memory per PIM.

Per device, roofline (compute and memory streams overlap)::

    T_compute = F_d / P_d,  T_memory = Q_d / BW_d,  T_kernel = max(T_compute, T_memory)

with ``F_d`` the device's FLOPs and ``Q_d`` its DRAM traffic in bytes. The sync steps do not
overlap the kernel or each other (each waits for the previous one)::

    T_total = T_kernel + T_reduction + T_copy_back

Work and traffic of the layers (``Q`` counts compulsory traffic: every operand read once,
every result written once; on-chip caches are assumed to capture all reuse):

* FC ``Y[B, M] = X[B, K] @ W[K, M]``: ``F = 2 B K M``, ``Q = e (B K + K M + B M)``.
* Conv, ``B`` images ``C x H x W``, ``F`` filters ``C x k x k``, stride ``s``, output
  ``Ho x Wo`` (``same``: ``ceil(H / s)``; ``valid``: ``(H - k) // s + 1``):
  ``F = 2 B F Ho Wo C k^2``. Lowered to a matmul by im2col (DESIGN.md; the GPU practice of
  the time): the column matrix ``B Ho Wo x C k^2`` is written and read back, so
  ``Q = e (B C H W + 2 B Ho Wo C k^2 + F C k^2 + B F Ho Wo)``; ``lowering="direct"`` drops
  the column matrix (ideal reuse).
* Max pool, window ``k``, stride ``s`` (default ``k``, as in the paper), no padding:
  ``F = B C Ho Wo (k^2 - 1)`` comparisons (one FLOP each), ``Q = e (B C H W + B C Ho Wo)``.

Host execution: the whole layer on the host GPU, data spread over all stacks (the host
"can simultaneously access all the memory stacks", Sec. 6.1): ``P_d = P_host``,
``BW_d = BW_host``; no sync.

Data parallelism (Sec. 5.1-5.3): every PIM runs the layer on ``b = ceil(B / N)`` images with
the full model at ``P_pim``, ``BW_pim``. The paper evaluates the forward pass only (Sec. 5.2:
"no backward propagation and no weights update"), where data parallelism needs no inter-PIM
communication (Sec. 5.1); outputs stay distributed by batch. So ``T_reduction =
T_copy_back = 0``. (Training would add a weight-gradient all-reduce; the paper does not
describe one and it is not modelled.)

Model parallelism:

* FC (Sec. 5.4, Fig. 7): the *input features* (visible units) are split, ``k = ceil(K / N)``
  per PIM. Each PIM reads its ``B x k`` slice of X and its ``k x M`` rows of W and writes a
  ``B x M`` partial sum: ``F_d = 2 B k M``, ``Q_d = e (B k + k M + B M)``. Then, with
  ``R = e B M`` the bytes of one partial sum (and of the result):

  - reduction on the host GPU: it reads the ``N`` partial sums, one per stack, all stacks at
    once at ``BW_hs`` each, adds them (``(N - 1) B M`` FLOPs) and writes the result to PIM0's
    stack. PIM0's stack link carries both its partial sum and the result (a DRAM bus is
    shared by reads and writes), so ``T_reduction = max((N - 1) B M / P_host, 2 R / BW_hs)``;
  - copy-back: the other ``N - 1`` PIMs fetch the result from PIM0 at the remote bandwidth
    ``BW_r`` (Sec. 6.4: "for PIM to PIM memory copy, we assume the memory bandwidth is 1/8 of
    the local in-stack memory access bandwidth"). The paper does not say whether the copies
    share PIM0's stack; the default ``copy_back="concurrent"`` lets every PIM copy at its own
    ``BW_r``: ``T_copy_back = R / BW_r``; ``copy_back="serialized"`` shares one ``BW_r``:
    ``T_copy_back = (N - 1) R / BW_r``. Local writes of the copy (at ``BW_pim``) overlap.
  - With ``N = 1`` there is nothing to reduce: both steps are 0.
* Conv (Sec. 5.2): the filters are split, ``f = ceil(F / N)`` per PIM; every PIM reads the
  full input batch (and builds the full im2col matrix) and writes its own output channels,
  which need no reduction (Sec. 5.3: the next layer works on any grouping): no sync steps.
  The paper itself evaluates conv with data parallelism only.
* Pool: no parameters, hence no model parallelism (Sec. 5.3): :func:`model_parallel_time`
  raises ``ValueError``.

Memory per PIM (Fig. 11), bytes, the largest partition:

* data parallel: inputs ``e b K``, weights ``e K M`` (replicated), outputs ``e b M``;
* model parallel FC: inputs ``e B k`` (only its features, as in Fig. 7), weights ``e k M``,
  partial sums ``e B M``, outputs ``e B M`` (the reduced result copied back; on PIM0 written
  by the host);
* conv adds an im2col workspace (``e b Ho Wo C k^2``, data; ``e B Ho Wo C k^2``, model) for
  ``lowering="im2col"``; conv model parallel holds the full input and ``f`` filters.

>>> from pimjax import hw
>>> from pimjax.cost._multipim import FCLayer, model_parallel_time, model_parallel_memory
>>> fc = FCLayer(batch=128, in_features=4096, out_features=4096)
>>> t = model_parallel_time(fc, hw.presets.get("4PIM"))
>>> t.bound, round(t.copy_back_s * 1e6, 2)  # 128*4096*4 bytes at 40 GB/s
('compute', 52.43)
>>> model_parallel_memory(fc, 4).weights_bytes == 4096 * 4096 * 4 // 4
True
"""

from __future__ import annotations

import dataclasses
from typing import Any, Union

from pimjax.hw._pim import HostConfig, NodeConfig

SCHEMES: tuple[str, ...] = ("host", "data", "model")
"""Execution schemes: the host GPU alone, data parallelism, model parallelism on the PIMs."""

COPY_BACK_MODES: tuple[str, ...] = ("concurrent", "serialized")
"""How the other PIMs fetch the reduced result from PIM0 (see the module docstring)."""

CONV_PADDINGS: tuple[str, ...] = ("same", "valid")
CONV_LOWERINGS: tuple[str, ...] = ("im2col", "direct")


def _int(name: str, v: Any, lo: int = 1, hi: int = 1 << 40) -> None:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__}")
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}, got {v}")


def _choice(name: str, v: Any, valid: tuple[str, ...]) -> None:
    if v not in valid:
        raise ValueError(f"{name} must be one of {valid}, got {v!r}")


# ---------------------------------------------------------------------------------------------
# Layers


@dataclasses.dataclass(frozen=True, kw_only=True)
class FCLayer:
    """A fully connected layer ``Y[B, M] = X[B, K] @ W[K, M]`` (AMD Sec. 2.3; no bias).

    Args:
      batch: ``B``, input vectors (images) per batch.
      in_features: ``K``, visible units (input size).
      out_features: ``M``, hidden units (layer size).
      bytes_per_element: ``e``, bytes of one value (4: fp32, as on the paper's GPUs).
    """

    batch: int
    in_features: int
    out_features: int
    bytes_per_element: int = 4

    def __post_init__(self) -> None:
        _int("FCLayer.batch", self.batch)
        _int("FCLayer.in_features", self.in_features)
        _int("FCLayer.out_features", self.out_features)
        _int("FCLayer.bytes_per_element", self.bytes_per_element, 1, 16)

    @property
    def flops(self) -> int:
        """``2 B K M``."""
        return 2 * self.batch * self.in_features * self.out_features

    @property
    def input_elements(self) -> int:
        return self.batch * self.in_features

    @property
    def weight_elements(self) -> int:
        return self.in_features * self.out_features

    @property
    def output_elements(self) -> int:
        return self.batch * self.out_features

    @property
    def traffic_bytes(self) -> int:
        """Compulsory DRAM traffic ``e (B K + K M + B M)``."""
        return self.bytes_per_element * (self.input_elements + self.weight_elements + self.output_elements)

    def replace(self, **changes: Any) -> "FCLayer":
        """``dataclasses.replace`` with validation."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConvLayer:
    """A convolutional layer on a batch of ``C x H x W`` images (AMD Sec. 2.1, 6.2; no bias).

    Args:
      batch: ``B``, images per batch (paper: 256).
      channels: ``C``, input channels = filter depth (paper: 16).
      height, width: ``H``, ``W`` of an input image in pixels (paper: 256 x 256).
      filters: ``F``, number of filters = output channels (paper: 16).
      filter_size: ``k``, filters are ``C x k x k`` (paper: 3, 5, 7, 11).
      stride: ``s`` (paper: 1).
      padding: ``"same"`` (zero padding, output ``ceil(H / s)``, paper Fig. 3) or ``"valid"``.
      lowering: ``"im2col"`` (column matrix written and read back) or ``"direct"``.
      bytes_per_element: ``e`` (4: fp32).
    """

    batch: int
    channels: int
    height: int
    width: int
    filters: int
    filter_size: int
    stride: int = 1
    padding: str = "same"
    lowering: str = "im2col"
    bytes_per_element: int = 4

    def __post_init__(self) -> None:
        for f in ("batch", "channels", "height", "width", "filters", "filter_size", "stride"):
            _int(f"ConvLayer.{f}", getattr(self, f))
        _int("ConvLayer.bytes_per_element", self.bytes_per_element, 1, 16)
        _choice("ConvLayer.padding", self.padding, CONV_PADDINGS)
        _choice("ConvLayer.lowering", self.lowering, CONV_LOWERINGS)
        if self.padding == "valid" and self.filter_size > min(self.height, self.width):
            raise ValueError(
                f"ConvLayer.filter_size must be <= min(height, width) = {min(self.height, self.width)} "
                f"with padding='valid', got {self.filter_size}"
            )

    @property
    def out_height(self) -> int:
        if self.padding == "same":
            return -(-self.height // self.stride)
        return (self.height - self.filter_size) // self.stride + 1

    @property
    def out_width(self) -> int:
        if self.padding == "same":
            return -(-self.width // self.stride)
        return (self.width - self.filter_size) // self.stride + 1

    @property
    def flops(self) -> int:
        """``2 B F Ho Wo C k^2``."""
        return 2 * self.output_elements * self.channels * self.filter_size**2

    @property
    def input_elements(self) -> int:
        return self.batch * self.channels * self.height * self.width

    @property
    def weight_elements(self) -> int:
        return self.filters * self.channels * self.filter_size**2

    @property
    def output_elements(self) -> int:
        return self.batch * self.filters * self.out_height * self.out_width

    @property
    def workspace_elements(self) -> int:
        """The im2col column matrix ``B Ho Wo x C k^2`` (0 for ``lowering="direct"``)."""
        if self.lowering == "direct":
            return 0
        return self.batch * self.out_height * self.out_width * self.channels * self.filter_size**2

    @property
    def traffic_bytes(self) -> int:
        """``e (B C H W + 2 * im2col + F C k^2 + B F Ho Wo)``."""
        return self.bytes_per_element * (
            self.input_elements + 2 * self.workspace_elements + self.weight_elements + self.output_elements
        )

    def replace(self, **changes: Any) -> "ConvLayer":
        """``dataclasses.replace`` with validation."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PoolLayer:
    """A max-pooling layer, ``k x k`` windows per channel, no padding (AMD Sec. 2.2, 6.3).

    Args:
      batch: ``B``, images per batch (paper: 256).
      channels: ``C`` (paper: 16).
      height, width: ``H``, ``W`` of an input image (paper: 256 x 256).
      filter_size: ``k``, window size (paper: 2, 3, 4, 5).
      stride: ``s``; ``None`` means ``k`` (the paper: "stride size is set to the filter size").
      bytes_per_element: ``e`` (4: fp32).
    """

    batch: int
    channels: int
    height: int
    width: int
    filter_size: int
    stride: int | None = None
    bytes_per_element: int = 4

    def __post_init__(self) -> None:
        for f in ("batch", "channels", "height", "width", "filter_size"):
            _int(f"PoolLayer.{f}", getattr(self, f))
        if self.stride is not None:
            _int("PoolLayer.stride", self.stride)
        _int("PoolLayer.bytes_per_element", self.bytes_per_element, 1, 16)
        if self.filter_size > min(self.height, self.width):
            raise ValueError(
                f"PoolLayer.filter_size must be <= min(height, width) = {min(self.height, self.width)}, "
                f"got {self.filter_size}"
            )

    @property
    def effective_stride(self) -> int:
        return self.filter_size if self.stride is None else self.stride

    @property
    def out_height(self) -> int:
        return (self.height - self.filter_size) // self.effective_stride + 1

    @property
    def out_width(self) -> int:
        return (self.width - self.filter_size) // self.effective_stride + 1

    @property
    def flops(self) -> int:
        """``B C Ho Wo (k^2 - 1)`` comparisons."""
        return self.output_elements * (self.filter_size**2 - 1)

    @property
    def input_elements(self) -> int:
        return self.batch * self.channels * self.height * self.width

    @property
    def weight_elements(self) -> int:
        return 0

    @property
    def output_elements(self) -> int:
        return self.batch * self.channels * self.out_height * self.out_width

    @property
    def traffic_bytes(self) -> int:
        """``e (B C H W + B C Ho Wo)``."""
        return self.bytes_per_element * (self.input_elements + self.output_elements)

    def replace(self, **changes: Any) -> "PoolLayer":
        """``dataclasses.replace`` with validation."""
        return dataclasses.replace(self, **changes)


Layer = Union[FCLayer, ConvLayer, PoolLayer]


def _check_layer(layer: Any) -> None:
    if not isinstance(layer, (FCLayer, ConvLayer, PoolLayer)):
        raise TypeError(f"layer must be an FCLayer, ConvLayer or PoolLayer, got {type(layer).__name__}")


# ---------------------------------------------------------------------------------------------
# Results


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExecutionTime:
    """Time of one layer under one scheme, in seconds (see the module docstring).

    Attributes:
      scheme: ``"host"``, ``"data"`` or ``"model"``.
      config: name of the host or node.
      num_devices: GPUs that run the layer's kernel (1 for the host).
      flops: FLOPs of the busiest device's kernel.
      traffic_bytes: DRAM bytes of the busiest device's kernel.
      compute_s: ``flops / peak``.
      memory_s: ``traffic_bytes / bandwidth``.
      reduction_s: host-side reduction of model-parallel partial sums (write to PIM0 included).
      copy_back_s: other PIMs fetching the result from PIM0 at the remote bandwidth.
    """

    scheme: str
    config: str
    num_devices: int
    flops: float
    traffic_bytes: float
    compute_s: float
    memory_s: float
    reduction_s: float = 0.0
    copy_back_s: float = 0.0

    @property
    def kernel_s(self) -> float:
        """``max(compute_s, memory_s)``: the device kernel (paper Fig. 10, purple)."""
        return max(self.compute_s, self.memory_s)

    @property
    def sync_s(self) -> float:
        """``reduction_s + copy_back_s`` (Fig. 10, green + yellow)."""
        return self.reduction_s + self.copy_back_s

    @property
    def total_s(self) -> float:
        """``kernel_s + reduction_s + copy_back_s``."""
        return self.kernel_s + self.reduction_s + self.copy_back_s

    @property
    def bound(self) -> str:
        """``"compute"`` or ``"memory"``: which roof limits the kernel."""
        return "compute" if self.compute_s >= self.memory_s else "memory"

    @property
    def intensity(self) -> float:
        """Arithmetic intensity of the kernel, FLOP per DRAM byte."""
        return self.flops / self.traffic_bytes

    def as_dict(self) -> dict[str, Any]:
        """All fields and derived times, for tables."""
        d = dataclasses.asdict(self)
        d.update(kernel_s=self.kernel_s, sync_s=self.sync_s, total_s=self.total_s, bound=self.bound)
        return d


@dataclasses.dataclass(frozen=True, kw_only=True)
class MemoryPerPIM:
    """Bytes one PIM stack holds for a layer (paper Fig. 11), largest partition.

    Attributes:
      inputs_bytes, weights_bytes, outputs_bytes: the layer's operands on this PIM.
      partial_sums_bytes: model-parallel FC partial sums awaiting the host reduction.
      workspace_bytes: conv im2col column matrix.
    """

    inputs_bytes: int
    weights_bytes: int
    outputs_bytes: int
    partial_sums_bytes: int = 0
    workspace_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return (self.inputs_bytes + self.weights_bytes + self.outputs_bytes
                + self.partial_sums_bytes + self.workspace_bytes)

    def fits(self, capacity_bytes: int) -> bool:
        """Whether the layer fits a stack of ``capacity_bytes`` (e.g. ``pim.capacity_bytes``)."""
        return self.total_bytes <= capacity_bytes

    def as_dict(self) -> dict[str, int]:
        d = dataclasses.asdict(self)
        d["total_bytes"] = self.total_bytes
        return d


# ---------------------------------------------------------------------------------------------
# Models


def _split(n: int, parts: int) -> int:
    return -(-n // parts)


def _data_part(layer: Layer, num_pims: int) -> Layer:
    return layer.replace(batch=_split(layer.batch, num_pims))


def _check_node(node: Any) -> None:
    if not isinstance(node, NodeConfig):
        raise TypeError(f"node must be a NodeConfig, got {type(node).__name__}")


def host_time(layer: Layer, host: HostConfig | NodeConfig) -> ExecutionTime:
    """The whole layer on the host GPU (a :class:`NodeConfig` means its host).

    ``T = max(F / P_host, Q / BW_host)``, no sync.
    """
    _check_layer(layer)
    if isinstance(host, NodeConfig):
        host = host.host
    if not isinstance(host, HostConfig):
        raise TypeError(f"host must be a HostConfig or NodeConfig, got {type(host).__name__}")
    return ExecutionTime(
        scheme="host",
        config=host.name,
        num_devices=1,
        flops=float(layer.flops),
        traffic_bytes=float(layer.traffic_bytes),
        compute_s=layer.flops / (host.peak_gflops * 1e9),
        memory_s=layer.traffic_bytes / (host.bandwidth_gbps * 1e9),
    )


def data_parallel_time(layer: Layer, node: NodeConfig) -> ExecutionTime:
    """Batch split over the PIMs, full model on each; forward pass, no sync (Sec. 5.1).

    ``T = max(F(b) / P_pim, Q(b) / BW_pim)`` with ``b = ceil(B / N)``.
    """
    _check_layer(layer)
    _check_node(node)
    part = _data_part(layer, node.num_pims)
    return ExecutionTime(
        scheme="data",
        config=node.name,
        num_devices=node.num_pims,
        flops=float(part.flops),
        traffic_bytes=float(part.traffic_bytes),
        compute_s=part.flops / (node.pim.peak_gflops * 1e9),
        memory_s=part.traffic_bytes / (node.pim.bandwidth_gbps * 1e9),
    )


def model_parallel_time(layer: Layer, node: NodeConfig, *, copy_back: str = "concurrent") -> ExecutionTime:
    """Model split over the PIMs (FC: input features; conv: filters), plus the FC sync steps.

    FC: ``T = max(2 B k M / P_pim, e (B k + k M + B M) / BW_pim)
    + max((N - 1) B M / P_host, 2 e B M / BW_hs) + e B M / BW_r`` (``concurrent``; ``(N - 1)``
    times that for ``serialized``), ``k = ceil(K / N)``. Conv: filters split, no sync.

    Raises:
      ValueError: for a :class:`PoolLayer` (no model to split, Sec. 5.3) or an unknown
        ``copy_back``.
    """
    _check_layer(layer)
    _check_node(node)
    _choice("copy_back", copy_back, COPY_BACK_MODES)
    n = node.num_pims
    pim = node.pim
    if isinstance(layer, PoolLayer):
        raise ValueError("model parallelism needs model parameters; a PoolLayer has none (AMD Sec. 5.3): "
                         "use scheme 'data'")
    reduction_s = copy_back_s = 0.0
    if isinstance(layer, ConvLayer):
        part = layer.replace(filters=_split(layer.filters, n))
        flops, traffic = part.flops, part.traffic_bytes
    else:
        k = _split(layer.in_features, n)
        part = layer.replace(in_features=k)
        flops, traffic = part.flops, part.traffic_bytes  # output term = the B x M partial sums
        if n > 1:
            r = layer.bytes_per_element * layer.output_elements  # one partial sum / the result
            host = node.host
            reduction_s = max(
                (n - 1) * layer.output_elements / (host.peak_gflops * 1e9),
                2 * r / (host.bandwidth_per_stack_gbps * 1e9),
            )
            copies = 1 if copy_back == "concurrent" else n - 1
            copy_back_s = copies * r / (pim.remote_bandwidth_gbps * 1e9)
    return ExecutionTime(
        scheme="model",
        config=node.name,
        num_devices=n,
        flops=float(flops),
        traffic_bytes=float(traffic),
        compute_s=flops / (pim.peak_gflops * 1e9),
        memory_s=traffic / (pim.bandwidth_gbps * 1e9),
        reduction_s=reduction_s,
        copy_back_s=copy_back_s,
    )


def execution_time(layer: Layer, config: HostConfig | NodeConfig, scheme: str, **kwargs: Any) -> ExecutionTime:
    """Dispatches on ``scheme`` (one of :data:`SCHEMES`); ``kwargs`` go to the model."""
    _choice("scheme", scheme, SCHEMES)
    if scheme == "host":
        return host_time(layer, config, **kwargs)
    if scheme == "data":
        return data_parallel_time(layer, config, **kwargs)
    return model_parallel_time(layer, config, **kwargs)


def data_parallel_memory(layer: Layer, num_pims: int) -> MemoryPerPIM:
    """Bytes per PIM with the batch split ``ceil(B / N)`` and the weights replicated."""
    _check_layer(layer)
    _int("num_pims", num_pims, 1, 1 << 16)
    part = _data_part(layer, num_pims)
    e = layer.bytes_per_element
    return MemoryPerPIM(
        inputs_bytes=e * part.input_elements,
        weights_bytes=e * part.weight_elements,
        outputs_bytes=e * part.output_elements,
        workspace_bytes=e * part.workspace_elements if isinstance(part, ConvLayer) else 0,
    )


def model_parallel_memory(layer: Layer, num_pims: int) -> MemoryPerPIM:
    """Bytes per PIM with the model split (FC: ``k = ceil(K / N)`` input features per PIM).

    FC: inputs ``e B k``, weights ``e k M``, partial sums ``e B M``, outputs ``e B M`` (the
    result copied back). Conv: full inputs, ``ceil(F / N)`` filters and their outputs.
    """
    _check_layer(layer)
    _int("num_pims", num_pims, 1, 1 << 16)
    if isinstance(layer, PoolLayer):
        raise ValueError("model parallelism needs model parameters; a PoolLayer has none (AMD Sec. 5.3)")
    e = layer.bytes_per_element
    if isinstance(layer, ConvLayer):
        part = layer.replace(filters=_split(layer.filters, num_pims))
        return MemoryPerPIM(
            inputs_bytes=e * part.input_elements,
            weights_bytes=e * part.weight_elements,
            outputs_bytes=e * part.output_elements,
            workspace_bytes=e * part.workspace_elements,
        )
    part = layer.replace(in_features=_split(layer.in_features, num_pims))
    partial = e * layer.output_elements if num_pims > 1 else 0
    return MemoryPerPIM(
        inputs_bytes=e * part.input_elements,
        weights_bytes=e * part.weight_elements,
        outputs_bytes=e * layer.output_elements,
        partial_sums_bytes=partial,
    )


def memory_per_pim(layer: Layer, num_pims: int, scheme: str) -> MemoryPerPIM:
    """Dispatches on ``scheme``: ``"data"`` or ``"model"``."""
    _choice("scheme", scheme, ("data", "model"))
    if scheme == "data":
        return data_parallel_memory(layer, num_pims)
    return model_parallel_memory(layer, num_pims)


__all__ = [
    "COPY_BACK_MODES",
    "SCHEMES",
    "ConvLayer",
    "ExecutionTime",
    "FCLayer",
    "MemoryPerPIM",
    "PoolLayer",
    "data_parallel_memory",
    "data_parallel_time",
    "execution_time",
    "host_time",
    "memory_per_pim",
    "model_parallel_memory",
    "model_parallel_time",
]
