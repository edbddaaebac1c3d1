"""pimjax: bit-accurate emulation of processing-in-memory DNN accelerators in JAX."""

__version__ = "0.1.0"
