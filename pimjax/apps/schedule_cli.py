"""``pimjax schedule``: list scheduling vs Memolution on a model's data-flow graph (Memolution Tables 1-3).

    pimjax schedule --model alexnet --pes 32,64,128 --buffer 128KiB --plot results/alexnet_gantt.png

extracts the data-flow graph of one image through the model (operations split into ``--split``
output-channel groups, times from the cost model on one slice of ``--system``), schedules
``--images`` images on each PE count with list scheduling and with Memolution, and prints the
paper's three tables: total time, intermediate results kept in the shared buffer, retimings.
``--plot`` draws the Gantt charts and buffer occupancy of the first PE count; ``--csv`` /
``--json`` write the rows. See ``docs/scheduling.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

from pimjax.apps.argtypes import positive_int

CNN_CHOICES = ("alexnet", "vgg11", "vgg16", "resnet18", "resnet50")


def _pes(text: str) -> list[int]:
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"PE counts must be integers >= 1, got {text!r}")
    return vals


def _bytes(text: str) -> int:
    from pimjax.apps.schedule import parse_bytes

    try:
        return parse_bytes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _number(lo: float, lo_open: bool, why: str):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not (v > lo if lo_open else v >= lo):
            raise argparse.ArgumentTypeError(f"must be {'>' if lo_open else '>='} {lo}{why}, got {v}")
        return v

    return parse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Adds the ``schedule`` sub-command to ``pimjax``'s parser.

    Args:
      sub: the sub-parsers of the ``pimjax`` command.
    """
    from pimjax.apps.schedule import DEFAULT_BUFFER_BYTES, DEFAULT_CACHE_SPEEDUP, DEFAULT_IMAGES

    p = sub.add_parser("schedule", help="schedule a model's data-flow graph on PIM PEs: list scheduling vs Memolution",
                       description=__doc__.splitlines()[0].replace("``", ""))
    p.add_argument("--model", default="alexnet", choices=CNN_CHOICES, help="CNN (default %(default)s)")
    p.add_argument("--input-size", type=positive_int, default=32, help="input side (default %(default)s)")
    p.add_argument("--width", type=_number(0.0, True, ""), default=0.25,
                   help="channel multiplier (default %(default)s)")
    p.add_argument("--num-classes", type=positive_int, default=10, help="classes (default %(default)s)")
    p.add_argument("--split", type=positive_int, default=4,
                   help="output-channel groups per operation, the graph's granularity (default %(default)s)")
    p.add_argument("--pes", type=_pes, default=[32, 64, 128], help="PE counts, comma-separated (default 32,64,128)")
    p.add_argument("--buffer", type=_bytes, default=DEFAULT_BUFFER_BYTES,
                   help="shared buffer capacity, e.g. 131072, 128KiB, 0.3MB (default 128KiB; Memolution Sec. 2.4: "
                        "100-300KB)")
    p.add_argument("--images", type=positive_int, default=DEFAULT_IMAGES,
                   help="images (iterations) to process (default %(default)s)")
    p.add_argument("--system", default="slices_hmc2",
                   help="system preset; a PE is one of its slices (default %(default)s; see `pimjax presets`)")
    p.add_argument("--cache-speedup", type=_number(1.0, False, " (Memolution Sec. 3.2: eDRAM is slower)"),
                   default=DEFAULT_CACHE_SPEEDUP,
                   help="L_RAM / L_cache (default %(default)s; Memolution Sec. 3.2: 'two times or more')")
    p.add_argument("--edram-order", choices=("ascending", "descending"), default="ascending",
                   help="Alg. 3.2 order of Delta L / Delta C (default %(default)s; the paper's text says descending)")
    p.add_argument("--no-pipelined-ls", action="store_true",
                   help="leave out the extra baseline: LS with as many images in flight as Memolution")
    p.add_argument("--plot", metavar="PATH", default=None,
                   help="write Gantt charts and buffer occupancy (first PE count) to PATH (.png)")
    p.add_argument("--plot-tables", metavar="PATH", default=None, help="write the three tables as a figure to PATH")
    p.add_argument("--csv", metavar="PATH", default=None, help="write the table rows to PATH")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of tables")
    p.set_defaults(func=run)


def schedule_report(*, model: str = "alexnet", input_size: int = 32, width: float = 0.25, num_classes: int = 10,
                    split: int = 4, pes: Sequence[int] = (32, 64, 128), buffer_bytes: int | None = None,
                    images: int | None = None, system: str = "slices_hmc2", cache_speedup: float | None = None,
                    edram_order: str = "ascending", pipelined_ls: bool = True, keep: bool = False) -> dict[str, Any]:
    """What ``pimjax schedule`` prints, as a dict.

    Args:
      model, input_size, width, num_classes, split, system: the graph (:func:`pimjax.apps.schedule.model_graph`).
      pes: PE counts, one row each.
      buffer_bytes, images, cache_speedup: ``None`` for the defaults (128 KiB, 1024, 2).
      edram_order: Alg. 3.2's order (:class:`pimjax.apps.schedule.MemolutionOptions`).
      pipelined_ls: add the LS baseline with as many images in flight as Memolution.
      keep: keep the :class:`pimjax.apps.schedule.Schedule` objects in the rows.

    Returns:
      ``{"graph": summary, "system": name, "rows": [one dict per PE count]}``
      (:func:`pimjax.apps.schedule.compare`).
    """
    from pimjax.apps.schedule import (DEFAULT_BUFFER_BYTES, DEFAULT_CACHE_SPEEDUP, DEFAULT_IMAGES, Latencies,
                                      MemolutionOptions, compare, model_graph)

    g = model_graph(model, input_size=input_size, width=width, num_classes=num_classes, split=split, system=system,
                    latencies=Latencies(cache_speedup=cache_speedup or DEFAULT_CACHE_SPEEDUP))
    rows = compare(g, list(pes), buffer_bytes=DEFAULT_BUFFER_BYTES if buffer_bytes is None else buffer_bytes,
                   images=images or DEFAULT_IMAGES, pipelined_ls=pipelined_ls,
                   options=MemolutionOptions(edram_order=edram_order), keep=keep)
    return {"graph": g.summary(), "system": system, "rows": rows}


def run(args: argparse.Namespace) -> int:
    """Runs ``pimjax schedule`` (module docstring).

    Args:
      args: the parsed command line.

    Returns:
      The exit status (0; 2 for an unknown system preset).
    """
    from pimjax.apps.model_costs import system_presets
    from pimjax.apps.schedule import format_tables, plot_schedules, plot_tables, write_csv

    if args.system not in system_presets():
        print(f"pimjax schedule: unknown system preset {args.system!r}; choose one of {', '.join(system_presets())}",
              file=sys.stderr)
        return 2
    r = schedule_report(model=args.model, input_size=args.input_size, width=args.width, num_classes=args.num_classes,
                        split=args.split, pes=args.pes, buffer_bytes=args.buffer, images=args.images,
                        system=args.system, cache_speedup=args.cache_speedup, edram_order=args.edram_order,
                        pipelined_ls=not args.no_pipelined_ls, keep=args.plot is not None)
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
