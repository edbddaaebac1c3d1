"""Execution time of conv, pool and FC layers on a host or on several PIMs (AMD multi-PIM cost model).

AMD multi-PIM paper (Xu, Zhang, Jayasena), Sec. 5-6: a layer runs either on the
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

Work and traffic of the layers: :mod:`pimjax.cost._multipim_layers`.

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

Memory per PIM (Fig. 11): :mod:`pimjax.cost._multipim_memory`.

>>> from pimjax import hw
>>> from pimjax.cost import FCLayer, model_parallel_time
>>> fc = FCLayer(batch=128, in_features=4096, out_features=4096)
>>> t = model_parallel_time(fc, hw.presets.get("4PIM"))
>>> t.bound, round(t.copy_back_s * 1e6, 2)  # 128*4096*4 bytes at 40 GB/s
('compute', 52.43)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pimjax.cost._multipim_layers import ConvLayer, Layer, PoolLayer, _check_layer, _choice, _data_part, _split
from pimjax.hw._pim import HostConfig, NodeConfig

SCHEMES: tuple[str, ...] = ("host", "data", "model")
"""Execution schemes: the host GPU alone, data parallelism, model parallelism on the PIMs."""

COPY_BACK_MODES: tuple[str, ...] = ("concurrent", "serialized")
"""How the other PIMs fetch the reduced result from PIM0 (see the module docstring)."""


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



# ---------------------------------------------------------------------------------------------
# Models


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


def model_parallel_sync(*, partials: int, output_elements: int, partial_bytes: float, result_bytes: float,
                        node: NodeConfig, copies: int) -> tuple[float, float]:
    """``(T_reduction, T_copy_back)`` of the FC model-parallel sync (Sec. 5.4, Fig. 10), seconds.

    The host reads the ``partials`` partial sums (one per stack, all stacks at once at
    ``BW_hs`` each), adds them (``(partials - 1) * output_elements`` FLOPs) and writes the
    result to PIM0, whose stack carries its partial and the result; then ``copies`` transfers
    of the result at the remote bandwidth ``BW_r``::

        T_reduction = max((partials - 1) * output_elements / P_host,
                          (partial_bytes + result_bytes) / BW_hs)
        T_copy_back = copies * result_bytes / BW_r

    (the module docstring's ``2 R / BW_hs`` when a partial and the result have ``R`` bytes each).
    Used by :func:`model_parallel_time` and by :func:`pimjax.cost.parallel_cost`.
    """
    host = node.host
    reduction_s = max(
        (partials - 1) * output_elements / (host.peak_gflops * 1e9),
        (partial_bytes + result_bytes) / (host.bandwidth_per_stack_gbps * 1e9),
    )
    return reduction_s, copies * result_bytes / (node.pim.remote_bandwidth_gbps * 1e9)


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
            reduction_s, copy_back_s = model_parallel_sync(
                partials=n, output_elements=layer.output_elements, partial_bytes=r, result_bytes=r,
                node=node, copies=1 if copy_back == "concurrent" else n - 1)
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


__all__ = [
    "COPY_BACK_MODES",
    "SCHEMES",
    "ExecutionTime",
    "data_parallel_time",
    "execution_time",
    "host_time",
    "model_parallel_sync",
    "model_parallel_time",
]
