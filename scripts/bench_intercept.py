"""Benchmark: an AlexNet training step through interception vs the built-in emulated layers.

The same AlexNet (CPU-sized stem, digits batch shape) twice, with the same weights and hardware:
(a) the built-in model (``pimjax.nn.AlexNet``: ``EmuConv`` / ``EmuLinear``) and (b) the same
network written with stock Flax layers (``nnx.Conv`` / ``nnx.Linear``) and run through
``pimjax.emulate``. Each jitted step is forward, backward (FF/BP/UP on the arrays), Adam update
and cost collection (``collect_costs``, packed in the step). Medians of interleaved repeats
(``bench_train.interleaved_times``), compile excluded; the last line is one JSON object with the
times and ``ratio`` = intercepted / built-in.

    python scripts/bench_intercept.py [--precision neurotrainer --input-size 16 --model-width 0.25]
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from pimjax.apps.cost import CostLayout, collect_costs
from pimjax.nn import AlexNet, CostProbe, emulate, emulation_report, max_pool_with_index, training_hardware
import bench_train  # noqa: E402  scripts/bench_train.py (scripts/ is on sys.path when a script runs)

DIFF = nnx.DiffState(0, nnx.Any(nnx.Param, CostProbe))



class StockAlexNet(nnx.Module):
    """The built-in small-input AlexNet's layers as stock ``nnx.Conv`` / ``nnx.Linear`` (weights copied)."""

    def __init__(self, ref: AlexNet):
        rngs = nnx.Rngs(0)
        convs = []
        for c in ref.convs:
            cin, (kh, kw) = c.in_features, c.kernel_size
            conv = nnx.Conv(cin, c.linear.kernel.shape[1], (kh, kw), strides=c.strides, padding=c.padding, rngs=rngs)
            conv.kernel[...] = c.linear.kernel[...].reshape(cin, kh, kw, -1).transpose(1, 2, 0, 3)
            conv.bias[...] = c.linear.bias[...]
            convs.append(conv)
        self.convs = nnx.List(convs)
        fcs = []
        for f in ref.fcs:
            lin = nnx.Linear(*f.kernel.shape, rngs=rngs)
            lin.kernel[...], lin.bias[...] = f.kernel[...], f.bias[...]
            fcs.append(lin)
        self.fcs = nnx.List(fcs)

    def __call__(self, x):
        h = x
        for i, conv in enumerate(self.convs):
            h = jax.nn.relu(conv(h))
            if i in (0, 1, 4):
                h = max_pool_with_index(h, 2, 2)[0]
        h = h.reshape(h.shape[0], -1)
        for i, fc in enumerate(self.fcs):
            h = fc(h)
            if i < len(self.fcs) - 1:
                h = jax.nn.relu(h)
        return h


def make_run(model, builtin: bool, x, labels):
    layout = CostLayout()
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, x, labels, seed):
        def loss(m):
            logits = m(x, seed=seed) if builtin else m(x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        l, g = nnx.value_and_grad(loss, argnums=DIFF)(model)
        opt.update(model, nnx.state(g, nnx.Param))
        return l, layout.pack(collect_costs(nnx.pop(model, nnx.Intermediate), nnx.state(g, CostProbe)))

    def run(i: int) -> None:
        jax.block_until_ready(step(model, opt, x, labels, jnp.uint32(i)))

    run(0)  # compile
    run(1)
    return run, layout


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--precision", default="neurotrainer")
    p.add_argument("--input-size", type=int, default=16)
    p.add_argument("--model-width", type=float, default=0.25)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=15)
    args = p.parse_args(argv)
    hw = training_hardware(args.precision, weights="float")
    ref = AlexNet(hw=hw, num_classes=10, in_channels=1, input_size=args.input_size, width=args.model_width,
                  rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(0), (args.batch_size, args.input_size, args.input_size, 1))
    labels = jax.random.randint(jax.random.key(1), (args.batch_size,), 0, 10)
    stock = emulate(StockAlexNet(ref), hw, inputs=(x,))
    emulated = len(emulation_report(stock).emulated)
    builtin_run, lb = make_run(ref, True, x, labels)
    stock_run, ls = make_run(stock, False, x, labels)
    ms = {k: float(np.median(v)) for k, v in
          bench_train.interleaved_times({"builtin": builtin_run, "intercepted": stock_run}, args.repeats).items()}
    out = {"precision": args.precision, "input_size": args.input_size, "model_width": args.model_width,
           "batch_size": args.batch_size, "backend": jax.default_backend(), "repeats": args.repeats,
           "emulated_ops": emulated, "builtin_ms": round(ms["builtin"], 2),
           "intercepted_ms": round(ms["intercepted"], 2),
           "ratio": round(ms["intercepted"] / ms["builtin"], 3)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
