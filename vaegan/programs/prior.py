"""`vaegan-prior --checkpoint RUN/checkpoints/best.pt`: train a diffusion prior on a trained model's latents.

The command line only: the run itself is vaegan.priors.training (what it writes, and where); its flags
come from `PriorConfig` there.
"""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

from ..config import ConfigError, load_yaml
from ..options import build_options, check_field, options_parser
from ..priors.training import RECIPE_KEYS, PriorConfig
from .common import run_cli


def prior_parser() -> argparse.ArgumentParser:
    return options_parser(PriorConfig, "vaegan-prior", __doc__.splitlines()[0])


def read_recipe(path: str) -> dict:
    """A --config YAML: Training and Evaluation settings only (the checkpoint, data and logging are the command's)."""
    recipe = load_yaml(path)
    for key, value in recipe.items():
        if key not in RECIPE_KEYS:
            raise ConfigError(f"{path}: {key!r} is not a vaegan-prior recipe key ({', '.join(RECIPE_KEYS)})")
        try:
            check_field(PriorConfig, key, value)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    return recipe


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = prior_parser()
    given = vars(parser.parse_args(argv))

    def go() -> int:
        from ..priors.training import train_prior

        recipe = read_recipe(given["config"]) if given.get("config") else {}
        cfg = build_options(PriorConfig, {**recipe, **given})  # flags given on the command line win
        print(f"wrote {train_prior(cfg, frozenset(given) | frozenset(recipe))}")
        return 0

    return run_cli(go)


if __name__ == "__main__":
    raise SystemExit(main())
