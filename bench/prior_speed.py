"""The learned prior's training step: steps/s per denoiser width and per way of running it (fp32,
bf16 autocast, channels_last, torch.compile), side by side in one process on random latents of the
shape a 4 x 7 x 7 model gives; the variants interleave round by round so a slower moment hits each.

    python bench/prior_speed.py [--widths 32 64 128] [--variants fp32 bf16 bf16-cl compile-bf16]
        [--batch-size 256] [--rounds 3] [--steps 10] [--threads N] [--profile VARIANT]

Prints one line per width and variant: steps/s (median over rounds) and its ratio to the first variant.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from vaegan.priors.diffusion import build_denoiser, denoising_loss, noise_schedule

VARIANTS = ("fp32", "bf16", "bf16-cl", "compile-fp32", "compile-bf16")


def make_step(variant: str, width: int, args):
    """One optimizer step of a fresh denoiser run as `variant`."""
    torch.manual_seed(0)
    denoiser = build_denoiser((args.channels, args.size, args.size), width, layers=args.layers, levels=args.levels)
    if variant.endswith("-cl"):
        denoiser = denoiser.to(memory_format=torch.channels_last)
    model = torch.compile(denoiser) if variant.startswith("compile") else denoiser
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=1e-3)
    schedule = noise_schedule()
    x0 = torch.randn(args.batch_size, args.channels, args.size, args.size)
    if variant.endswith("-cl"):
        x0 = x0.contiguous(memory_format=torch.channels_last)
    bf16 = "bf16" in variant

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = denoising_loss(model, x0, schedule)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, sum(p.numel() for p in denoiser.parameters())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=["fp32", "bf16", "bf16-cl", "compile-bf16"])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--channels", type=int, default=4)
    p.add_argument("--size", type=int, default=7)
    p.add_argument("--layers", type=int, default=None)
    p.add_argument("--levels", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=10, help="timed steps per round (after 3 warm-up steps)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--profile", choices=VARIANTS, default=None,
                   help="instead: the top operators of 5 steps of this variant at the first width")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size} of "
          f"{args.channels} x {args.size} x {args.size}, layers {args.layers or 'default'}, levels {args.levels}")
    if args.profile:
        step, _ = make_step(args.profile, args.widths[0], args)
        for _ in range(3):
            step()
        with torch.profiler.profile() as prof:
            for _ in range(5):
                step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
        return
    for width in args.widths:
        steps, params, rates = {}, {}, {v: [] for v in args.variants}
        for variant in args.variants:
            steps[variant], params[variant] = make_step(variant, width, args)
            for _ in range(3):  # warm-up (and compilation)
                steps[variant]()
        for _ in range(args.rounds):
            for variant in args.variants:
                start = time.perf_counter()
                for _ in range(args.steps):
                    steps[variant]()
                rates[variant].append(args.steps / (time.perf_counter() - start))
        base = statistics.median(rates[args.variants[0]])
        for variant in args.variants:
            rate = statistics.median(rates[variant])
            print(f"width {width:>4} ({params[variant] / 1e6:.2f} M)  {variant:<13} {rate:6.2f} steps/s  "
                  f"{rate / base:5.2f}x {args.variants[0]}  (rounds {', '.join(f'{r:.2f}' for r in rates[variant])})")


if __name__ == "__main__":
    main()
