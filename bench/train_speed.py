"""Training throughput, measured side by side in one process:

  (a) naive: the loop most MNIST VAE repos write — torchvision dataset + DataLoader with per-item
      ToTensor, fp32, eager, batch 64, plain Adam, the adaptive GAN weight by two extra backwards;
  (b) vaegan: `Trainer.train_step` (resident data, precision auto, fused Adam, single backward).

Same model, same loss module, same data (Fashion-MNIST), for the VAE-only config and the full
VAE + LPIPS + PatchGAN config. The two loops run interleaved, --rounds times each; it prints the
median images/s with the spread (min-max over rounds), seconds per 60k-image epoch and the ratio
(b)/(a); then a roofline of a vaegan step: per part (encoder+decoder, LPIPS, D, the rest) its
FLOPs (torch.utils.flop_counter, forward + backward), time, achieved GFLOP/s and the share of
this machine's matmul peak measured in the same dtype.

    python bench/train_speed.py [--steps 20] [--rounds 3] [--threads 1] [--data-dir /usr/share/datasets/fashion-mnist]
"""
from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from vaegan.config import build_config, with_image_spec
from vaegan.device import autocast, cpu_has_fast_bf16, resolve_precision
from vaegan.losses import LPIPS, VAEGANLoss
from vaegan.models import build_model
from vaegan.trainer import Trainer

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


def hardware(device: str = "cpu") -> str:
    """The device, the precision `auto` picks on it (the ratios hinge on it: bf16 only where the
    hardware runs it fast), threads and torch version: the first line every bench prints."""
    amp = resolve_precision("auto", torch.device(device))
    name = (torch.cuda.get_device_name() if device == "cuda" else
            f"cpu ({torch.backends.cpu.get_cpu_capability()}, fast bf16: {cpu_has_fast_bf16()})")
    return (f"{name}, precision auto = {'fp32' if amp is None else str(amp).removeprefix('torch.')}, "
            f"threads {torch.get_num_threads()}, torch {torch.__version__}")


def rounds_and_threads(doc: str, rounds: int, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """The arguments every side-by-side bench shares: --rounds (at least 1) and --threads, applied;
    added to `parser` when a bench has arguments of its own."""
    parser = parser or argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=rounds, help="interleaved rounds of each variant")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def naive_generator_loss(loss_fn: VAEGANLoss, x: torch.Tensor, out, step: int, last_layer: torch.Tensor):
    """The objective as most VAE-GAN code writes it: nll + beta kl + w g_loss, the adaptive weight w
    from two extra backwards to the decoder's last layer (taming's calculate_adaptive_weight)."""
    terms = loss_fn.terms(x, out)
    nll = terms["rec"].mean()
    if "lpips" in terms:
        nll = nll + loss_fn.perceptual_weight * x[0].numel() * terms["lpips"].mean()
    loss = nll + loss_fn.kl_weight(step) * terms["kl"].mean()
    if not loss_fn.gan_active(step):
        return loss
    g_loss = loss_fn._g_loss(loss_fn.discriminator(out.recon).float())
    nll_grad = torch.autograd.grad(nll, last_layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    weight = (nll_grad.norm() / (g_grad.norm() + 1e-4)).clamp(0.0, 1e4).detach()
    return loss + loss_fn.disc_weight * weight * g_loss


def naive_images_per_s(cfg, root: Path, steps: int, warmup: int) -> float:
    import torchvision
    from torchvision import transforms

    torch.manual_seed(0)
    model = build_model(cfg)
    loss_fn = VAEGANLoss.from_config(cfg, LPIPS("random") if cfg.perceptual_weight else None)
    opt_g = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    opt_d = torch.optim.Adam(loss_fn.discriminator.parameters(), lr=cfg.lr) if cfg.use_gan else None
    data = torchvision.datasets.FashionMNIST(str(root), train=True, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(data, batch_size=64, shuffle=True)
    done, start = 0, None
    for step, (x, _) in enumerate(loader):
        if step == warmup:
            start = time.perf_counter()
        out = model(x)
        loss = naive_generator_loss(loss_fn, x, out, step, model.last_layer)
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
        trainer.train_step(trainer.train_data.get(batches[i]), len(batches[i]))
    start = time.perf_counter()
    for i in range(warmup, warmup + steps):  # fetching the batch is part of the loop's cost
        trainer.train_step(trainer.train_data.get(batches[i]), len(batches[i]))
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


def flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_peak(device: str, dtype) -> float:
    """This machine's GEMM FLOP/s in `dtype` (2048^2 matrices, median of 5)."""
    a, b = (torch.randn(2048, 2048, device=device) for _ in range(2))
    if dtype is not None:
        a, b = a.to(dtype), b.to(dtype)
    seconds = timed(lambda: a @ b)
    return 2 * 2048 ** 3 / seconds


def breakdown(trainer: Trainer) -> dict[str, tuple[float, int]]:
    """(median seconds, FLOPs) of each part of one vaegan step, each run on its own (forward + backward)."""
    x = trainer.train_data.get(torch.arange(trainer.cfg.batch_size))
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
        trainer.train_step(x, len(x))

    parts = {name: (timed(fn), flops(fn)) for name, fn in
             (("encoder+decoder", vae), ("LPIPS", lpips), ("discriminator", disc))}
    total = (timed(full_step), flops(full_step))
    parts["optimizers + adaptive weight + rest"] = (max(total[0] - sum(t for t, _ in parts.values()), 0.0),
                                                    max(total[1] - sum(f for _, f in parts.values()), 0))
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=3)
    args = rounds_and_threads(__doc__, 3, parser)
    data_dir = Path(args.data_dir)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device: {hardware(device)}, {args.steps} timed steps each, {args.rounds} interleaved rounds")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        root = torchvision_root(data_dir, scratch / "tv")
        (scratch / "runs").mkdir()
        print(f"{'config':<18} {'loop':<26} {'img/s (median, min-max)':>26} {'s/60k epoch':>12} {'vs naive':>9}")
        for name, overrides in CONFIGS.items():
            cfg = with_image_spec(build_config({**overrides, "dataset": "fashion-mnist", "lpips_backbone": "random"}),
                                  1, 28)
            trainers = {batch: vaegan_trainer(overrides, data_dir, batch, scratch / "runs") for batch in (64, 128)}
            rates: dict[str, list[float]] = {"naive": [], 64: [], 128: []}
            for _ in range(args.rounds):
                rates["naive"].append(naive_images_per_s(cfg, root, args.steps, args.warmup))
                for batch, trainer in trainers.items():
                    rates[batch].append(vaegan_images_per_s(trainer, args.steps, args.warmup))
            naive = statistics.median(rates["naive"])
            for key, label in (("naive", "(a) naive, batch 64"), (64, "(b) vaegan, batch 64"),
                               (128, "(b) vaegan, batch 128")):
                med = statistics.median(rates[key])
                spread = f"{med:7.0f} ({min(rates[key]):.0f}-{max(rates[key]):.0f})"
                print(f"{name if key == 'naive' else '':<18} {label:<26} {spread:>26} {60000 / med:12.1f} "
                      f"{med / naive:8.2f}x", flush=True)
        trainer = trainers[128]
        peak = matmul_peak(device, trainer.amp_dtype)
        dtype = "fp32" if trainer.amp_dtype is None else str(trainer.amp_dtype).removeprefix("torch.")
        print(f"\nroofline of a vaegan step (full config, batch 128, {dtype}; matmul peak here "
              f"{peak / 1e9:.0f} GFLOP/s in {dtype}; median of 5, each part run alone):")
        parts = breakdown(trainer)
        total = sum(t for t, _ in parts.values())
        print(f"  {'part':<38} {'ms':>8} {'share':>7} {'GFLOP':>8} {'GFLOP/s':>9} {'of peak':>8}")
        for part, (seconds, count) in parts.items():
            rate = count / seconds if seconds else 0.0
            print(f"  {part:<38} {seconds * 1000:8.1f} {100 * seconds / total:6.1f}% {count / 1e9:8.2f} "
                  f"{rate / 1e9:9.1f} {100 * rate / peak:7.1f}%")


if __name__ == "__main__":
    main()
