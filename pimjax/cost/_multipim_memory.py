"""Memory per PIM of conv, pool and FC layers under data or model parallelism.

AMD multi-PIM paper (Xu, Zhang, Jayasena), Sec. 5-6 / Fig. 11: with *data
parallelism* every PIM holds the whole model and ``ceil(B / N)`` images, with *model
parallelism* the model is split (see :mod:`pimjax.cost._multipim` for the schemes and the
notation, :mod:`pimjax.cost._multipim_layers` for the layers). Plain-Python (int) model of
configurations: the shapes are static, nothing here is traced.

Memory per PIM (Fig. 11), bytes, the largest partition:

* data parallel: inputs ``e b K``, weights ``e K M`` (replicated), outputs ``e b M``;
* model parallel FC: inputs ``e B k`` (only its features, as in Fig. 7), weights ``e k M``,
  partial sums ``e B M``, outputs ``e B M`` (the reduced result copied back; on PIM0 written
  by the host);
* conv adds an im2col workspace (``e b Ho Wo C k^2``, data; ``e B Ho Wo C k^2``, model) for
  ``lowering="im2col"``; conv model parallel holds the full input and ``f`` filters.

>>> from pimjax.cost import FCLayer, model_parallel_memory
>>> fc = FCLayer(batch=128, in_features=4096, out_features=4096)
>>> model_parallel_memory(fc, 4).weights_bytes == 4096 * 4096 * 4 // 4
True
"""

from __future__ import annotations

import dataclasses

from pimjax._checks import check_int
from pimjax.cost._multipim_layers import (
    ConvLayer,
    Layer,
    PoolLayer,
    _check_layer,
    _choice,
    _data_part,
    _split,
)


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



def data_parallel_memory(layer: Layer, num_pims: int) -> MemoryPerPIM:
    """Bytes per PIM with the batch split ``ceil(B / N)`` and the weights replicated."""
    _check_layer(layer)
    check_int("num_pims", num_pims, 1, 1 << 16)
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
    check_int("num_pims", num_pims, 1, 1 << 16)
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
    "MemoryPerPIM",
    "data_parallel_memory",
    "memory_per_pim",
    "model_parallel_memory",
]
