"""`python eval.py --checkpoint runs/.../checkpoints/last.pt`: test-split metrics of a trained model."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Optional, Sequence

from .checkpoint import load_checkpoint, load_weights
from .cli import OneLineParser, run_cli
from .config import DATASETS, ConfigError, build_config
from .data import load_split, resolve_data_dir
from .device import resolve_device
from .losses import LPIPS, VAEGANLoss
from .metrics import evaluate
from .models import build_model


def eval_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="eval.py", description="Evaluate a vaegan checkpoint on the test split.")
    p.add_argument("--checkpoint", required=True, help="path to a checkpoint (e.g. runs/.../checkpoints/last.pt)")
    p.add_argument("--dataset", choices=DATASETS, help="dataset (default: the one it was trained on)")
    p.add_argument("--data-dir", help="folder with the IDX files (default: as in training)")
    p.add_argument("--n", type=int, help="evaluate only the first N test images")
    p.add_argument("--batch-size", type=int, default=500, help="evaluation batch size (default: 500)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="(default: auto)")
    p.add_argument("--lpips-backbone", help="VGG16 weights for LPIPS: pretrained | PATH | random "
                                            "(default: as in training)")
    p.add_argument("--json", metavar="FILE", help="also write the metrics to this JSON file")
    return p


def run_eval(args: argparse.Namespace) -> dict[str, float]:
    saved = load_checkpoint(Path(args.checkpoint))
    overrides = {k: v for k, v in (("dataset", args.dataset), ("data_dir", args.data_dir),
                                   ("limit_test", args.n), ("lpips_backbone", args.lpips_backbone))
                 if v is not None}
    if "dataset" in overrides and "data_dir" not in overrides:
        overrides["data_dir"] = None
    try:
        cfg = build_config({**saved["config"], **overrides, "device": args.device})
    except (TypeError, KeyError) as e:
        raise ConfigError(f"{args.checkpoint} holds no usable vaegan config ({e})") from None
    device = resolve_device(cfg.device)
    test = load_split(resolve_data_dir(cfg), "test", cfg.limit_test).to(device)
    model = build_model(cfg).to(device)
    load_weights(model, saved["model"], Path(args.checkpoint))
    perceptual = LPIPS(cfg.lpips_backbone) if cfg.perceptual_weight > 0 else None
    metrics = evaluate(model, VAEGANLoss(cfg, perceptual).to(device), test, args.batch_size, "test")
    return {"epoch": saved["epoch"], **metrics}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = eval_parser().parse_args(argv)
    if args.n is not None and args.n < 1 or args.batch_size < 1:
        eval_parser().error("--n and --batch-size must be >= 1")

    def go() -> int:
        metrics = run_eval(args)
        width = max(map(len, metrics))
        for k, v in metrics.items():
            print(f"{k:<{width}}  {v:.6g}" if isinstance(v, float) else f"{k:<{width}}  {v}")
        if args.json:
            Path(args.json).write_text(json.dumps(metrics, indent=2) + "\n")
        return 0

    return run_cli(go)
