"""The command-line convention every ``cherry-*`` tool follows.

One spelling for one thing (``--out``, ``--model``, ``--params-file``, ``--topics``, ...), help
on every flag and defaults shown. Each tool builds its parser with :func:`tool_parser` and the
``add_*`` helpers below and exposes it as ``build_parser()``, so tests can import and compare
them (as torchvision's ``references/classification/train.py`` does with ``get_args_parser``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

# The one flag name of each option that more than one tool has; test/test_cli_convention.py
# checks every tool against it.
SHARED_OPTIONS: dict[str, str] = {
    "out": "--out",
    "model": "--model",
    "params_file": "--params-file",
    "topics": "--topics",
    "backend": "--backend",
    "threads": "--threads",
    "seed": "--seed",
    "data": "--data",
    "classes": "--classes",
    "labels_topic": "--labels-topic",
    "quiet": "--quiet",
    "thresholds": "--thresholds",
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default and keeps the description's line breaks."""


def tool_parser(prog: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    """A parser for one ``cherry-*`` tool, with the project's help formatter."""
    return argparse.ArgumentParser(
        prog=prog, description=description, epilog=epilog, formatter_class=HelpFormatter
    )


def add_renamed(parser: argparse.ArgumentParser, old_flag: str, dest: str, **kwargs) -> None:
    """Keep accepting a flag's former spelling, hidden from ``--help``."""
    parser.add_argument(old_flag, dest=dest, help=argparse.SUPPRESS, **kwargs)


def add_out(
    parser: argparse.ArgumentParser, help: str, *, required: bool = False, default=None
) -> None:
    parser.add_argument("--out", type=Path, required=required, default=default, help=help)


LEGACY_OUT = "legacy_out"  # dest of the former positional OUT that --out replaced


def add_legacy_out(parser: argparse.ArgumentParser) -> None:
    """Keep accepting ``--out``'s former spelling, a positional ``OUT``, hidden from ``--help``.

    Parse with :func:`require_out`, which folds it into ``args.out``.
    """
    parser.add_argument(LEGACY_OUT, nargs="?", type=Path, metavar="OUT", help=argparse.SUPPRESS)


def require_out(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with a positional ``OUT`` (:func:`add_legacy_out`) moved to ``args.out``; exits
    with the usage unless the output was given exactly once."""
    legacy = vars(args).pop(LEGACY_OUT, None)
    if legacy is not None and args.out is not None:
        parser.error("give the output once: --out OUT")
    if legacy is not None:
        args.out = legacy
    if args.out is None:
        parser.error("the following arguments are required: --out")
    return args


def add_model(
    parser: argparse.ArgumentParser, help: str, *, repeatable: bool = False, default=None
) -> None:
    if repeatable:
        parser.add_argument("--model", action="append", default=default, help=help)
    else:
        parser.add_argument("--model", default=default, help=help)


def add_params_file(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--params-file", type=Path, default=None, help=help)


def add_topics(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--topics", nargs="+", default=None, metavar="TOPIC", help=help)


def add_labels_topic(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--labels-topic", default=default, help="topic of the cherry labels in the bag"
    )


def add_thresholds(parser: argparse.ArgumentParser, parse, help: str) -> None:
    """``--thresholds model|params|pit,maybe,clean``; ``parse``: the value's argparse type
    (``bags.thresholds.parse_thresholds``)."""
    parser.add_argument(
        "--thresholds", type=parse, default=None, metavar="model|params|P,M,C", help=help
    )


def add_backend(
    parser: argparse.ArgumentParser,
    default: str | None = "eager",
    help: str = "core inference backend (eager, onnxruntime, ...)",
) -> None:
    parser.add_argument("--backend", default=default, help=help)


def add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads for inference (None: all cores)"
    )


def add_seed(parser: argparse.ArgumentParser, default: int = 0) -> None:
    parser.add_argument("--seed", type=int, default=default, help="random seed")


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="warnings only, no progress bars")
