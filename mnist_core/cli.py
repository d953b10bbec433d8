"""The command line's words: its parser (every command, flag, default and help), how `train`'s flags
become a TrainConfig, and `archs`. None of it imports torch, so `--help`, a mistyped command or flag and
`archs` answer at once; what the other commands do is in mnist_core.commands, imported only to run one."""

from __future__ import annotations

import argparse
import difflib

from . import catalog, recipes, settings
from .catalog import ARCHS, INITS, OPTIMIZERS, SCHEDULES
from .config import TrainConfig


def arch_name(text: str) -> str:
    """--arch's type: a registry name, any case; an unknown one names the nearest (argparse says it)."""
    name = text.strip().lower()
    if name in ARCHS:
        return name
    near = difflib.get_close_matches(name, list(ARCHS), n=1, cutoff=0.7)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    raise argparse.ArgumentTypeError(f"unknown architecture '{text}'{hint} (one of: {', '.join(ARCHS)})")


def config_from_args(args) -> TrainConfig:
    """The run `train`'s flags ask for: the chosen recipe (--tutorial, else the recommended one) with every
    flag that was given over it."""
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
            "seed": args.seed,
            "device": args.device,
            "dataset": args.dataset,
            "max_steps": args.max_steps,
            "train_limit": args.train_limit,
        }.items()
        if v is not None
    }
    return (recipes.tutorial if args.tutorial else recipes.recommended)(args.arch, **overrides)


def cmd_archs(args) -> int:
    """The table of the architectures, from the catalog (no network is built, no torch imported)."""
    rows = [(a.name, f"{a.params:,}", a.reported, a.description) for a in ARCHS.values()]
    head = ("name", "params", "tutorial reported", "description")
    w = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]  # columns as wide as their longest cell
    for r in [head, *rows]:
        print(f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:<{w[2]}}  {r[3]}")
    return 0


DATA_DIR_HELP = "the folder holding MNIST/raw/ (default: $MNIST_DATA_DIR, else ./data)"


def _recipes_epilog() -> str:
    """Each architecture's fast recipe: the defaults of the hyperparameters left unset."""
    keys = ("epochs", "optimizer", "lr", "batch_size", "schedule", "augment")
    lines = ["Unset hyperparameters come from the architecture's fast recipe (--tutorial: the tutorial's):"]
    for name in ARCHS:
        cfg = recipes.recommended(name)
        lines.append(f"  {name:<15}" + "  ".join(f"{k}={getattr(cfg, k)}" for k in keys))
    return "\n".join(lines)


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake prints the one line that says what is wrong, not the whole usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n(see: {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    ap = Parser(prog="python -m mnist_core", description="MNIST Lab engine")
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("archs", help="list the architectures").set_defaults(command="archs")

    t = sub.add_parser(
        "train", help="train one model", epilog=_recipes_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
    t.add_argument("--seed", type=int, help="default: 0")
    t.add_argument("--device", choices=catalog.DEVICES, help="default: auto (a GPU when there is one)")
    t.add_argument("--dataset", choices=catalog.DATASETS, help="default: mnist")
    t.add_argument("--max-steps", type=int, help="stop after this many steps (default: 0, no limit)")
    t.add_argument("--train-limit", type=int, help="train on the first N images (default: 0, all)")
    t.add_argument(
        "--ray",
        nargs="?",
        const=settings.ray_address() or "auto",
        metavar="ADDRESS",
        help="run it on a Ray cluster, as the app does with $MNIST_LAB_RAY_ADDRESS: 'auto' (default: a "
        "cluster started here with `ray start --head`), ray://HOST:PORT, or 'local'",
    )
    t.set_defaults(command="train")

    e = sub.add_parser("evaluate", help="test accuracy of a checkpoint")
    e.add_argument("model", help="a checkpoint path or a model name")
    e.add_argument("--data-dir", help=DATA_DIR_HELP)
    e.add_argument("--json", action="store_true")
    e.set_defaults(command="evaluate")

    p = sub.add_parser("pretrain", help="rebuild the shipped models (deterministic, CPU)")
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument("--out-dir", default=str(settings.SHIPPED_DIR), help="default: %(default)s")
    p.add_argument(
        "--arch",
        action="append",
        type=arch_name,
        metavar="NAME",
        help="only these (repeatable; default: every architecture)",
    )
    p.set_defaults(command="pretrain")

    sub.add_parser("bench", help="inference latency per model").set_defaults(command="bench")

    c = sub.add_parser("collection", help="your kept drawings: list, export (ZIP), import")
    c.add_argument("action", choices=["list", "export", "import"])
    c.add_argument("name", nargs="?", help="the collection (export, import)")
    c.add_argument("file", nargs="?", help="the ZIP to write (export; default NAME.zip) or to read (import)")
    c.set_defaults(command="collection")

    f = sub.add_parser("finetune", help="fine-tune a model on a collection of your drawings (mixed with MNIST)")
    f.add_argument("--from", dest="start", default="cnn", help="the model to start from (default: cnn)")
    f.add_argument("--collection", default="mine", help="the collection (default: mine)")
    f.add_argument("--data-dir", help=DATA_DIR_HELP)
    f.add_argument("--out", help="checkpoint path (default: the runs folder, as 'MODEL + COLLECTION')")
    f.add_argument("--max-steps", type=int, help="default: the fine-tuning recipe's 300")
    f.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    f.set_defaults(command="finetune")
    return ap
