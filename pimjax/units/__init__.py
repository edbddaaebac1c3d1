"""Hardware units, one module each (docs/design.md section 1, layer 3): the systolic multiplier
array, the aggregation engine with its activation LUTs, and the interconnect packetizer."""

from pimjax.units._activation import exact_activation, lut_activation, lut_entries, lut_index
from pimjax.units._aggregation import AggregationEngine, finish, reduce_packets, to_packets
from pimjax.units._exact_gemm import METHODS, exact_matmul
from pimjax.units._interconnect import ICNCounts, packetize, tile_packets
from pimjax.units._array_operands import check_operands
from pimjax.units._systolic import ArrayResult, SystolicArray, array_accumulate, emulated_matmul, systolic_matmul

__all__ = [
    "METHODS",
    "AggregationEngine",
    "ArrayResult",
    "ICNCounts",
    "SystolicArray",
    "array_accumulate",
    "check_operands",
    "emulated_matmul",
    "exact_activation",
    "exact_matmul",
    "finish",
    "lut_activation",
    "lut_entries",
    "lut_index",
    "packetize",
    "reduce_packets",
    "systolic_matmul",
    "tile_packets",
    "to_packets",
]
