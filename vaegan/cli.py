"""Command-line front ends. Flags are generated from `Config`; bad input exits 2 with one line."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from typing import Callable, Optional, Sequence

import yaml

from .config import (
    FIELDS,
    GROUPS,
    RESUME_MAY_CHANGE,
    Config,
    ConfigError,
    TrainingError,
    _base_type,
    build_config,
    check_value,
    load_yaml,
)
from .signals import Interrupted


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; a user of a script wants the one line that matters."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _shown_default(name: str):
    """A field's default as --help and docs/cli.md print it (on / off for switches; None when unset)."""
    f = FIELDS[name]
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return ("on" if default else "off") if isinstance(default, bool) else default


def flag_help(name: str) -> str:
    """A field's help text with its default."""
    default = _shown_default(name)
    return FIELDS[name].metadata["help"] + ("" if default is None else f" (default: {default})")


def _add_config_flag(group: argparse._ArgumentGroup, name: str) -> None:
    kind, meta = _base_type(name), FIELDS[name].metadata
    flag = "--" + name.replace("_", "-")
    kwargs = dict(default=argparse.SUPPRESS, help=flag_help(name))
    if name == "resume":  # a flag that may take a value: --resume, --resume auto, --no-resume
        group.add_argument("--resume", nargs="?", const="yes", choices=meta["choices"], **kwargs)
        group.add_argument("--no-resume", dest="resume", action="store_const", const="no",
                           default=argparse.SUPPRESS, help="start a new run (the default)")
        return
    if kind is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif name == "latent":
        kwargs.update(type=int, nargs="+", metavar="N", help=kwargs["help"] + "; several values train one run each")
    elif kind is list:
        kwargs.update(type=int, nargs="+", metavar="C")
    else:
        kwargs.update(type=kind, choices=meta["choices"], metavar=None if meta["choices"] else name.upper())
    group.add_argument(flag, dest=name, **kwargs)
    if "_" in name:  # --use_gan works as well as --use-gan; --help shows one spelling
        group.add_argument("--" + name, dest=name, **{**kwargs, "help": argparse.SUPPRESS})


def train_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        usage="%(prog)s [--config FILE] [--print-config] [FLAG VALUE ...]",
        description="Train a U-Net VAE(-GAN) or a baseline VAE on a torchvision dataset or a folder of your "
                    "own images. Defaults < --config YAML < flags. Multi-word flags also take underscores "
                    "(--use_gan = --use-gan).",
        epilog="Reference with every default explained: docs/cli.md.")
    recipe = parser.add_argument_group("Recipe")
    recipe.add_argument("--config", metavar="FILE", help="YAML recipe (see configs/); flags override it")
    recipe.add_argument("--print-config", action="store_true",
                        help="print the resolved config (every default filled in) as YAML and exit")
    for title, names in GROUPS.items():
        group = parser.add_argument_group(title)
        for name in names:
            _add_config_flag(group, name)
    return parser


def parse_train_request(argv: Optional[Sequence[str]] = None) -> tuple[list[Config], frozenset[str], bool]:
    """The configs to train (one per `--latent` value), the keys the user set (flags or YAML) and
    whether only to print the resolved configs."""
    parser = train_parser()
    args = vars(parser.parse_args(argv))
    print_only = args.pop("print_config", False)
    try:
        merged = load_yaml(args.pop("config")) if args.get("config") else {}
        args.pop("config", None)
        for key, value in merged.items():  # a bad file value is an error even where a flag overrides it
            check_value(key, value)
        given = frozenset(merged) | frozenset(args)
        source = {**merged, **args}.get("init_from")
        if source:  # the model's fields are the AutoencoderKL's, set as if by flags
            from .autoencoder_kl import with_autoencoder_fields

            settings = {**merged, **args}
            if len(settings.get("latent") or [0]) > 1:
                raise ConfigError("--init-from trains the AutoencoderKL's own latent: one run, no --latent sweep")
            settings["latent"] = (settings.get("latent") or [None])[0]
            merged, args = {}, with_autoencoder_fields(settings, source)
            args["latent"] = [args["latent"]]
        latents = args.pop("latent", None) or [merged.get("latent", Config.latent)]
        if len(latents) > 1 and "out" in {**merged, **args} and {**merged, **args}["out"]:
            raise ConfigError("--out names one folder; leave it out when sweeping several --latent sizes")
        if len(latents) > 1 and not {**merged, **args}.get("wandb_group"):
            dataset = {**merged, **args}.get("dataset", Config.dataset)
            args["wandb_group"] = f"{dataset}-latent-sweep-{time.strftime('%Y%m%d-%H%M%S')}"
        return [build_config({**merged, **args, "latent": n}) for n in latents], given, print_only
    except ConfigError as e:
        parser.error(str(e))


def parse_train_args(argv: Optional[Sequence[str]] = None) -> list[Config]:
    """One Config per requested latent size (a sweep when `--latent` has several values)."""
    return parse_train_request(argv)[0]


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def run_cli(main: Callable[[], int]) -> int:
    """Turn user-facing errors raised deep inside into one line and exit code 2; warnings into one line."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_line
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
    configs, given, print_only = parse_train_request(argv)
    if print_only:
        print("\n---\n".join(yaml.safe_dump(cfg.to_dict(), sort_keys=False) for cfg in configs), end="")
        return 0

    def main() -> int:
        from .distributed import shutdown
        from .trainer import train

        try:
            for cfg in configs:
                train(cfg, given)
        finally:
            shutdown()
        return 0

    return run_cli(main)


def cli_markdown() -> str:
    """docs/cli.md: every training flag by group, from the Config (a test fails when the file is stale)."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["# Training flags (`python train.py` / `vaegan-train`)", "",
             "Generated from `vaegan/config.py` by `python -m vaegan.cli docs/cli.md`; do not edit by hand.",
             "Precedence: defaults < `--config FILE` (YAML, keys spelled as below with `_`) < flags. Multi-word",
             "flags also take underscores (`--use_gan` = `--use-gan`); on/off flags also take `no-` (`--no-visuals`).",
             "`--print-config` prints the resolved config, every default filled in, and exits.", ""]
    for title, names in GROUPS.items():
        lines += [f"## {title}", "", "| flag | default | what it does |", "|---|---|---|"]
        for name in names:
            f, default = FIELDS[name], _shown_default(name)
            if default is None:
                shown = "see text" if "default:" in f.metadata["help"] else "unset"
            else:
                shown = f"`{default}`"
            choices = f.metadata["choices"]
            flag = "--" + name.replace("_", "-")
            value = " {" + ",".join(map(str, choices)) + "}" if choices else ""
            lines.append(f"| `{flag}{value}` | {shown} | {cell(f.metadata['help'])} |")
        lines.append("")
    may_change = ", ".join(f"`--{n.replace('_', '-')}`" for n in sorted(RESUME_MAY_CHANGE))
    lines += ["## What `--resume` may change", "",
              "A resumed run trains with the checkpoint's settings. Of the flags above only these may differ",
              f"from it: {may_change}. Any other one that is given and differs is refused, with",
              "both values named; one not given keeps the checkpoint's value.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    from pathlib import Path

    Path(sys.argv[1]).write_text(cli_markdown())
