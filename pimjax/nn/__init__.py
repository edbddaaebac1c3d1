"""Flax NNX layers and models whose every matmul runs on the emulated hardware (DESIGN layer 6)."""

from pimjax.nn._emulated import (EVENT_SHAPE, MAX_PROBE_USES, PHASES, PROBE_SHAPE, PhaseConfig, TrainingHardware, decode_events,
                                 emulated_dot, encode_events, phase_matmul, probe_events, zero_probe)
from pimjax.nn._hardware import PRECISIONS, WEIGHTS, training_hardware
from pimjax.nn._modules import default_central
from pimjax.nn._resident import ResidentState, ResidentWeights, resident_update, rounded_sum, to_resident, total_events

__all__ = ["EVENT_SHAPE", "MAX_PROBE_USES", "PHASES", "PROBE_SHAPE", "PRECISIONS", "PhaseConfig", "TrainingHardware", "decode_events",
           "emulated_dot", "encode_events", "phase_matmul", "probe_events", "zero_probe",
           "training_hardware", "default_central", "WEIGHTS", "ResidentState", "ResidentWeights", "resident_update", "rounded_sum",
           "to_resident", "total_events"]
from pimjax.nn._alexnet import AlexNet
from pimjax.nn._cnn import CNN_MODELS, abstract_cnn, make_cnn
from pimjax.nn._cnn_common import emulated_layers, gemm_shapes
from pimjax.nn._resnet import RESNET_CONFIGS, ResNet
from pimjax.nn._vgg import VGG, VGG_CONFIGS

__all__ += ["CNN_MODELS", "RESNET_CONFIGS", "VGG_CONFIGS", "VGG", "AlexNet", "ResNet", "abstract_cnn",
            "emulated_layers", "gemm_shapes", "make_cnn"]
from pimjax.nn._activations import ACTIVATIONS, activation
from pimjax.nn._lstm import EmuLSTMCell
from pimjax.nn._translator import Translator
from pimjax.nn._translator_config import TranslatorConfig, gnmt_config
from pimjax.nn._translator_shapes import ATTENTION_PRODUCTS, GemmShape, abstract_translator
from pimjax.nn._translator_shapes import gemm_shapes as translator_gemm_shapes
from pimjax.nn._translator_shapes import layer_shapes as translator_layer_shapes

__all__ += ["ACTIVATIONS", "ATTENTION_PRODUCTS", "activation", "EmuLSTMCell", "GemmShape", "Translator", "TranslatorConfig",
            "abstract_translator", "gnmt_config", "translator_gemm_shapes", "translator_layer_shapes"]
from pimjax.nn._noise import add_noise, add_output_noise, noise_key, with_hardware

__all__ += ["add_noise", "add_output_noise", "noise_key", "with_hardware"]
from pimjax.nn._cnn_common import gemm_recording
from pimjax.nn._im2col import im2col
from pimjax.nn._layers import max_pool_with_index
from pimjax.nn._small_cnn import SmallCNN

__all__ += ["SmallCNN", "gemm_recording", "im2col", "max_pool_with_index"]
from pimjax.nn._attention import EmuBatchedMatmul, emulated_bmm
from pimjax.nn._dot_general import EmulatedDotGeneral, SRCalls, emulated_dot_general
from pimjax.nn._layers import CostProbe, EmuConv, EmuLinear

__all__ += ["CostProbe", "EmuBatchedMatmul", "EmuConv", "EmuLinear", "EmulatedDotGeneral", "SRCalls",
            "emulated_bmm", "emulated_dot_general"]
from pimjax.nn._intercept import (EmulatedOp, EmulationReport, OpSite, StackIndex, emulate, emulation,
                                  emulation_report, no_emulation, sum_probe_stacks)
from pimjax.nn._rules import OP_KINDS, EmulationRule

__all__ += ["EmulatedOp", "EmulationReport", "EmulationRule", "OP_KINDS", "OpSite", "StackIndex", "emulate",
            "emulation", "emulation_report", "no_emulation", "sum_probe_stacks"]
