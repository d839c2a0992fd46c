"""Training throughput, measured side by side in one process:

  (a) naive: the loop most MNIST VAE repos write — torchvision dataset + DataLoader with per-item
      ToTensor, fp32, eager, batch 64, plain Adam, the adaptive GAN weight by two extra backwards;
  (b) vaegan: `Trainer.train_step` (resident data, precision auto, fused Adam, single backward).

Same model, same loss module, same data (Fashion-MNIST), for the VAE-only config and the full
VAE + LPIPS + PatchGAN config. Prints images/s, seconds per 60k-image epoch and the ratio (b)/(a),
then where a vaegan step's time goes.

    python bench/train_speed.py [--steps 20] [--data-dir /usr/share/datasets/fashion-mnist]
"""
from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vaegan.config import build_config  # noqa: E402
from vaegan.device import autocast  # noqa: E402
from vaegan.losses import LPIPS, VAEGANLoss  # noqa: E402
from vaegan.models import build_model  # noqa: E402
from vaegan.trainer import Trainer  # noqa: E402

CONFIGS = {
    "vae-only": dict(perceptual_weight=0.0, use_gan=False),
    "full (LPIPS+GAN)": dict(perceptual_weight=1.0, use_gan=True, disc_start=0),
}


def torchvision_root(data_dir: Path, scratch: Path) -> Path:
    """torchvision's FashionMNIST wants un-gzipped files under <root>/FashionMNIST/raw."""
    raw = scratch / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for src in data_dir.iterdir():
        if src.name.endswith(".gz"):
            with gzip.open(src) as f, open(raw / src.name[:-3], "wb") as out:
                shutil.copyfileobj(f, out)
        else:
            shutil.copy(src, raw / src.name)
    return scratch


def naive_images_per_s(cfg, root: Path, steps: int, warmup: int) -> float:
    import torchvision
    from torchvision import transforms

    torch.manual_seed(0)
    model = build_model(cfg)
    loss_fn = VAEGANLoss(cfg, LPIPS("random") if cfg.perceptual_weight else None)
    opt_g = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    opt_d = torch.optim.Adam(loss_fn.discriminator.parameters(), lr=cfg.lr) if cfg.use_gan else None
    data = torchvision.datasets.FashionMNIST(str(root), train=True, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(data, batch_size=64, shuffle=True)
    done, start = 0, None
    for step, (x, _) in enumerate(loader):
        if step == warmup:
            start = time.perf_counter()
        out = model(x)
        loss, _ = loss_fn.generator_loss(x, out, step, model.last_layer, single_backward=False)
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        if opt_d is not None:
            d_loss, _ = loss_fn.discriminator_loss(x, out.recon)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        if step >= warmup:
            done += len(x)
        if step + 1 == warmup + steps:
            break
    return done / (time.perf_counter() - start)


def vaegan_trainer(cfg_overrides: dict, data_dir: Path, batch: int, scratch: Path) -> Trainer:
    cfg = build_config({**cfg_overrides, "dataset": "fashion-mnist", "data_dir": str(data_dir),
                        "batch_size": batch, "lpips_backbone": "random", "wandb": "disabled",
                        "visuals": False, "out": str(scratch / f"run-{len(list(scratch.iterdir()))}")})
    return Trainer(cfg)


def vaegan_images_per_s(trainer: Trainer, steps: int, warmup: int) -> float:
    order = torch.randperm(len(trainer.train_data), generator=torch.Generator().manual_seed(0))
    batches = order.split(trainer.cfg.batch_size)
    for i in range(warmup):
        trainer.train_step(batches[i])
    start = time.perf_counter()
    for i in range(warmup, warmup + steps):
        trainer.train_step(batches[i])
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    return steps * trainer.cfg.batch_size / (time.perf_counter() - start)


def timed(fn, repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def breakdown(trainer: Trainer) -> dict[str, float]:
    """Median seconds of each part of one vaegan step, each timed on its own (forward + backward)."""
    x = trainer.train_data.images[: trainer.cfg.batch_size]
    model, loss_fn, dtype, dev = trainer.model, trainer.loss_fn, trainer.amp_dtype, trainer.device

    def vae():
        with autocast(dev, dtype):
            out = model(x)
        out.logits.float().sum().backward()

    def lpips():
        recon = x.clone().requires_grad_(True)
        with autocast(dev, dtype):
            loss_fn.perceptual(recon, x).sum().backward()

    def disc():
        with autocast(dev, dtype):
            d_loss, _ = loss_fn.discriminator_loss(x, x.flip(0))
        d_loss.backward()

    def full_step():
        trainer.train_step(torch.arange(len(x)))

    parts = {"encoder+decoder": timed(vae), "LPIPS": timed(lpips), "discriminator": timed(disc)}
    parts["optimizers + adaptive weight + rest"] = max(timed(full_step) - sum(parts.values()), 0.0)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    data_dir = Path(args.data_dir)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device: {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}, "
          f"threads {torch.get_num_threads()}, torch {torch.__version__}, {args.steps} timed steps each")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        root = torchvision_root(data_dir, scratch / "tv")
        (scratch / "runs").mkdir()
        print(f"{'config':<18} {'loop':<26} {'img/s':>8} {'s/60k epoch':>12} {'vs naive':>9}")
        for name, overrides in CONFIGS.items():
            cfg = build_config({**overrides, "dataset": "fashion-mnist", "lpips_backbone": "random"})
            naive = naive_images_per_s(cfg, root, args.steps, args.warmup)
            print(f"{name:<18} {'(a) naive, batch 64':<26} {naive:8.0f} {60000 / naive:12.1f} {1.0:8.2f}x",
                  flush=True)
            for batch in (64, 128):
                trainer = vaegan_trainer(overrides, data_dir, batch, scratch / "runs")
                fast = vaegan_images_per_s(trainer, args.steps, args.warmup)
                label = f"(b) vaegan, batch {batch}"
                print(f"{'':<18} {label:<26} {fast:8.0f} {60000 / fast:12.1f} {fast / naive:8.2f}x", flush=True)
        print("\nwhere a vaegan step goes (full config, batch 128, median of 5, each part timed alone):")
        parts = breakdown(trainer)
        total = sum(parts.values())
        for part, seconds in parts.items():
            print(f"  {part:<38} {seconds * 1000:8.1f} ms  {100 * seconds / total:5.1f} %")


if __name__ == "__main__":
    main()
