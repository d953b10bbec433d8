"""Command line: python -m mnist_core {archs, train, evaluate, pretrain, bench}.

archs                      table of the architectures
train --arch NAME --epochs N [--data-dir DIR] [--out PATH] [--json] [--ray [ADDRESS]] [hyperparameters]
evaluate PATH_OR_NAME [--data-dir DIR] [--json]
pretrain [--data-dir DIR] [--out-dir models] [--arch NAME ...]   rebuild the shipped models
bench                      inference latency of every available model
collection list | export NAME [FILE] | import NAME FILE   your kept drawings
finetune --from MODEL --collection NAME [--json]           fine-tune on your drawings
"""

from __future__ import annotations

import sys

from . import cli


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = cli.parser(cli.command_in(argv)).parse_args(argv)  # --help and mistakes end here, before torch
    if args.command == "archs":
        return cli.cmd_archs(args)
    from . import commands  # torch and the engine: only for a command that needs them

    return commands.run(args)


if __name__ == "__main__":
    sys.exit(main())
