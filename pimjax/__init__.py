"""pimjax: bit-accurate emulation of processing-in-memory DNN accelerators in JAX."""

__version__ = "0.1.0"

# Bring your own model (pimjax.nn._intercept), imported lazily: importing pimjax.hw, .numerics,
# .units, .system or .cost must not import Flax.
_EMULATION_API = ("EmulationReport", "EmulationRule", "OpSite", "emulate", "emulation", "emulation_report",
                  "no_emulation")


def __getattr__(name: str):
    if name in _EMULATION_API:
        import pimjax.nn

        return getattr(pimjax.nn, name)
    raise AttributeError(f"module 'pimjax' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EMULATION_API])
