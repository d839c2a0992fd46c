"""`vaegan-prior --checkpoint RUN/checkpoints/best.pt`: train a diffusion prior on a trained model's latents.

The command line only: the run itself is vaegan.priors.training (what it writes, and where).
"""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

from .cli import OneLineParser, run_cli
from .config import ConfigError, load_yaml
from .priors import SAMPLERS
from .priors.training import PriorConfig


def prior_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="vaegan-prior", description=__doc__.splitlines()[0])
    d = PriorConfig(checkpoint="")
    p.add_argument("--checkpoint", required=True, help="the trained model's checkpoint (best.pt / last.pt)")
    p.add_argument("--config", metavar="FILE",
                   help="YAML recipe of the training flags below (see configs/prior_*.yaml); flags override it")
    p.add_argument("--data-dir", help="where the training data is now (default: as in training)")
    p.add_argument("--steps", type=int, default=d.steps,
                   help=f"optimizer steps to train for, whatever the number of latents (with --resume: the total, "
                        f"so a larger value extends the run) (default: {d.steps})")
    p.add_argument("--eval-every", type=int, default=d.eval_every, metavar="N",
                   help=f"score samples, add a GIF frame and write diffusion.pt every N steps and at the end "
                        f"(default: {d.eval_every})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"(default: {d.batch_size})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate (default: {d.lr})")
    p.add_argument("--width", type=int, help="denoiser width: MLP width for vector latents (default 512), "
                                             "U-Net base channels for spatial ones (default 32)")
    p.add_argument("--ema-decay", type=float, default=d.ema_decay,
                   help=f"EMA of the denoiser's weights, which sample (default: {d.ema_decay})")
    p.add_argument("--sampling-steps", type=int, default=d.sampling_steps,
                   help=f"DDIM steps of the evaluation samples, kept with the prior as the number its users draw "
                        f"with unless they name one (default: {d.sampling_steps})")
    p.add_argument("--sampler", choices=SAMPLERS, default=d.sampler,
                   help=f"how the sampling steps integrate the reverse process: ddim, or dpm (DPM-Solver++, second "
                        f"order); kept with the prior as --sampling-steps is (default: {d.sampler})")
    p.add_argument("--eval-samples", type=int, metavar="N",
                   help="every --eval-every steps, the domain FD (and, with labels, class entropy) of N decoded "
                        "samples against the model's validation images (default: 1000 when the model has a "
                        "validation split; 0: off)")
    p.add_argument("--seed", type=int, default=d.seed, help=f"(default: {d.seed})")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=d.device, help="(default: auto)")
    p.add_argument("--resume", action="store_true",
                   help="continue RUN/prior/<name>/diffusion.pt with the settings it was trained with (--steps, "
                        "--eval-every, --eval-samples, --device, --data-dir and logging may change; a training flag "
                        "that differs is refused)")
    p.add_argument("--no-visuals", dest="visuals", action="store_false", help="skip the samples GIF")
    p.add_argument("--wandb", choices=("auto", "online", "offline", "disabled"), default=d.wandb,
                   help=f"W&B logging, as in training (default: {d.wandb})")
    p.add_argument("--tensorboard", action="store_true", help="also log to RUN/prior/<name>/tensorboard")
    return p


RECIPE_KEYS = {"steps": int, "eval_every": int, "batch_size": int, "lr": float, "width": int, "ema_decay": float,
               "sampling_steps": int, "sampler": str, "eval_samples": int, "seed": int}


def read_recipe(path: str) -> dict:
    """A --config YAML: training settings only (the checkpoint, data and logging are the command's)."""
    recipe = load_yaml(path)
    for key, value in recipe.items():
        if key not in RECIPE_KEYS:
            raise ConfigError(f"{path}: {key!r} is not a vaegan-prior recipe key ({', '.join(RECIPE_KEYS)})")
        if RECIPE_KEYS[key] is str:
            if value not in SAMPLERS:
                raise ConfigError(f"{path}: {key} must be one of {', '.join(SAMPLERS)}, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (RECIPE_KEYS[key] is int and not isinstance(value, int)):
            raise ConfigError(f"{path}: {key} must be {'an integer' if RECIPE_KEYS[key] is int else 'a number'}, "
                              f"got {value!r}")
    return recipe


def given_settings(argv: Optional[Sequence[str]]) -> frozenset:
    """The settings the command line names (parsed again with every default suppressed)."""
    bare = prior_parser()
    for action in bare._actions:
        action.default = argparse.SUPPRESS
    return frozenset(vars(bare.parse_args(argv)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = prior_parser()
    args = parser.parse_args(argv)

    def go() -> int:
        recipe = read_recipe(args.config) if args.config else {}
        parser.set_defaults(**recipe)  # recipe values become the defaults, so flags given on the command line win
        cfg = PriorConfig(**vars(parser.parse_args(argv)))
        from .priors.training import train_prior

        print(f"wrote {train_prior(cfg, given_settings(argv) | frozenset(recipe))}")
        return 0

    return run_cli(go)


if __name__ == "__main__":
    raise SystemExit(main())
