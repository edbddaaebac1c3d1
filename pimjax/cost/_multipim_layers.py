"""Layer descriptions of the AMD multi-PIM cost model: FC, conv and max-pool layers.

AMD multi-PIM paper (Xu, Zhang, Jayasena), Sec. 2 and 6: the layers whose execution
time (:mod:`pimjax.cost._multipim`) and memory per PIM (:mod:`pimjax.cost._multipim_memory`)
are modelled. Plain-Python (int) descriptions of configurations: the shapes are static, nothing
here is traced. Holds the layer dataclasses, their validation and the ``ceil`` partitions.

Work and traffic of the layers (``Q`` counts compulsory traffic: every operand read once,
every result written once; on-chip caches are assumed to capture all reuse):

* FC ``Y[B, M] = X[B, K] @ W[K, M]``: ``F = 2 B K M``, ``Q = e (B K + K M + B M)``.
* Conv, ``B`` images ``C x H x W``, ``F`` filters ``C x k x k``, stride ``s``, output
  ``Ho x Wo`` (``same``: ``ceil(H / s)``; ``valid``: ``(H - k) // s + 1``):
  ``F = 2 B F Ho Wo C k^2``. Lowered to a matmul by im2col (docs/design.md; the GPU practice of
  the time): the column matrix ``B Ho Wo x C k^2`` is written and read back, so
  ``Q = e (B C H W + 2 B Ho Wo C k^2 + F C k^2 + B F Ho Wo)``; ``lowering="direct"`` drops
  the column matrix (ideal reuse).
* Max pool, window ``k``, stride ``s`` (default ``k``, as in the paper), no padding:
  ``F = B C Ho Wo (k^2 - 1)`` comparisons (one FLOP each), ``Q = e (B C H W + B C Ho Wo)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Union

from pimjax._checks import int_field

CONV_PADDINGS: tuple[str, ...] = ("same", "valid")
CONV_LOWERINGS: tuple[str, ...] = ("im2col", "direct")


_MAX = 1 << 40  # largest accepted layer dimension


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
        for f in ("batch", "in_features", "out_features"):
            int_field(self, f, 1, _MAX)
        int_field(self, "bytes_per_element", 1, 16)

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
            int_field(self, f, 1, _MAX)
        int_field(self, "bytes_per_element", 1, 16)
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
            int_field(self, f, 1, _MAX)
        if self.stride is not None:
            int_field(self, "stride", 1, _MAX)
        int_field(self, "bytes_per_element", 1, 16)
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
# Partitions


def _split(n: int, parts: int) -> int:
    return -(-n // parts)


def _data_part(layer: Layer, num_pims: int) -> Layer:
    return layer.replace(batch=_split(layer.batch, num_pims))


__all__ = [
    "ConvLayer",
    "FCLayer",
    "PoolLayer",
]
