"""``pimjax schedule``: list scheduling vs Memolution on a model's data-flow graph (Memolution Tables 1-3).

    pimjax schedule --model alexnet --pes 32,64,128 --buffer 128KiB --plot results/alexnet_gantt.png

extracts the data-flow graph of one image through the model (operations split into ``--split``
output-channel groups, times from the cost model on one slice of ``--hw``), schedules
``--images`` images on each PE count with list scheduling and with Memolution, and prints the
paper's three tables: total time, intermediate results kept in the shared buffer, retimings.
``--plot`` draws the Gantt charts and buffer occupancy of the first PE count; ``--csv`` /
``--json`` write the rows. See ``docs/scheduling.md``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Sequence

from pimjax.apps.argtypes import (add_usage_errors, deprecated_alias, description, int_in, number_in,
                                  positive_int, usage_errors)
from pimjax.apps.schedule._config import MAX_BUFFER_BYTES, MAX_CACHE_SPEEDUP, MAX_IMAGES, MAX_PES

CNN_CHOICES = ("alexnet", "vgg11", "vgg16", "resnet18", "resnet50")


def _pes(text: str) -> list[int]:
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not vals or min(vals) < 1 or max(vals) > MAX_PES:
        raise argparse.ArgumentTypeError(f"PE counts must be integers in 1..{MAX_PES}, got {text!r}")
    return vals


def _bytes(text: str) -> int:
    from pimjax.apps.schedule import parse_bytes

    try:
        v = parse_bytes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if v > MAX_BUFFER_BYTES:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_BUFFER_BYTES} bytes, got {text!r}")
    return v


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Adds the ``schedule`` sub-command to ``pimjax``'s parser.

    Args:
      sub: the sub-parsers of the ``pimjax`` command.
    """
    from pimjax.apps.schedule import DEFAULT_BUFFER_BYTES, DEFAULT_CACHE_SPEEDUP, DEFAULT_IMAGES

    p = sub.add_parser("schedule", help="schedule a model's data-flow graph on PIM PEs: list scheduling vs Memolution",
                       description=description(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="alexnet", choices=CNN_CHOICES, help="CNN (default %(default)s)")
    p.add_argument("--input-size", type=positive_int, default=32,
                   help="input side in pixels (default %(default)s; each model has its own minimum)")
    width = p.add_argument("--model-width", dest="width", metavar="MODEL_WIDTH", type=number_in(0.0, lo_open=True), default=0.25,
                           help="channel multiplier, > 0 (1.0 = the paper's model) (default %(default)s)")
    deprecated_alias(p, "--width", width)
    p.add_argument("--num-classes", type=positive_int, default=10, help="classes (default %(default)s)")
    p.add_argument("--split", type=positive_int, default=4,
                   help="output-channel groups per operation, the graph's granularity (default %(default)s)")
    p.add_argument("--pes", type=_pes, default=[32, 64, 128],
                   help=f"PE counts in 1..{MAX_PES}, comma-separated (default 32,64,128)")
    p.add_argument("--buffer", type=_bytes, default=DEFAULT_BUFFER_BYTES,
                   help="shared buffer capacity, e.g. 131072, 128KiB, 0.3MB (default 128KiB; Memolution Sec. 2.4: "
                        "100-300KB)")
    p.add_argument("--images", type=int_in(1, MAX_IMAGES), default=DEFAULT_IMAGES,
                   help=f"images (iterations) to process, 1..{MAX_IMAGES} (default %(default)s)")
    hw = p.add_argument("--hw", dest="system", metavar="PRESET", default="slices_hmc2",
                        help="system preset; a PE is one of its slices (default %(default)s; the systems of "
                        "`pimjax presets`)")
    deprecated_alias(p, "--system", hw)
    p.add_argument("--cache-speedup",
                   type=number_in(1.0, MAX_CACHE_SPEEDUP, why=" (Memolution Sec. 3.2: eDRAM is slower)"),
                   default=DEFAULT_CACHE_SPEEDUP,
                   help="L_RAM / L_cache (default %(default)s; Memolution Sec. 3.2: 'two times or more')")
    p.add_argument("--edram-order", choices=("ascending", "descending"), default="ascending",
                   help="Alg. 3.2 order of Delta L / Delta C (default %(default)s; the paper's text says descending)")
    p.add_argument("--no-pipelined-ls", action="store_true",
                   help="leave out the extra baseline: LS with as many images in flight as Memolution")
    p.add_argument("--plot", metavar="PATH", default=None,
                   help="write Gantt charts and buffer occupancy (first PE count) to PATH (.png) (default: none)")
    p.add_argument("--plot-tables", metavar="PATH", default=None,
                   help="write the three tables as a figure to PATH (default: none)")
    p.add_argument("--csv", metavar="PATH", default=None, help="write the table rows to PATH (default: none)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of tables")
    p.set_defaults(func=run)
    add_usage_errors(p)


def schedule_inputs(*, model: str = "alexnet", input_size: int = 32, width: float = 0.25, num_classes: int = 10,
                    split: int = 4, pes: Sequence[int] = (32, 64, 128), buffer_bytes: int | None = None,
                    images: int | None = None, system: str = "slices_hmc2", cache_speedup: float | None = None,
                    edram_order: str = "ascending") -> dict[str, Any]:
    """The checked inputs of :func:`schedule_report` (same arguments), as keywords of
    :func:`pimjax.apps.schedule.compare` and its ``graph``.

    Builds the graph, the options and the :class:`pimjax.apps.schedule.ScheduleConfig` of
    every PE count, so that a bad argument fails here, before any scheduling.

    Raises:
      ValueError: a configuration or the model rejects its arguments (e.g. an input too small
        for the model's pools, more PEs or images than a schedule takes).
    """
    from pimjax.apps.schedule import (DEFAULT_BUFFER_BYTES, DEFAULT_CACHE_SPEEDUP, DEFAULT_IMAGES, Latencies,
                                      MemolutionOptions, ScheduleConfig, model_graph)

    buffer_bytes = DEFAULT_BUFFER_BYTES if buffer_bytes is None else buffer_bytes
    images = images or DEFAULT_IMAGES
    options = MemolutionOptions(edram_order=edram_order)
    latencies = Latencies(cache_speedup=cache_speedup or DEFAULT_CACHE_SPEEDUP)
    for p in pes:
        ScheduleConfig(num_pes=p, buffer_bytes=buffer_bytes, images=images)
    g = model_graph(model, input_size=input_size, width=width, num_classes=num_classes, split=split, system=system,
                    latencies=latencies)
    return dict(graph=g, pes=list(pes), buffer_bytes=buffer_bytes, images=images, options=options)


def schedule_report(*, model: str = "alexnet", input_size: int = 32, width: float = 0.25, num_classes: int = 10,
                    split: int = 4, pes: Sequence[int] = (32, 64, 128), buffer_bytes: int | None = None,
                    images: int | None = None, system: str = "slices_hmc2", cache_speedup: float | None = None,
                    edram_order: str = "ascending", pipelined_ls: bool = True, keep: bool = False,
                    inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``pimjax schedule`` prints, as a dict.

    Args:
      model, input_size, width, num_classes, split, system: the graph (:func:`pimjax.apps.schedule.model_graph`).
      pes: PE counts, one row each.
      buffer_bytes, images, cache_speedup: ``None`` for the defaults (128 KiB, 1024, 2).
      edram_order: Alg. 3.2's order (:class:`pimjax.apps.schedule.MemolutionOptions`).
      pipelined_ls: add the LS baseline with as many images in flight as Memolution.
      keep: keep the :class:`pimjax.apps.schedule.Schedule` objects in the rows.
      inputs: what :func:`schedule_inputs` returns for the other arguments (computed when ``None``).

    Returns:
      ``{"graph": summary, "system": name, "rows": [one dict per PE count]}``
      (:func:`pimjax.apps.schedule.compare`).
    """
    from pimjax.apps.schedule import compare

    if inputs is None:
        inputs = schedule_inputs(model=model, input_size=input_size, width=width, num_classes=num_classes,
                                 split=split, pes=pes, buffer_bytes=buffer_bytes, images=images, system=system,
                                 cache_speedup=cache_speedup, edram_order=edram_order)
    rows = compare(**inputs, pipelined_ls=pipelined_ls, keep=keep)
    return {"graph": inputs["graph"].summary(), "system": system, "rows": rows}


def run(args: argparse.Namespace) -> int:
    """Runs ``pimjax schedule`` (module docstring).

    Args:
      args: the parsed command line.

    Returns:
      The exit status (0; an unknown system preset is a usage error, exit status 2).
    """
    from pimjax.apps.cost._model_costs import system_presets
    from pimjax.apps.schedule import format_tables, plot_schedules, plot_tables, write_csv

    if args.system not in system_presets():
        args.usage_error(f"argument --hw: unknown system preset {args.system!r}; choose one of "
                         f"{', '.join(system_presets())}")
    kw = dict(model=args.model, input_size=args.input_size, width=args.width, num_classes=args.num_classes,
              split=args.split, pes=args.pes, buffer_bytes=args.buffer, images=args.images, system=args.system,
              cache_speedup=args.cache_speedup, edram_order=args.edram_order)
    with usage_errors(args):  # the configurations and the model check their arguments here
        inputs = schedule_inputs(**kw)
    outs = [p for p in (args.csv, args.plot, args.plot_tables) if p]
    if outs:  # before the work: an unwritable path is one line, not a traceback after it
        from pimjax.apps._atomic import OutputError, preflight

        try:
            preflight(files=outs, what="output", min_free=1 << 20)
        except OutputError as e:
            print(f"pimjax schedule: error: {e}", file=sys.stderr)
            return 2
    r = schedule_report(**kw, inputs=inputs, pipelined_ls=not args.no_pipelined_ls, keep=args.plot is not None)
    rows = r["rows"]
    if args.csv:
        write_csv(rows, args.csv)
    if args.plot:
        first = rows[0]["schedules"]
        plot_schedules([first[k] for k in ("ls", "ls_pipelined", "memolution") if k in first], args.plot,
                       title=f"{r['graph']['name']}, buffer {args.buffer} B")
    if args.plot_tables:
        plot_tables(rows, args.plot_tables, title=r["graph"]["name"])
    clean = [{k: v for k, v in row.items() if k != "schedules"} for row in rows]
    if args.json:
        print(json.dumps({**r, "rows": clean}))
        return 0
    gs = r["graph"]
    print(f"pimjax schedule: {gs['name']} on {args.system} slices as PEs: {gs['ops']} operations, "
          f"{gs['intermediates']} intermediate results ({gs['intermediate_bytes'] / 1024:.1f} KiB), work "
          f"{gs['work_s'] * 1e6:.1f} us, critical path {gs['critical_path_s'] * 1e6:.1f} us, widest level "
          f"{gs['max_level_width']}; buffer {args.buffer} B, {args.images} images")
    print()
    print(format_tables(clean))
    for path in (args.csv, args.plot, args.plot_tables):
        if path:
            print(f"wrote {path}")
    return 0
