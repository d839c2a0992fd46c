"""`python eval.py --checkpoint runs/.../checkpoints/last.pt`: test-split metrics of a trained model.

Only the command line lives here, so `eval.py --help` answers at once; the work (torch and the
rest) is imported when it runs (vaegan/eval_checkpoint.py).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Optional, Sequence

from .cli import OneLineParser, run_cli
from .config import DATASETS, INCEPTION_FILE
from .priors import PRIOR_CHOICES


def eval_parser() -> argparse.ArgumentParser:
    p = OneLineParser(description="Evaluate a vaegan checkpoint on the test split.")
    p.add_argument("--checkpoint", required=True, help="path to a checkpoint (e.g. runs/.../checkpoints/last.pt)")
    p.add_argument("--dataset", choices=DATASETS, help="dataset (default: the one it was trained on)")
    p.add_argument("--data-dir", help="the data's folder (default: as in training)")
    p.add_argument("--n", type=int, help="evaluate only the first N test images (default: the whole test "
                                         "split, whatever --limit-test the run trained with)")
    p.add_argument("--batch-size", type=int, default=500, help="evaluation batch size (default: 500)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="(default: auto)")
    p.add_argument("--lpips-backbone", help="VGG16 weights for LPIPS: pretrained | PATH | random "
                                            "(default: as in training)")
    p.add_argument("--iw-samples", type=int, metavar="K",
                   help="posterior samples for the importance-weighted likelihood bound; 0 skips it (default: "
                        "100 on CUDA, 0 on a CPU, where 100 samples of the whole test split take minutes)")
    p.add_argument("--save-recon", metavar="FILE.npy", help="write reconstructions (decoded posterior means) of "
                                                            "the evaluated test images, in the test file's order, "
                                                            "float32 [N, H, W] (grayscale) or [N, C, H, W] in [0, 1]")
    p.add_argument("--save-samples", metavar="FILE.npy", help="write --num-samples decodes of prior draws the same way")
    p.add_argument("--num-samples", type=int, default=1000, metavar="M", help="prior samples for --save-samples "
                                                                               "(default: 1000)")
    p.add_argument("--prior", choices=PRIOR_CHOICES, default="auto",
                   help="prior of --save-samples: gaussian = N(0, I); gmm = the checkpoint's Gaussian mixture "
                        "(fitted here on the training posterior means if it has none); diffusion = the prior "
                        "vaegan-prior trained for this checkpoint; auto = diffusion, unless vaegan-prior measured "
                        "the mixture's samples closer to the data, else gmm, else gaussian (default: auto). The "
                        "fidelity metrics report every prior the model has")
    p.add_argument("--sampling-steps", type=int, help="DDIM steps of the diffusion prior (default: the number its "
                                                       "vaegan-prior recipe set, 25 unless it said otherwise)")
    p.add_argument("--prior-components", type=int, metavar="K",
                   help="refit the mixture with K components (default: the checkpoint's mixture, or the "
                        "run's --prior-components)")
    p.add_argument("--no-fidelity", action="store_true", help="skip the domain classifier metrics (its first "
                                                              "training takes a minute or two on a CPU)")
    p.add_argument("--fid-weights", metavar="PATH",
                   help=f"local {INCEPTION_FILE} for Inception FID (default: torchmetrics downloads it; "
                        f"skipped with a notice if it cannot)")
    p.add_argument("--fid", action=argparse.BooleanOptionalAction,
                   help="Inception FID of reconstructions and samples (default: on with CUDA, off on a CPU, where "
                        "299 px Inception over the test split takes many minutes)")
    p.add_argument("--seed", type=int, default=0, help="seed for posterior and prior sampling (default: 0)")
    p.add_argument("--json", metavar="FILE", help="also write the metrics to this JSON file")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = eval_parser().parse_args(argv)
    if (args.n is not None and args.n < 1) or args.batch_size < 1 or args.num_samples < 1 \
            or (args.iw_samples or 0) < 0 or (args.prior_components is not None and args.prior_components < 1) \
            or (args.sampling_steps is not None and args.sampling_steps < 1):
        eval_parser().error("--n, --batch-size, --num-samples, --prior-components and --sampling-steps must be "
                            ">= 1, --iw-samples >= 0")

    def go() -> int:
        from .eval_checkpoint import run_eval

        metrics = run_eval(args)
        width = max(map(len, metrics))
        for k, v in metrics.items():
            print(f"{k:<{width}}  {v:.6g}" if isinstance(v, float) else f"{k:<{width}}  {v}")
        print("pixel metrics on the [0, 1] scale (data_range=1); ELBO and IW bound in nats per image")
        if args.json:
            Path(args.json).write_text(json.dumps(metrics, indent=2) + "\n")
        return 0

    return run_cli(go)
