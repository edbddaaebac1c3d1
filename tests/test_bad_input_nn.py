"""Layer and translator arguments: bad ones raise errors naming them, at construction or at the call."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pimjax.nn import Translator, TranslatorConfig, emulated_dot, training_hardware
from pimjax.nn._layers import EmuConv, EmuLinear
from pimjax.nn._lstm import EmuLSTMCell

HW = training_hardware("fp32", rows=8, width=4)


@pytest.mark.parametrize("args,exc,match", [((3, 0), ValueError, "out_features must be an integer >= 1, got 0"),
                                            ((-1, 3), ValueError, "in_features must be an integer >= 1, got -1"),
                                            ((2.5, 3), TypeError, r"in_features must be an integer, got float 2\.5")])
def test_linear_sizes(args, exc, match):
    with pytest.raises(exc, match=match):
        EmuLinear(*args, hw=HW, layer_id=0, rngs=nnx.Rngs(0))


def test_hardware_type_checked():
    with pytest.raises(TypeError, match="hw must be a TrainingHardware.*, got NoneType"):
        EmuLinear(3, 3, hw=None, layer_id=0, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="hw must be a TrainingHardware.*, got str"):
        Translator(TranslatorConfig(src_vocab=8, tgt_vocab=8, embed_dim=4, hidden=4), hw="x", rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="hw must be a TrainingHardware.*, got str"):
        emulated_dot(jnp.ones((1, 2)), jnp.ones((2, 2)), "str", seed=0)
    with pytest.raises(ValueError, match="hidden must be an integer >= 1, got 0"):
        EmuLSTMCell(3, 0, hw=HW, layer_id=0, rngs=nnx.Rngs(0))


def test_conv_arguments():
    conv = EmuConv(3, 2, 3, hw=HW, layer_id=0, rngs=nnx.Rngs(0), strides=1)  # an int: (k, k), as nnx.Conv
    assert conv.kernel_size == (3, 3) and conv.strides == (1, 1)
    with pytest.raises(ValueError, match="padding must be 'SAME', 'VALID'"):
        EmuConv(3, 2, 3, hw=HW, layer_id=0, rngs=nnx.Rngs(0), padding="FOO")
    with pytest.raises(ValueError, match="kernel_size"):
        EmuConv(3, 2, (3, 0), hw=HW, layer_id=0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="in_features=3 channels, got shape \\(1, 4, 4, 1\\)"):
        conv(jnp.ones((1, 4, 4, 1)), seed=0)
    with pytest.raises(ValueError, match="in_features is 3"):
        EmuLinear(3, 2, hw=HW, layer_id=0, rngs=nnx.Rngs(0))(jnp.ones((1, 4)), seed=0)


def test_translator_token_ids_out_of_range():
    model = Translator(TranslatorConfig(src_vocab=8, tgt_vocab=6, embed_dim=4, hidden=4, enc_layers=1, dec_layers=1),
                       hw=HW, rngs=nnx.Rngs(0))
    src, tgt = np.array([[3, 4, 2]]), np.array([[1, 3]])
    with pytest.raises(ValueError, match=r"src has 1 token id\(s\) outside \[0, 8\) \(the src_vocab"):
        model(np.array([[3, 8, 2]]), tgt, seed=0)
    with pytest.raises(ValueError, match=r"tgt_in .*outside \[0, 6\) \(the tgt_vocab"):
        model(src, np.array([[1, -1]]), seed=0)
    # (valid ids pass: the translator's training tests run it)
