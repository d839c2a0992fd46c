"""Why the U-Net stays in contiguous (NCHW) memory on CPU, measured side by side in one run.

Per op, at the default U-Net's shapes (batch 128; 32 / 64 channels at 28 px, 128 at 7 px), forward +
backward, NCHW vs channels_last (NHWC): a 3x3 convolution in bf16, GroupNorm in bf16 and in fp32,
SiLU in bf16. Then one ResBlock under bf16 autocast, NCHW (what vaegan runs) vs channels_last with
its GroupNorms computed in fp32 (the layout that would let the convolutions use their fast path).
Median of --repeat runs after one warm-up; ratio = NCHW time / channels_last time (> 1: NHWC faster).

    python bench/conv_layout.py [--repeat 7] [--threads 1]
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn
from train_speed import timed  # the sibling bench script: bench/ is on sys.path when run as a script

from vaegan.models.blocks import ResBlock

SHAPES = ((32, 28), (64, 28), (128, 7))
BATCH = 128


def median_ms(fn, repeat: int) -> float:
    return 1000 * timed(fn, repeat)


def forward_backward(module: nn.Module, x: torch.Tensor, amp: bool = False):
    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            y = module(x)
        y.backward(torch.ones_like(y))  # a gradient in y's own layout, as inside a network
    return run


class FP32GroupNorm(nn.GroupNorm):
    """GroupNorm computed in fp32 whatever the input dtype (CPU's bf16 kernel is slow on NHWC)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x.float(), self.num_groups, self.weight, self.bias, self.eps).to(x.dtype)


def with_fp32_norms(block: nn.Module) -> nn.Module:
    for name, child in block.named_children():
        if isinstance(child, nn.GroupNorm):
            setattr(block, name, FP32GroupNorm(child.num_groups, child.num_channels, child.eps))
        else:
            with_fp32_norms(child)
    return block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"cpu, threads {torch.get_num_threads()}, torch {torch.__version__}, batch {BATCH}, "
          f"forward + backward, median of {args.repeat} (ms)")
    print(f"{'op':<40} {'shape':>10} {'NCHW':>9} {'NHWC':>9} {'NCHW/NHWC':>10}")
    layouts = (torch.contiguous_format, torch.channels_last)
    for channels, px in SHAPES:
        ops = {
            "conv 3x3, bf16": lambda: nn.Conv2d(channels, channels, 3, padding=1).bfloat16(),
            "GroupNorm(8), bf16": lambda: nn.GroupNorm(8, channels).bfloat16(),
            "GroupNorm(8), fp32": lambda: nn.GroupNorm(8, channels),
            "SiLU, bf16": lambda: nn.SiLU(),
        }
        for name, make in ops.items():
            dtype = torch.float32 if "fp32" in name else torch.bfloat16
            ms = []
            for layout in layouts:
                x = torch.randn(BATCH, channels, px, px, dtype=dtype).to(memory_format=layout).requires_grad_()
                ms.append(median_ms(forward_backward(make().to(memory_format=layout), x), args.repeat))
            print(f"{name:<40} {f'{channels}x{px}x{px}':>10} {ms[0]:9.1f} {ms[1]:9.1f} {ms[0] / ms[1]:9.2f}x")
    for channels, px in SHAPES:
        torch.manual_seed(0)
        block = ResBlock(channels, channels)
        x = torch.randn(BATCH, channels, px, px, requires_grad=True)
        nchw = median_ms(forward_backward(block, x, amp=True), args.repeat)
        nhwc_block = with_fp32_norms(ResBlock(channels, channels)).to(memory_format=torch.channels_last)
        x_nhwc = x.detach().to(memory_format=torch.channels_last).requires_grad_()
        nhwc = median_ms(forward_backward(nhwc_block, x_nhwc, amp=True), args.repeat)
        print(f"{'ResBlock, bf16 autocast (NHWC: fp32 GN)':<40} {f'{channels}x{px}x{px}':>10} {nchw:9.1f} "
              f"{nhwc:9.1f} {nchw / nhwc:9.2f}x")


if __name__ == "__main__":
    main()
