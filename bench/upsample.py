"""The decoder's upsampling on CPU, measured side by side in one run: nearest x2 + 3x3 conv at the
high resolution (interpolate + conv, what CUDA runs) against the same function folded to the low
resolution (one 2x2 conv per output phase, what `vaegan.models.blocks.Upsample` runs on CPU).

Forward + backward, batch 128, interleaved rounds, median with the min-max spread; first each
Upsample layer of the default U-Net (128 channels at 7 px, 64 at 14 px), then the whole U-Net VAE
(latent 16), in the precision `--precision auto` picks on this machine.

    python bench/upsample.py [--rounds 5] [--threads 1]
"""
from __future__ import annotations

import statistics
import time
from unittest import mock

import torch
from train_speed import hardware, rounds_and_threads  # sibling script: bench/ is on sys.path

from vaegan.config import build_config, with_image_spec
from vaegan.device import autocast, resolve_precision
from vaegan.models import build_model
from vaegan.models.blocks import Upsample

BATCH = 128
FOLDED, INTERPOLATE_THEN_CONV = Upsample.folded, Upsample.interpolate_then_conv


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(label: str, step, rounds: int) -> None:
    """step() runs one forward + backward with whatever Upsample.forward currently is."""
    times: dict[str, list[float]] = {"interpolate+conv": [], "folded": []}
    for forward in (INTERPOLATE_THEN_CONV, FOLDED):  # warm-up, both
        with mock.patch.object(Upsample, "forward", forward):
            step()
    for _ in range(rounds):
        for name, forward in (("interpolate+conv", INTERPOLATE_THEN_CONV), ("folded", FOLDED)):
            with mock.patch.object(Upsample, "forward", forward):
                times[name].append(seconds(step))
    med = {name: statistics.median(t) for name, t in times.items()}
    cells = "  ".join(f"{name} {1000 * med[name]:8.1f} ({1000 * min(t):.0f}-{1000 * max(t):.0f})"
                      for name, t in times.items())
    print(f"{label:<28} {cells}  {med['interpolate+conv'] / med['folded']:5.2f}x", flush=True)


def main() -> None:
    args = rounds_and_threads(__doc__, rounds=5)
    device = torch.device("cpu")
    amp = resolve_precision("auto", device)
    print(f"{hardware()}, batch {BATCH}, forward + backward, median (min-max) ms of {args.rounds} rounds")

    for channels, px in ((128, 7), (64, 14)):
        torch.manual_seed(0)
        layer = Upsample(channels)
        x = torch.randn(BATCH, channels, px, px, requires_grad=True)

        def layer_step():
            with autocast(device, amp):
                y = layer(x)
            y.float().sum().backward()
        compare(f"Upsample {channels} ch, {px}->{2 * px} px", layer_step, args.rounds)

    torch.manual_seed(0)
    model = build_model(with_image_spec(build_config({"latent": 16}), 1, 28))
    images = torch.rand(BATCH, 1, 28, 28)

    def model_step():
        with autocast(device, amp):
            out = model(images)
        out.logits.float().sum().backward()
    compare("U-Net VAE, latent 16", model_step, args.rounds)


if __name__ == "__main__":
    main()
