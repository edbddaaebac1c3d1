"""Formatting of the fidelity table: text for the terminal, markdown for ``docs/``, golden verdicts.

``docs/fidelity.md`` is written whole by :func:`fidelity_markdown`; any other file under
``docs/`` may hold blocks

    <!-- fidelity:begin NAME -->
    ... (generated: do not edit)
    <!-- fidelity:end -->

that :func:`rewrite_blocks` refills: ``NAME`` is a paper slug (``memory_slices``,
``neurotrainer``, ``amd``, ``memolution``, ``yang_sze``: that paper's rows) or ``all``.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Iterable, Sequence

from ._row import TOLERANCE, Row

BLOCK_RE = re.compile(r"(<!-- fidelity:begin (?P<name>[A-Za-z0-9_]+) -->\n)(?P<body>.*?)(<!-- fidelity:end -->)",
                      re.S)

#: Descriptions of the labelled assumptions rows cite (a label not here is printed as it is).
ASSUMPTIONS: dict[str, str] = {}


def register_assumptions(items: dict[str, str]) -> None:
    """Adds labelled assumptions (label -> one sentence) for the docs' assumptions list."""
    ASSUMPTIONS.update(items)


def fmt_value(v: float | str | None, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "yes" if v else "no"
    if not math.isfinite(v):
        return str(v)
    a = abs(v)
    if a == 0:
        s = "0"
    elif a >= 1000:
        s = f"{v:,.0f}"
    elif a >= 100:
        s = f"{v:.0f}"
    elif a >= 10:
        s = f"{v:.1f}"
    elif a >= 1:
        s = f"{v:.2f}"
    else:
        s = f"{v:.3g}"
    return f"{s} {unit}".strip() if unit else s


def fmt_rel(r: Row) -> str:
    e = r.rel_error
    return "-" if e is None else f"{e * 100:+.0f}%"


def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def gap_text(r: Row) -> str:
    """A row's gap as ``mechanism: percent; ...``, then ``[percent of: basis]`` when it has a basis."""
    parts = "; ".join(f"{m}: {p:.0f}%" for m, p in r.gap)
    return f"{parts} [percent of: {r.gap_basis}]" if r.gap_basis else parts


def markdown_table(rows: Sequence[Row], *, with_paper: bool = True) -> str:
    """The rows as one markdown table, then the gap decompositions of the misses."""
    head = (["paper"] if with_paper else []) + ["quantity", "source", "paper value", "pimjax", "rel. error",
                                                 "verdict", "assumptions"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = ([r.paper] if with_paper else []) + [
            r.quantity, r.source, fmt_value(r.paper_value, r.unit), fmt_value(r.pimjax_value, r.unit), fmt_rel(r),
            f"**{r.verdict}**" if r.verdict == "misses" else r.verdict, ", ".join(r.assumptions) or "-"]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    gaps = [r for r in rows if r.gap]
    if gaps:
        lines += ["", "Where the gap goes (share of the difference, by mechanism; in brackets what the percents "
                  "are of, where that is not the miss itself):", ""]
        for r in gaps:
            lines.append(f"* {r.paper}, {r.quantity} ({r.source}): {gap_text(r)}")
    return "\n".join(lines) + "\n"


def text_table(rows: Sequence[Row]) -> str:
    """The rows for a terminal: one line each, then the gaps and the assumptions' labels."""
    cols = [("paper", 13), ("quantity", 58), ("source", 13), ("paper", 16), ("pimjax", 16), ("rel.", 6),
            ("verdict", 14)]
    out = ["  ".join(f"{h:<{w}}" for h, w in cols) + "  assumptions"]
    for r in rows:
        vals = [r.paper, r.quantity, r.source, fmt_value(r.paper_value, r.unit), fmt_value(r.pimjax_value, r.unit),
                fmt_rel(r), r.verdict]
        cells = []
        for (_, w), v in zip(cols, vals):
            v = v if len(v) <= w else v[: w - 1] + "~"
            cells.append(f"{v:<{w}}")
        out.append("  ".join(cells) + "  " + (", ".join(r.assumptions) or "-"))
    for r in rows:
        if r.gap:
            out.append(f"gap of {r.paper} / {r.quantity}: {gap_text(r)}")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    out.append("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return "\n".join(out)


def assumptions_markdown(rows: Iterable[Row]) -> str:
    labels = sorted({a for r in rows for a in r.assumptions})
    if not labels:
        return ""
    lines = ["| label | assumption |", "|---|---|"]
    for a in labels:
        lines.append(f"| {a} | {_cell(ASSUMPTIONS.get(a, '(see the row)'))} |")
    return "\n".join(lines) + "\n"


def fidelity_markdown(rows: Sequence[Row], *, notes: dict[str, str] | None = None, command: str = "") -> str:
    """The whole of ``docs/fidelity.md``."""
    from . import PAPER_MODULES

    n_val = sum(r.kind == "value" for r in rows)
    n_ok = sum(r.verdict.startswith("within") or r.verdict == "trend holds" for r in rows)
    parts = [
        "# Fidelity: pimjax against the papers",
        "",
        "<!-- generated by `pimjax fidelity --write-docs`: do not edit by hand -->",
        "",
        f"Every headline number and trend of the five source papers, with pimjax's value computed from the "
        f"presets when the table is made (`{command or 'pimjax fidelity'}`; the accuracy rows read the committed "
        f"results files named in their assumptions). A number is *within {round(TOLERANCE * 100)}%* when "
        f"`|pimjax - paper| / |paper| <= {TOLERANCE}`; a trend *holds* when pimjax shows the paper's ordering "
        f"(for accuracies: beyond the spread over seeds). {len(rows)} rows ({n_val} numbers, {len(rows) - n_val} "
        f"trends): {n_ok} agree, {len(rows) - n_ok} do not. `tests/test_fidelity.py` fails when a verdict "
        f"changes (golden verdicts: `tests/fidelity_verdicts.json`, rewritten by "
        f"`pimjax fidelity --write-golden`).",
        "",
    ]
    for slug, name in PAPER_MODULES:
        sel = [r for r in rows if r.paper == name]
        parts += [f"## {name}", ""]
        if not sel:
            parts += ["(no rows yet)", ""]
            continue
        parts.append(markdown_table(sel, with_paper=False))
        if notes and notes.get(slug):
            parts += [notes[slug].strip(), ""]
    parts += ["## Assumptions", "", assumptions_markdown(rows)]
    return "\n".join(parts).rstrip() + "\n"


def rewrite_blocks(text: str, rows: Sequence[Row]) -> tuple[str, list[str]]:
    """``text`` with every ``fidelity`` block refilled; also the names of the blocks found."""
    from . import PAPER_MODULES

    names = dict(PAPER_MODULES)
    found: list[str] = []

    def fill(m: re.Match) -> str:
        name = m.group("name")
        found.append(name)
        if name == "all":
            sel = list(rows)
        elif name in names:
            sel = [r for r in rows if r.paper == names[name]]
        else:
            raise ValueError(f"unknown fidelity block {name!r}")
        body = markdown_table(sel, with_paper=name == "all")
        return m.group(1) + body + m.group(4)

    return BLOCK_RE.sub(fill, text), found


def write_docs(rows: Sequence[Row], root: str, *, notes: dict[str, str] | None = None,
               command: str = "") -> list[str]:
    """Writes ``docs/fidelity.md`` and refills the blocks of ``docs/*.md``; returns the files written."""
    docs = os.path.join(root, "docs")
    written = []
    path = os.path.join(docs, "fidelity.md")
    with open(path, "w") as f:
        f.write(fidelity_markdown(rows, notes=notes, command=command))
    written.append(path)
    for name in sorted(os.listdir(docs)):
        p = os.path.join(docs, name)
        if not name.endswith(".md") or name == "fidelity.md":
            continue
        with open(p) as f:
            text = f.read()
        new, found = rewrite_blocks(text, rows)
        if found and new != text:
            with open(p, "w") as f:
                f.write(new)
            written.append(p)
    return written


def verdicts(rows: Iterable[Row]) -> dict[str, dict[str, str]]:
    """Golden form: paper -> {row key -> verdict}."""
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        out.setdefault(r.paper, {})[r.key] = r.verdict
    return out


def write_golden(rows: Sequence[Row], path: str) -> None:
    """Writes the verdicts of ``rows`` to ``path`` (JSON), keeping other papers' entries there."""
    old: dict = {}
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
    old.update(verdicts(rows))
    with open(path, "w") as f:
        json.dump(old, f, indent=1, sort_keys=True)
        f.write("\n")


def compare_golden(rows: Sequence[Row], golden: dict[str, dict[str, str]]) -> list[str]:
    """Differences between ``rows`` and the golden verdicts, for the papers the golden file has."""
    now = verdicts(rows)
    diffs = []
    for paper, want in golden.items():
        got = now.get(paper, {})
        for key, v in want.items():
            if key not in got:
                diffs.append(f"row gone: {key} (golden {v!r})")
            elif got[key] != v:
                diffs.append(f"verdict changed: {key}: golden {v!r}, now {got[key]!r}")
        for key in got:
            if key not in want:
                diffs.append(f"new row without a golden verdict: {key} ({got[key]!r})")
    return diffs
