"""The command line's words: its parser (every command, flag, default and help), how `train`'s flags
become a TrainConfig, and `archs`. None of it imports torch, so `--help`, a mistyped command or flag and
`archs` answer at once; what the other commands do is in mnist_core.commands, imported only to run one."""

from __future__ import annotations

import argparse
import os
import sys

from . import catalog
from .catalog import ARCHS, INITS, OPTIMIZERS, SCHEDULES

# `--ray` without an address: $MNIST_LAB_RAY_ADDRESS, else "auto" (read when the command runs: ray_address)
RAY_DEFAULT = "default"


def arch_name(text: str) -> str:
    """--arch's type: a registry name, any case; an unknown one names the nearest (argparse says it)."""
    name = text.strip().lower()
    if name in ARCHS:
        return name
    import difflib

    near = difflib.get_close_matches(name, list(ARCHS), n=1, cutoff=0.7)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    raise argparse.ArgumentTypeError(f"unknown architecture '{text}'{hint} (one of: {', '.join(ARCHS)})")


def config_from_args(args):
    """The TrainConfig `train`'s flags ask for: the chosen recipe (--tutorial, else the recommended one)
    with every flag that was given over it."""
    overrides = {
        k: v
        for k, v in {
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "optimizer": args.optimizer,
            "schedule": args.schedule,
            "label_smoothing": args.label_smoothing,
            "init": args.init,
            "augment": args.augment,
            "pen_data": args.pen_data,
            "styles": args.styles,
            "negatives": args.negatives,
            "seed": args.seed,
            "device": args.device,
            "dataset": args.dataset,
            "max_steps": args.max_steps,
            "train_limit": args.train_limit,
        }.items()
        if v is not None
    }
    from . import recipes  # (the parser needs no recipe: `--help` stays quick)

    return (recipes.tutorial if args.tutorial else recipes.recommended)(args.arch, **overrides)


def ray_address(given: str) -> str:
    """The Ray address `--ray` asks for: the one given, or for `--ray` alone $MNIST_LAB_RAY_ADDRESS, else auto."""
    if given != RAY_DEFAULT:
        return given
    from . import settings

    return settings.ray_address() or "auto"


def cmd_archs(args) -> int:
    """The table of the architectures, from the catalog (no network is built, no torch imported)."""
    rows = [(a.name, f"{a.params:,}", a.reported, a.description) for a in ARCHS.values()]
    head = ("name", "params", "tutorial reported", "description")
    w = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]  # columns as wide as their longest cell
    for r in [head, *rows]:
        print(f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")
    for line in _shipped_lines():
        print(line)
    return 0


def _shipped_lines() -> list[str]:
    """The shipped models built otherwise than the table counts them (the shipped cnn is wider), read from
    their checkpoints without torch, with the quick first run's arguments where they differ again."""
    from . import peek, recipes, settings

    lines = []
    for name in (a.name for a in ARCHS.values() if a.arg_ranges):  # the others are always built one way
        found = peek.recorded(settings.models_dir() / f"{name}.pt")
        if not found or not found["arch_args"]:
            continue
        args, quick = found["arch_args"], recipes.quick(name).arch_args
        lines.append(
            f"shipped {name}: {catalog.args_said(name, args)}, {catalog.param_count(name, args):,} parameters "
            f"(the table counts it at {catalog.args_said(name, {})})"
        )
        if quick != args:
            lines.append(
                f"  the quick first run trains {catalog.args_said(name, quick)}: "
                f"{catalog.param_count(name, quick):,} parameters"
            )
    return lines


DATA_DIR_HELP = "the folder holding MNIST/raw/ (default: $MNIST_DATA_DIR, else ./data)"


def _recipes_epilog() -> str:
    """Each architecture's fast recipe: the defaults of the hyperparameters left unset."""
    from . import recipes

    keys = ("epochs", "optimizer", "lr", "batch_size", "schedule", "augment")
    lines = ["Unset hyperparameters come from the architecture's fast recipe (--tutorial: the tutorial's):"]
    for name in ARCHS:
        cfg = recipes.recommended(name)
        lines.append(f"  {name:<15}" + "  ".join(f"{k}={getattr(cfg, k)}" for k in keys))
    return "\n".join(lines)


def _columns() -> int:
    """The terminal's width as argparse reads it (shutil.get_terminal_size), without importing shutil:
    with its compression modules, that import is a tenth of the command line's start."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class Help(argparse.HelpFormatter):
    """argparse's help, told the terminal's width (_columns)."""

    def __init__(self, prog: str, **kwargs) -> None:
        kwargs["width"] = kwargs.get("width") or _columns() - 2  # what argparse does with shutil's figure
        super().__init__(prog, **kwargs)


class RawHelp(Help, argparse.RawDescriptionHelpFormatter):
    """The same, with the epilog as written (train's table of recipes)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake prints the one line that says what is wrong, not the whole usage; and an
    epilog given as a function is written only when the help is shown (`train`'s reads every recipe)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", Help)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n(see: {self.prog} --help)\n")

    def format_help(self) -> str:
        if callable(self.epilog):
            self.epilog = self.epilog()
        return super().format_help()


def _train_flags(t: argparse.ArgumentParser) -> None:
    t.epilog, t.formatter_class = _recipes_epilog, RawHelp
    recipe = "default: the architecture's recipe (below)"
    t.add_argument(
        "--arch", default="cnn", type=arch_name, metavar="NAME", help=f"one of {', '.join(ARCHS)} (default: cnn)"
    )
    t.add_argument("--epochs", type=int, help=recipe)
    t.add_argument("--data-dir", help=DATA_DIR_HELP)
    t.add_argument("--out", help="checkpoint path (default: the runs directory, $MNIST_RUNS_DIR else ./runs)")
    t.add_argument("--name", help="run name (default: ARCH-DATE-TIME)")
    t.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    t.add_argument("--tutorial", action="store_true", help="start from the tutorial's recipe, not the fast one")
    t.add_argument("--lr", type=float, help=recipe)
    t.add_argument("--batch-size", type=int, help=recipe)
    t.add_argument("--optimizer", choices=OPTIMIZERS, help=recipe)
    t.add_argument("--schedule", choices=SCHEDULES, help=recipe)
    t.add_argument("--init", choices=INITS, help=recipe)
    t.add_argument("--label-smoothing", type=float, help=recipe)
    t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None, help=recipe)
    t.add_argument(
        "--pen-data",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mix UNIPEN's training writers' pen-drawn digits into the batches (needs UNIPEN/; default: off)",
    )
    t.add_argument(
        "--styles",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="add world writing styles: slashed 0, crossed 7, flagged 1, floating-bar 5, curled or "
        "small-headed 9 (default: off)",
    )
    t.add_argument(
        "--negatives",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train an 11th output, 'not a digit', on the project's own non-digits (letters, shapes, scribbles, "
        "spoiled digits; drawn-input networks; needs UNIPEN/; default: off)",
    )
    t.add_argument("--seed", type=int, help="default: 0")
    t.add_argument("--device", choices=catalog.DEVICES, help="default: auto (a GPU when there is one)")
    t.add_argument("--dataset", choices=catalog.DATASETS, help="default: mnist")
    t.add_argument("--max-steps", type=int, help="stop after this many steps (default: 0, no limit)")
    t.add_argument("--train-limit", type=int, help="train on the first N images (default: 0, all)")
    t.add_argument(
        "--ray",
        nargs="?",
        const=RAY_DEFAULT,
        metavar="ADDRESS",
        help="run it on a Ray cluster, as the app does with $MNIST_LAB_RAY_ADDRESS: 'auto' (default: a "
        "cluster started here with `ray start --head`), ray://HOST:PORT, or 'local'",
    )


def _evaluate_flags(e: argparse.ArgumentParser) -> None:
    e.add_argument("model", help="a checkpoint path or a model name")
    e.add_argument("--data-dir", help=DATA_DIR_HELP)
    e.add_argument("--json", action="store_true")


def _pretrain_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument("--out-dir", help="default: the repository's models/ folder")
    p.add_argument(
        "--arch",
        action="append",
        type=arch_name,
        metavar="NAME",
        help="only these (repeatable; default: every architecture)",
    )
    p.add_argument(
        "--measurements-only",
        action="store_true",
        help="train nothing: keep the shipped models' measurements beside them (what Compare shows on a fresh "
        "clone), for those missing or out of date; needs MNIST and UNIPEN in the data folder",
    )


def _collection_flags(c: argparse.ArgumentParser) -> None:
    c.add_argument("action", choices=["list", "export", "import"])
    c.add_argument("name", nargs="?", help="the collection (export, import)")
    c.add_argument("file", nargs="?", help="the ZIP to write (export; default NAME.zip) or to read (import)")


def _finetune_flags(f: argparse.ArgumentParser) -> None:
    f.add_argument("--from", dest="start", default="cnn", help="the model to start from (default: cnn)")
    f.add_argument("--collection", default="mine", help="the collection (default: mine)")
    f.add_argument("--data-dir", help=DATA_DIR_HELP)
    f.add_argument("--out", help="checkpoint path (default: the runs folder, as 'MODEL + COLLECTION')")
    f.add_argument("--max-steps", type=int, help="default: the fine-tuning recipe's 300")
    f.add_argument("--json", action="store_true", help="print one JSON object as the last line")


# each command: its line in --help and what adds its flags
COMMANDS = {
    "archs": ("list the architectures", None),
    "train": ("train one model", _train_flags),
    "evaluate": ("test accuracy of a checkpoint", _evaluate_flags),
    "pretrain": ("rebuild the shipped models (deterministic, CPU)", _pretrain_flags),
    "bench": ("inference latency per model", None),
    "collection": ("your kept drawings: list, export (ZIP), import", _collection_flags),
    "finetune": ("fine-tune a model on a collection of your drawings (mixed with MNIST)", _finetune_flags),
}


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser. Given `command`, only that command's flags are added (the others are
    listed, as --help lists them): main() passes the command typed (command_in), so `--help` and a
    mistyped command do not wait for every command's flags to be built."""
    ap = Parser(prog="python -m mnist_core", description="MNIST Lab engine")
    sub = ap.add_subparsers(dest="command", required=True)
    for name, (said, flags) in COMMANDS.items():
        p = sub.add_parser(name, help=said)
        if flags and command in (None, name):
            flags(p)
    return ap


def command_in(argv: list[str]) -> str:
    """The command `argv` names: its first word, when that is a command ('' for an option or a typo)."""
    return argv[0] if argv and argv[0] in COMMANDS else ""
