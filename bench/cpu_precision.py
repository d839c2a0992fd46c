"""Is bf16 worth it on this CPU? The U-Net VAE step in fp32 and under bf16 autocast, side by side.

What `--precision auto` decides from the CPU's features (bf16 only with AMX or AVX512-BF16),
checked by the clock: forward + backward of the default U-Net VAE (latent 16, 28 px), batch 128,
the two precisions interleaved over --rounds, median with the min-max spread, ratio fp32 / bf16
(> 1: bf16 faster).

    python bench/cpu_precision.py [--rounds 3] [--threads 1]
"""
from __future__ import annotations

import statistics
import time

import torch
from train_speed import hardware, rounds_and_threads  # sibling script: bench/ is on sys.path

from vaegan.config import build_config, with_image_spec
from vaegan.device import autocast
from vaegan.models import build_model

BATCH = 128


def main() -> None:
    args = rounds_and_threads(__doc__, rounds=3)
    cpu = torch.device("cpu")
    print(f"{hardware()}, U-Net VAE latent 16, batch {BATCH}, forward + backward")
    torch.manual_seed(0)
    model = build_model(with_image_spec(build_config({"latent": 16}), 1, 28))
    images = torch.rand(BATCH, 1, 28, 28)

    def step(dtype) -> float:
        start = time.perf_counter()
        with autocast(cpu, dtype):
            out = model(images)
        out.logits.float().sum().backward()
        return time.perf_counter() - start

    precisions = {"fp32": None, "bf16 autocast": torch.bfloat16}
    for dtype in precisions.values():  # warm-up
        step(dtype)
    times: dict[str, list[float]] = {name: [] for name in precisions}
    for _ in range(args.rounds):
        for name, dtype in precisions.items():
            times[name].append(step(dtype))
    for name, t in times.items():
        print(f"  {name:<14} {statistics.median(t):7.2f} s  ({min(t):.2f}-{max(t):.2f})")
    print(f"  fp32 / bf16: {statistics.median(times['fp32']) / statistics.median(times['bf16 autocast']):.2f}x")


if __name__ == "__main__":
    main()
