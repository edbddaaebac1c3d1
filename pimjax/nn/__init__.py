"""Flax NNX layers and models whose every matmul runs on the emulated hardware (layer 6 of
``docs/design.md``).

The public surface, by concept:

* **Training hardware**: what each phase (FF, BP, UP) of a matmul runs on.
* **The emulated matmul**: ``emulated_dot`` (a ``custom_vjp``: FF/BP/UP on the arrays), its event
  encoding, and the batched form for activation x activation products.
* **Layers**: ``EmuLinear``, ``EmuConv`` (im2col), ``EmuLSTMCell``, ``EmulatedDotGeneral`` for any
  Flax layer's ``dot_general``, pooling with indices, LUT activations, output noise.
* **Resident weights**: fixed-point weights living in emulated memory, updated there.
* **Bring your own model**: ``emulate`` a stock Flax NNX model (or JAX function): its
  ``dot_general`` / ``conv_general_dilated`` calls run on the hardware chosen by ``EmulationRule``s.
* **Models**: AlexNet, VGG, ResNet, small CNNs, the GNMT-style translator, and their matmul shapes;
  ``TinyTransformer``, a decoder-only transformer of stock Flax NNX layers (emulated through
  interception).
"""

# Training hardware.
from pimjax.nn._emulated import PHASES, PhaseConfig, TrainingHardware
from pimjax.nn._hardware import PRECISIONS, WEIGHTS, training_hardware
from pimjax.nn._modules import default_central

# The emulated matmul and its numeric events.
from pimjax.nn._attention import EmuBatchedMatmul, emulated_bmm
from pimjax.nn._emulated import (EVENT_SHAPE, MAX_PROBE_USES, PROBE_SHAPE, decode_events, emulated_dot, encode_events,
                                 phase_matmul, probe_events, zero_probe)

# Layers.
from pimjax.nn._activations import ACTIVATIONS, activation
from pimjax.nn._cnn_common import gemm_recording
from pimjax.nn._dot_general import EmulatedDotGeneral, SRCalls, emulated_dot_general
from pimjax.nn._im2col import im2col
from pimjax.nn._layers import CostProbe, EmuConv, EmuLinear, max_pool_with_index, with_hardware
from pimjax.nn._lstm import EmuLSTMCell
from pimjax.nn._noise import add_noise, add_output_noise, noise_key

# Resident weights.
from pimjax.nn._resident import ResidentState, ResidentWeights, resident_update, rounded_sum, to_resident, total_events

# Models and their shapes.
from pimjax.nn._alexnet import AlexNet
from pimjax.nn._cnn import CNN_MODELS, abstract_cnn, make_cnn
from pimjax.nn._cnn_common import emulated_layers, gemm_shapes
from pimjax.nn._resnet import RESNET_CONFIGS, ResNet
from pimjax.nn._small_cnn import SmallCNN
from pimjax.nn._translator import Translator
from pimjax.nn._translator_config import TranslatorConfig, gnmt_config
from pimjax.nn._translator_shapes import ATTENTION_PRODUCTS, GemmShape, abstract_translator
from pimjax.nn._translator_shapes import gemm_shapes as translator_gemm_shapes
from pimjax.nn._translator_shapes import layer_shapes as translator_layer_shapes
from pimjax.nn._transformer import TinyTransformer
from pimjax.nn._vgg import VGG, VGG_CONFIGS

# Bring your own model: any Flax NNX model or JAX function on the emulated arrays.
from pimjax.nn._intercept import (EmulatedOp, EmulationReport, OpSite, StackIndex, emulate, emulation,
                                  emulation_report, no_emulation, sum_probe_stacks)
from pimjax.nn._rules import OP_KINDS, EmulationRule

__all__ = [
    # Training hardware.
    "PHASES", "PRECISIONS", "WEIGHTS", "PhaseConfig", "TrainingHardware", "default_central", "training_hardware",
    # The emulated matmul and its numeric events.
    "EVENT_SHAPE", "MAX_PROBE_USES", "PROBE_SHAPE", "EmuBatchedMatmul", "decode_events", "emulated_bmm", "emulated_dot",
    "encode_events", "phase_matmul", "probe_events", "zero_probe",
    # Layers.
    "ACTIVATIONS", "CostProbe", "EmuConv", "EmuLSTMCell", "EmuLinear", "EmulatedDotGeneral", "SRCalls", "activation",
    "add_noise", "add_output_noise", "emulated_dot_general", "gemm_recording", "im2col", "max_pool_with_index",
    "noise_key", "with_hardware",
    # Resident weights.
    "ResidentState", "ResidentWeights", "resident_update", "rounded_sum", "to_resident", "total_events",
    # Models and their shapes.
    "ATTENTION_PRODUCTS", "CNN_MODELS", "RESNET_CONFIGS", "VGG_CONFIGS", "VGG", "AlexNet", "GemmShape", "ResNet",
    "SmallCNN", "TinyTransformer", "Translator", "TranslatorConfig", "abstract_cnn", "abstract_translator",
    "emulated_layers", "gemm_shapes", "gnmt_config", "make_cnn", "translator_gemm_shapes", "translator_layer_shapes",
    # Bring your own model.
    "EmulatedOp", "EmulationReport", "EmulationRule", "OP_KINDS", "OpSite", "StackIndex", "emulate", "emulation",
    "emulation_report", "no_emulation", "sum_probe_stacks",
]
