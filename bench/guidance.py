"""A conditional learned prior's classifier-free guidance: domain FD of N class-balanced samples
against the test split and the share the domain classifier assigns to the asked class, per guidance
scale, beside the same prior sampled without a label, the classifier's accuracy on the real test
images and the real-halves floor, side by side in one run.

    python bench/guidance.py --checkpoint RUN/checkpoints/best.pt --guidance 1 1.5 2 3 4 5 --n 1000 \
        [--figure assets/conditional.png]      # one row per class at the prior's own guidance

The checkpoint's prior must be conditional (`vaegan-prior --conditional`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

import vaegan
from vaegan.checkpoint import load_checkpoint, saved_config
from vaegan.config import build_config
from vaegan.data import load_data
from vaegan.evaluation.domain import (
    conditional_sample_metrics,
    dataset_classifier,
    features_and_logits,
    frechet_distance,
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--guidance", type=float, nargs="+", default=[1.0, 1.5, 2.0, 3.0, 4.0, 5.0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--figure", type=Path, help="also draw one row of 8 samples per class, at the prior's guidance")
    args = p.parse_args()

    model = vaegan.load(args.checkpoint, "cpu")
    if model.diffusion is None or not model.diffusion.conditional:
        raise SystemExit(f"{args.checkpoint} has no conditional learned prior (vaegan-prior --conditional)")
    cfg = build_config({**saved_config(load_checkpoint(Path(args.checkpoint))["config"]), "device": "cpu",
                        "resume": "no"})
    data = load_data(cfg)
    classifier = dataset_classifier(cfg, torch.device("cpu"), data)
    real, real_logits = features_and_logits(classifier, data.test.in_order(args.batch_size))
    accuracy = (real_logits.argmax(1).cpu() == data.test.labels.cpu()).float().mean().item()
    classes = len(model.diffusion.class_names)
    print(f"{args.n} samples per row, {classes} classes; classifier accuracy on the real test images {accuracy:.3f}; "
          f"real halves FD {frechet_distance(real[0::2], real[1::2]):.2f}")
    print(f"{'row':<16} {'domain FD':>10} {'class match':>12}")
    asked = torch.arange(args.n) % classes

    def draw(labels, guidance):
        return torch.cat([model.sample(len(chunk), "diffusion", seed=int(chunk[0]), guidance=guidance,
                                       label=None if labels is None else labels[chunk].tolist())
                          for chunk in torch.arange(args.n).split(args.batch_size)])

    unconditional, _ = features_and_logits(classifier, draw(None, None).split(args.batch_size))
    print(f"{'no label':<16} {frechet_distance(real, unconditional):>10.2f} {'':>12}")
    for guidance in args.guidance:
        m = conditional_sample_metrics(classifier, real, draw(asked, guidance), asked, "test")
        print(f"{f'guidance {guidance:g}':<16} {m['test/domain_fd_samples_conditional']:>10.2f} "
              f"{m['test/sample_class_match_conditional']:>12.3f}")
    if args.figure:
        one_row_per_class(model, args.figure)


def one_row_per_class(model, path: Path, per_row: int = 8) -> None:
    from vaegan.visuals.draw import image_grid, with_caption, write_png

    names = model.diffusion.class_names
    images = torch.cat([model.sample(per_row, "diffusion", seed=100 + c, label=c) for c in range(len(names))])
    grid = image_grid(images, nrow=per_row)
    row = grid.shape[0] / len(names)
    labels = [(int(r * row + row / 2 - 8), name[:12]) for r, name in enumerate(names)]
    write_png(path, with_caption(grid, f"one row per class, guidance {model.diffusion.guidance:g}", labels, 120))


if __name__ == "__main__":
    main()
