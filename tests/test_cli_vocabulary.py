"""One vocabulary across ``pimjax``'s subcommands, and help that says every default.

Generic over the parser: every subparser of :func:`pimjax.cli.build_parser` is checked, so a
subcommand or an option added later is held to the same rules.
"""

from __future__ import annotations

import argparse
import re
import sys

import pytest

from pimjax import cli

# One name per concept: the old spellings (and names of other concepts that a newcomer would
# confuse) may exist only as hidden, deprecated aliases.
BANNED = {
    "--system": "--hw", "--preset": "--hw", "--precision": "--hw", "--hardware": "--hw",  # a hardware preset
    "--batch": "--batch-size", "--bs": "--batch-size",  # examples per step
    "--width": "--model-width or --array-width", "--rows": "--array-rows",  # channel multiplier vs array shape
    "--learning-rate": "--lr",
}
MARKUP = re.compile(r"``|:(func|class|mod|meth|data|attr):`")


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


SUBPARSERS = _subparsers()


def _options(p: argparse.ArgumentParser):
    return [a for a in p._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]


def test_every_subcommand_is_checked():
    assert {"demo", "presets", "train", "cost", "sweep", "schedule"} <= set(SUBPARSERS)


@pytest.mark.parametrize("name", sorted(SUBPARSERS))
def test_options_use_the_shared_names(name):
    p = SUBPARSERS[name]
    for a in _options(p):
        for opt in a.option_strings:
            if opt in BANNED:
                assert a.help == argparse.SUPPRESS, (
                    f"pimjax {name} {opt}: an old or ambiguous name, allowed only as a hidden deprecated alias "
                    f"(use {BANNED[opt]}; pimjax.apps.argtypes.deprecated_alias)")
            assert opt.startswith("--") and opt == opt.lower() and "_" not in opt, f"pimjax {name} {opt}"


@pytest.mark.parametrize("name", sorted(SUBPARSERS))
def test_help_shows_every_default(name):
    p = SUBPARSERS[name]
    assert p.description and not MARKUP.search(p.description), f"pimjax {name}: description missing or in RST"
    for a in _options(p):
        if a.help == argparse.SUPPRESS or a.nargs == 0:  # hidden aliases; flags (store_true, ...)
            continue
        assert a.help, f"pimjax {name} {a.option_strings[0]} has no help"
        text = a.help % {**vars(a), "default": a.default, "prog": p.prog}
        assert not MARKUP.search(text), f"pimjax {name} {a.option_strings[0]}: RST markup in its help"
        assert "default" in text, f"pimjax {name} {a.option_strings[0]}: the help does not say its default"
        if isinstance(a.default, (int, float, str)) and not isinstance(a.default, bool):
            assert str(a.default) in text, f"pimjax {name} {a.option_strings[0]}: default {a.default!r} not shown"
    p.format_help()  # renders


def test_hidden_aliases_still_work_and_warn(capsys):
    parser = cli.build_parser()
    old = parser.parse_args(["cost", "--batch", "4", "--system", "slices_hbm", "--model", "gnmt"])
    err = capsys.readouterr().err
    assert (old.batch_size, old.system, old.model) == (4, "slices_hbm", "translator")
    assert "--batch is deprecated" in err and "use --batch-size" in err and "--system is deprecated" in err
    assert "--model gnmt is deprecated" in err
    new = parser.parse_args(["cost", "--batch-size", "4", "--hw", "slices_hbm", "--model", "translator"])
    assert (new.batch_size, new.system, new.model) == (4, "slices_hbm", "translator")
    assert capsys.readouterr().err == ""
    t = parser.parse_args(["train", "--rows", "8", "--width", "4"])
    assert (t.rows, t.width) == (8, 4) and "--width is deprecated" in capsys.readouterr().err
    s = parser.parse_args(["schedule", "--width", "0.5", "--system", "slices_hbm"])
    assert (s.width, s.system) == (0.5, "slices_hbm")
    d = parser.parse_args(["demo", "--preset", "memory_slices_fp32"])
    assert d.preset == "memory_slices_fp32" and "--preset is deprecated" in capsys.readouterr().err


def test_presets_lists_every_kind_with_its_option(capsys):
    from pimjax.hw import presets
    from pimjax.nn import PRECISIONS

    assert cli.main(["presets"]) == 0
    out = capsys.readouterr().out
    for flag in ("pimjax demo --hw", "pimjax cost --hw", "pimjax schedule --hw", "pimjax train --hw"):
        assert flag in out
    for name in (*presets.names(), *PRECISIONS):
        assert re.search(rf"^  {re.escape(name)} +\S", out, re.M), name  # listed, with a description


def test_train_errors_speak_in_flag_names(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "--epochs", "0"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "--epochs must be" in err and "TrainConfig" not in err


def test_too_many_devices_says_how_to_get_cpu_devices(capsys):
    import jax

    n = len(jax.devices()) * 2
    with pytest.raises(SystemExit):
        cli.main(["train", "--devices", str(n), "--slices", str(n)])
    err = capsys.readouterr().err
    assert "--devices must be at most" in err and f"XLA_FLAGS=--xla_force_host_platform_device_count={n}" in err


def test_ctrl_c_is_one_line_and_status_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_presets", interrupted)
    assert cli.main(["presets"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "pimjax presets: interrupted" and "Traceback" not in err


def test_user_presets_from_the_environment(tmp_path, monkeypatch, capsys):
    from pimjax.hw import _presets

    monkeypatch.setattr(_presets, "_REGISTRY", dict(_presets._REGISTRY))  # the test's preset goes with it
    monkeypatch.setattr(_presets, "_DOCS", dict(_presets._DOCS))
    monkeypatch.delitem(sys.modules, "my_pim_presets", raising=False)
    (tmp_path / "my_pim_presets.py").write_text(
        "from pimjax import hw\n"
        "@hw.presets.register('my_test_slices', 'slices_hmc2 with 64 slices (a test preset)')\n"
        "def _():\n"
        "    return hw.presets.get('slices_hmc2').replace(num_slices=64)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(cli.PRESETS_ENV, "my_pim_presets")
    assert cli.main(["presets"]) == 0
    assert "my_test_slices" in capsys.readouterr().out
    assert cli.main(["cost", "--model", "alexnet", "--input-size", "32", "--batch-size", "2", "--hw",
                     "my_test_slices", "--json"]) == 0
    assert '"slices": 64' in capsys.readouterr().out
