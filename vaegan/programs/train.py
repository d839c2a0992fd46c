"""`python train.py` / `vaegan-train`: the training command line. Its flags are generated from `Config`; bad input
exits 2 with one line; the work is vaegan.trainer."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, Sequence

import yaml

from ..config import GROUPS, Config, ConfigError, build_config, check_value, load_yaml
from ..options import OneLineParser, add_flag, flag_help
from .common import run_cli


def _add_config_flag(group: argparse._ArgumentGroup, name: str) -> None:
    if name == "resume":  # a flag that may take a value: --resume, --resume auto, --no-resume
        add_flag(group, Config, "resume", nargs="?", const="yes")
        group.add_argument("--no-resume", dest="resume", action="store_const", const="no",
                           default=argparse.SUPPRESS, help="start a new run (the default)")
    elif name == "latent":
        add_flag(group, Config, "latent", nargs="+", metavar="N",
                 help=flag_help(Config, "latent") + "; several values train one run each")
    else:
        add_flag(group, Config, name)


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
            merged, args = _with_source_model(merged, args, source)
        latents = args.pop("latent", None) or [merged.get("latent", Config.latent)]
        if len(latents) > 1 and "out" in {**merged, **args} and {**merged, **args}["out"]:
            raise ConfigError("--out names one folder; leave it out when sweeping several --latent sizes")
        if len(latents) > 1 and not {**merged, **args}.get("wandb_group"):
            dataset = {**merged, **args}.get("dataset", Config.dataset)
            args["wandb_group"] = f"{dataset}-latent-sweep-{time.strftime('%Y%m%d-%H%M%S')}"
        return [build_config({**merged, **args, "latent": n}) for n in latents], given, print_only
    except ConfigError as e:
        parser.error(str(e))


def _with_source_model(recipe: dict, flags: dict, source: str) -> tuple[dict, dict]:
    """(recipe, flags) with the model fields of the AutoencoderKL at `source`: a typed flag that
    contradicts it is refused; a recipe's value yields to it, and one line names what it replaced."""
    from ..autoencoder_kl import with_autoencoder_fields

    if len(flags.get("latent") or [0]) > 1:
        raise ConfigError("--init-from trains the AutoencoderKL's own latent: one run, no --latent sweep")
    typed = {**flags, "latent": (flags.get("latent") or [None])[0]}
    settings = with_autoencoder_fields(typed, source)
    replaced = [f"{k} {recipe[k]} -> {v}" for k, v in settings.items()
                if k in recipe and k not in flags and recipe[k] != v]
    if replaced:
        print(f"note: --init-from {source} replaces the recipe's {', '.join(replaced)}", file=sys.stderr)
    model_fields = set(settings) - set(flags)
    return {k: v for k, v in recipe.items() if k not in model_fields}, {**settings, "latent": [settings["latent"]]}


def parse_train_args(argv: Optional[Sequence[str]] = None) -> list[Config]:
    """One Config per requested latent size (a sweep when `--latent` has several values)."""
    return parse_train_request(argv)[0]


def main(argv: Optional[Sequence[str]] = None) -> int:
    configs, given, print_only = parse_train_request(argv)
    if print_only:
        print("\n---\n".join(yaml.safe_dump(cfg.to_dict(), sort_keys=False) for cfg in configs), end="")
        return 0

    def main() -> int:
        from ..distributed import shutdown
        from ..trainer import train

        try:
            for cfg in configs:
                train(cfg, given)
        finally:
            shutdown()
        return 0

    return run_cli(main)
