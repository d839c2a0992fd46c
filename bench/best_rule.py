"""Which epoch should best.pt keep? Train the default recipe with every epoch's checkpoint kept, score
each on the test split with eval.py, and print per epoch its validation metrics and test domain FDs,
with the epoch each rule keeps: val/mse over every epoch (the rule of plain VAEs), --best-metric's
rule (for --use_gan: val/domain_fd_recon among the epochs that trained the GAN) and last.pt.

    python bench/best_rule.py --out runs/best_rule [--n 5000] -- --limit-train 20000 --epochs 6

Flags after `--` go to train.py after the recipe (`--dataset fashion-mnist --latent 4 --use_gan
--perceptual-weight 0`). Fashion-MNIST without LPIPS: its pretrained VGG16 needs a download.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ["--dataset", "fashion-mnist", "--latent", "4", "--use_gan", "--perceptual-weight", "0",
          "--blocks", "vaegan"]  # the blocks its table was measured with


def run(args: list[str]) -> None:
    print("$", " ".join(args), flush=True)
    subprocess.run([sys.executable, *args], cwd=ROOT, check=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/best_rule")
    p.add_argument("--n", type=int, default=5000, help="test images (and samples per prior) per eval.py call")
    p.add_argument("train_flags", nargs="*", help="after --: more train.py flags")
    args = p.parse_args()
    out = ROOT / args.out
    checkpoints = out / "checkpoints"
    if not (checkpoints / "last.pt").is_file():
        run(["train.py", *RECIPE, "--keep-checkpoints", "1000", "--eval-train-images", "0", "--no-visuals",
             "--wandb", "disabled", "--out", str(out), *args.train_flags])
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    config = torch.load(checkpoints / "last.pt", weights_only=True)["config"]
    for record in records:
        path = checkpoints / f"epoch-{record['epoch']:04d}.pt"
        scores = out / f"eval-epoch-{record['epoch']:04d}.json"
        if not scores.is_file():
            run(["eval.py", "--checkpoint", str(path), "--n", str(args.n), "--iw-samples", "0", "--no-fid",
                 "--json", str(scores)])
        record.update({f"eval:{k}": v for k, v in json.loads(scores.read_text()).items()})
    by_mse = min(records, key=lambda r: r["val/mse"])["epoch"]
    kept = torch.load(checkpoints / "best.pt", weights_only=True)["epoch"]
    print(f"\n{config['best_metric']} keeps epoch {kept}; val/mse over every epoch would keep {by_mse}; "
          f"last.pt is epoch {records[-1]['epoch']} (--disc-start {config['disc_start']})")
    print(f"{'epoch':>5} {'step':>5} {'GAN':>4} {'val mse':>8} {'val FD recon':>12} {'test MSE':>8} "
          f"{'test FD recon':>13} {'test FD mixture':>15} {'test FD N(0,I)':>14}  kept by")
    for r in records:
        rules = [name for name, epoch in (("best.pt", kept), ("val/mse", by_mse), ("last.pt", records[-1]["epoch"]))
                 if epoch == r["epoch"]]
        print(f"{r['epoch']:>5} {r['step']:>5} {'yes' if r['step'] > config['disc_start'] else 'no':>4} "
              f"{r['val/mse']:>8.4f} {r['val/domain_fd_recon']:>12.2f} {r['eval:test/mse']:>8.4f} "
              f"{r['eval:test/domain_fd_recon']:>13.2f} {r['eval:test/domain_fd_samples_gmm']:>15.2f} "
              f"{r['eval:test/domain_fd_samples']:>14.2f}  {', '.join(rules)}")


if __name__ == "__main__":
    main()
