"""Command-line front ends. Flags are generated from `Config`; bad input exits 2 with one line."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import Callable, Optional, Sequence

from .config import (FIELDS, ConfigError, Config, TrainingError, _base_type, build_config, check_value,
                     load_yaml)
from .signals import Interrupted


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; a user of a script wants the one line that matters."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    for name, f in FIELDS.items():
        # Both spellings work: --use-gan and --use_gan.
        flags = ["--" + name.replace("_", "-")] + (["--" + name] if "_" in name else [])
        kind, meta = _base_type(name), f.metadata
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        help_text = meta["help"] + ("" if default is None else f" (default: {default})")
        kwargs = dict(default=argparse.SUPPRESS, help=help_text)
        if name == "resume":  # a flag that may take a value: --resume, --resume auto, --no-resume
            parser.add_argument("--resume", nargs="?", const="yes", choices=meta["choices"], **kwargs)
            parser.add_argument("--no-resume", dest="resume", action="store_const", const="no",
                                default=argparse.SUPPRESS, help="start a new run (the default)")
        elif kind is bool:
            parser.add_argument(*flags, action=argparse.BooleanOptionalAction, **kwargs)
        elif name == "latent":
            parser.add_argument(*flags, type=int, nargs="+", metavar="N",
                                **{**kwargs, "help": help_text + "; several values train one run each"})
        elif kind is list:
            parser.add_argument(*flags, type=int, nargs="+", metavar="C", **kwargs)
        else:
            parser.add_argument(*flags, type=kind, choices=meta["choices"], metavar=name.upper()
                                if not meta["choices"] else None, **kwargs)


def train_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="train.py", description="Train a U-Net VAE(-GAN) or a baseline VAE on a torchvision dataset or a folder of "
                                   "your own images.")
    parser.add_argument("--config", metavar="FILE", help="YAML recipe (see configs/); flags override it")
    _add_config_flags(parser)
    return parser


def parse_train_args(argv: Optional[Sequence[str]] = None) -> list[Config]:
    """One Config per requested latent size (a sweep when `--latent` has several values)."""
    parser = train_parser()
    args = vars(parser.parse_args(argv))
    try:
        merged = load_yaml(args.pop("config")) if args.get("config") else {}
        args.pop("config", None)
        for key, value in merged.items():  # a bad file value is an error even where a flag overrides it
            check_value(key, value)
        latents = args.pop("latent", None) or [merged.get("latent", Config.latent)]
        if len(latents) > 1 and "out" in {**merged, **args} and {**merged, **args}["out"]:
            raise ConfigError("--out names one folder; leave it out when sweeping several --latent sizes")
        if len(latents) > 1 and not {**merged, **args}.get("wandb_group"):
            dataset = {**merged, **args}.get("dataset", Config.dataset)
            args["wandb_group"] = f"{dataset}-latent-sweep-{time.strftime('%Y%m%d-%H%M%S')}"
        return [build_config({**merged, **args, "latent": n}) for n in latents]
    except ConfigError as e:
        parser.error(str(e))


def run_cli(main: Callable[[], int]) -> int:
    """Turn user-facing errors raised deep inside into one line and exit code 2."""
    try:
        return main()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Interrupted as e:
        print(str(e), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def train_main(argv: Optional[Sequence[str]] = None) -> int:
    configs = parse_train_args(argv)

    def main() -> int:
        from .distributed import shutdown
        from .trainer import train

        try:
            for cfg in configs:
                train(cfg)
        finally:
            shutdown()
        return 0

    return run_cli(main)
