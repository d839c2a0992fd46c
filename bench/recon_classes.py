"""Which classes do reconstructions lose? Per-class accuracy of the domain classifier on real test
images and on their reconstructions, and where the lost reconstructions go.

`test/recon_class_acc` is one number; this splits it by the true class, so a shortfall can be read
as "which details the code drops" (e.g. a coat's zip, a sandal's straps). Uses the same cached
domain classifier as eval.py (trained once on the whole training split).

    python bench/recon_classes.py runs/prior_match/full/*/checkpoints/last.pt [--n 10000]
"""
from __future__ import annotations

import argparse
from dataclasses import replace

import torch

import vaegan
from vaegan.data import load_data
from vaegan.evaluation.domain import dataset_classifier, features_and_logits


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--n", type=int, default=10_000, help="test images (the first N)")
    p.add_argument("--batch-size", type=int, default=250)
    args = p.parse_args()
    classifier = None
    for path in args.checkpoints:
        model = vaegan.load(path, device="cpu")
        if classifier is None:  # one dataset for every checkpoint: the first one's
            test = load_data(replace(model.config, limit_train=None)).test
            classifier = dataset_classifier(model.config, torch.device("cpu"))
            images, labels = test.to_resident(args.batch_size).images[:args.n], test.labels[:args.n]
            real_pred = features_and_logits(classifier, images)[1].argmax(1)
            names = test.class_names
        with torch.no_grad():
            recon = torch.cat([model.reconstruct(batch) for batch in images.split(args.batch_size)])
        pred = features_and_logits(classifier, recon)[1].argmax(1)
        print(f"\n{path}: {len(labels)} test images; accuracy real {(real_pred == labels).float().mean():.4f}, "
              f"reconstructions {(pred == labels).float().mean():.4f}")
        print(f"{'class':12s} {'real':>6s} {'recon':>6s}  reconstructions classified as another class (> 1 %)")
        for k, name in enumerate(names):
            mine = labels == k
            lost = [(int(((pred == j) & mine).sum()), names[j]) for j in range(len(names)) if j != k]
            moved = ", ".join(f"{other} {count}" for count, other in sorted(lost, reverse=True)
                              if count > 0.01 * int(mine.sum()))
            real_acc, recon_acc = (real_pred[mine] == k).float().mean(), (pred[mine] == k).float().mean()
            print(f"{name:12s} {real_acc:6.3f} {recon_acc:6.3f}  {moved}")


if __name__ == "__main__":
    main()
