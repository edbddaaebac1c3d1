"""``pimjax fidelity``: the papers' headline numbers and trends next to pimjax's, in one table.

    pimjax fidelity                    # print the table (every cost-model row computed now)
    pimjax fidelity --write-docs       # also rewrite docs/fidelity.md and the fidelity blocks of docs/*.md
    pimjax fidelity --paper memory_slices --json
    pimjax fidelity --check            # exit 1 when a verdict differs from tests/fidelity_verdicts.json

The accuracy rows (NeuroTrainer Fig. 10, Yang & Sze) read committed results files written by
the scripts their assumptions name; everything else is computed from the presets.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

GOLDEN = os.path.join("tests", "fidelity_verdicts.json")


def repo_root() -> str:
    """The repository holding this package (where ``docs/`` and ``tests/`` are)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def add_parser(sub: argparse._SubParsersAction) -> None:
    from . import PAPER_SLUGS

    p = sub.add_parser("fidelity", help="the papers' headline numbers and trends next to pimjax's (one table)",
                       description="The papers' headline numbers and trends next to pimjax's, in one table, with verdicts.")
    p.add_argument("--paper", action="append", choices=PAPER_SLUGS, help="only this paper (repeatable; default: all five)")
    p.add_argument("--full", action="store_true", help="the slow mode: Memolution's rows over the five models of scripts/repro_memolution_tables.py (~75 s; the quick mode measures AlexNet only); the other papers' rows are the same in both")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--markdown", action="store_true", help="print the table as markdown")
    p.add_argument("--write-docs", action="store_true",
                   help="rewrite docs/fidelity.md and the <!-- fidelity:begin NAME --> blocks of docs/*.md")
    p.add_argument("--write-golden", action="store_true", help=f"rewrite the golden verdicts ({GOLDEN})")
    p.add_argument("--check", action="store_true", help=f"exit 1 when a verdict differs from {GOLDEN}")
    p.add_argument("--root", default=None, help="repository root for --write-docs/--write-golden/--check "
                   "(default: the one holding pimjax)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from . import collect, paper_notes, PAPER_SLUGS
    from ._docs import compare_golden, markdown_table, text_table, write_docs, write_golden

    papers = tuple(args.paper) if args.paper else None
    rows = collect(quick=not args.full, papers=papers)
    if args.json:
        print(json.dumps([dict(dataclasses.asdict(r), rel_error=r.rel_error) for r in rows], indent=1))
    elif args.markdown:
        print(markdown_table(rows))
    else:
        print(text_table(rows))
    root = args.root or repo_root()
    status = 0
    if args.write_docs:
        if papers:
            print("--write-docs needs every paper (no --paper)", file=sys.stderr)
            return 2
        notes = {s: paper_notes(s) for s in PAPER_SLUGS}
        for path in write_docs(rows, root, notes=notes, command="pimjax fidelity --write-docs"):
            print(f"wrote {path}")
    golden = os.path.join(root, GOLDEN)
    if args.write_golden:
        write_golden(rows, golden)
        print(f"wrote {golden}")
    if args.check:
        with open(golden) as f:
            want = json.load(f)
        if papers:
            want = {k: v for k, v in want.items() if any(r.paper == k for r in rows)}
        diffs = compare_golden(rows, want)
        for d in diffs:
            print(d, file=sys.stderr)
        status = 1 if diffs else 0
    return status


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fidelity")
    sub = p.add_subparsers(dest="command")
    add_parser(sub)
    args = p.parse_args(["fidelity", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)
