"""Every ``cherry-*`` tool follows the command-line convention of :mod:`cherry_classifier.cli`.

- every console script named ``cherry-*`` in setup.py has a ``build_parser()`` in its module,
  built with ``cli.tool_parser``, and its entry point parses with it;
- a shared option (``cli.SHARED_OPTIONS``) is spelled as the convention says, in every tool that
  has it (by dest, or by a known other spelling such as ``--out-dir``); a former spelling may
  stay only hidden and storing to the same dest;
- every visible option has help, and ``--help`` shows the defaults (no help text states its own).

Only the parsers are used: no ROS, nothing runs.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cherry_classifier import cli

REPO_ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINT = re.compile(r"""["'](cherry-[\w-]+)\s*=\s*([\w.]+):(\w+)["']""")
TOOLS = {
    "cherry-synth",
    "cherry-train",
    "cherry-compare",
    "cherry-bag-make",
    "cherry-eval",
    "cherry-replay",
    "cherry-model",
}
# Other spellings of the shared options (former ones, and likely slips): flag -> shared key.
ALIASES = {
    "--out-dir": "out",
    "--output": "out",
    "--output-dir": "out",
    "--model-path": "model",
    "--params": "params_file",
    "--param-file": "params_file",
    "--num-threads": "threads",
    "--data-root": "data",
    "--class-names": "classes",
    "--label-topic": "labels_topic",
    "--silent": "quiet",
}
ALIAS_DESTS = {flag[2:].replace("-", "_"): key for flag, key in ALIASES.items()}


def console_scripts() -> dict[str, tuple[str, str]]:
    """setup.py's ``cherry-*`` console scripts: name -> (module, function), read from its text."""
    text = (REPO_ROOT / "setup.py").read_text()
    return {name: (module, function) for name, module, function in ENTRY_POINT.findall(text)}


SCRIPTS = console_scripts()


def parser_of(name: str) -> argparse.ArgumentParser:
    return importlib.import_module(SCRIPTS[name][0]).build_parser()


def with_commands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and its sub-commands' parsers (``cherry-model import`` ...), at any depth."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += with_commands(sub)
    return found


def visible(action: argparse.Action) -> bool:
    return action.help is not argparse.SUPPRESS


def spelling(action: argparse.Action) -> str:
    return "/".join(action.option_strings) or f"positional {action.dest!r}"


def shared_key(action: argparse.Action) -> str | None:
    """The ``SHARED_OPTIONS`` key of what ``action`` sets, if it is a shared option."""
    if action.dest in cli.SHARED_OPTIONS:
        return action.dest
    for flag in action.option_strings:
        if flag in ALIASES:
            return ALIASES[flag]
    return ALIAS_DESTS.get(action.dest)


def violations(parser: argparse.ArgumentParser) -> list[str]:
    """Where ``parser`` spells a shared option otherwise than ``SHARED_OPTIONS``."""
    shown = {flag for a in parser._actions if visible(a) for flag in a.option_strings}
    found = []
    for action in parser._actions:
        key = shared_key(action)
        if key is None:
            continue
        flag = cli.SHARED_OPTIONS[key]
        if visible(action) and action.option_strings != [flag]:
            found.append(f"{spelling(action)} must be spelled {flag}")
        elif not visible(action) and (action.dest != key or flag not in shown):
            found.append(f"hidden {spelling(action)} must store to {key!r} beside a visible {flag}")
    return found


def squeezed(text: str) -> str:
    """``text`` without whitespace: compares help texts however ``--help`` wraps them."""
    return "".join(text.split())


def expanded_help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text ``--help`` prints for ``action``, defaults filled in."""
    return parser._get_formatter()._expand_help(action)


# -- (a) every tool has its build_parser ---------------------------------------------------------
def test_setup_py_lists_every_tool():
    assert set(SCRIPTS) >= TOOLS


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_each_tool_builds_its_parser_by_the_convention_and_parses_with_it(name):
    module_name, function = SCRIPTS[name]
    module = importlib.import_module(module_name)
    assert callable(getattr(module, "build_parser", None)), f"{module_name} has no build_parser()"
    parser = module.build_parser()
    assert isinstance(parser, argparse.ArgumentParser)
    assert parser.prog == name
    assert parser.formatter_class is cli.HelpFormatter, "build it with cli.tool_parser"
    assert "build_parser()" in inspect.getsource(getattr(module, function))


def test_the_parsers_need_no_ros():
    """Each tool's module imports, and builds its parser, with ROS (rclpy, messages) blocked."""
    script = (
        "import importlib, sys\n"
        "class NoRos:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        top = name.split('.')[0]\n"
        "        if top == 'rclpy' or top.startswith('rosidl') or top.endswith('_msgs'):\n"
        "            raise ModuleNotFoundError(f'ROS blocked: {name}')\n"
        "sys.meta_path.insert(0, NoRos())\n"
        "for name in sys.argv[2:]:\n"
        "    module = importlib.import_module(name)\n"
        "    assert module.__file__.startswith(sys.argv[1]), module.__file__\n"
        "    module.build_parser()\n"
    )
    modules = sorted({module for module, _ in SCRIPTS.values()})
    path = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, "-c", script, str(REPO_ROOT), *modules],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]


# -- (b) one spelling per shared option ----------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_shared_options_have_the_one_spelling(name):
    for parser in with_commands(parser_of(name)):
        assert violations(parser) == [], parser.prog


def test_another_spelling_of_a_shared_option_is_caught():
    parser = cli.tool_parser("cherry-bad", "breaks the convention")
    parser.add_argument("out", help="positional output")
    parser.add_argument("--out-dir", help="run folder")
    parser.add_argument("--num-threads", type=int, help="threads")
    parser.add_argument("--model-file", dest="model", help="model")
    cli.add_renamed(parser, "--params", "params")
    assert len(violations(parser)) == 5

    good = cli.tool_parser("cherry-good", "follows it")
    cli.add_out(good, "run folder")
    cli.add_renamed(good, "--out-dir", "out")
    cli.add_threads(good)
    assert violations(good) == []


LEGACY = [
    ("cherry-train", ["--out-dir", "runs/a"], ["--out", "runs/a"]),
    ("cherry-synth", ["data/synth"], ["--out", "data/synth"]),
    ("cherry-bag-make", ["bags/a", "--synthetic", "2"], ["--out", "bags/a", "--synthetic", "2"]),
    (
        "cherry-eval",
        ["bag", "--params", "p.yaml", "--num-threads", "2", "--out", "eval"],
        ["bag", "--params-file", "p.yaml", "--threads", "2", "--out", "eval"],
    ),
    ("cherry-replay", ["--model-path", "resnet50_v3"], ["--model", "resnet50_v3"]),
]


def parse(name: str, argv: list[str]) -> dict:
    parser = parser_of(name)
    args = parser.parse_args(argv)
    if cli.LEGACY_OUT in vars(args):
        args = cli.require_out(parser, args)
    return vars(args)


@pytest.mark.parametrize(("name", "old", "new"), LEGACY)
def test_former_spellings_still_work(name, old, new):
    assert parse(name, old) == parse(name, new)


def test_the_output_is_given_once():
    with pytest.raises(SystemExit):
        parse("cherry-synth", ["data/a", "--out", "data/b"])
    with pytest.raises(SystemExit):
        parse("cherry-bag-make", ["--synthetic", "2"])


# -- (c) and (d): help on every flag, defaults shown ---------------------------------------------
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_visible_option_has_help(name):
    for parser in with_commands(parser_of(name)):
        bare = [spelling(a) for a in parser._actions if visible(a) and not (a.help or "").strip()]
        assert bare == [], parser.prog


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_help_shows_the_defaults(name):
    for parser in with_commands(parser_of(name)):
        assert parser.formatter_class is cli.HelpFormatter, parser.prog
        shown = squeezed(parser.format_help())
        for action in parser._actions:
            if not visible(action) or not action.option_strings:
                continue
            if action.default is argparse.SUPPRESS:
                continue
            where = f"{parser.prog} {spelling(action)}"
            assert not re.search(r"\(default\b", action.help), f"{where}: states its default"
            text = expanded_help(parser, action)
            assert f"(default: {action.default})" in text, f"{where}: {text!r}"
            assert squeezed(text) in shown, f"{where}: not in --help as {text!r}"
