"""`python eval.py --checkpoint runs/.../checkpoints/last.pt`: test-split metrics of a trained model.

Only the command line lives here, so `eval.py --help` answers at once; the work (torch and the
rest) is imported when it runs (vaegan/evaluation/checkpoint.py).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..config import DATASETS, DEVICES, INCEPTION_FILE
from ..options import REQUIRED, opt, options_parser, parse_options
from ..priors import PRIOR_CHOICES
from .common import run_cli

INPUT, METRICS, OUTPUT, HARDWARE = "Checkpoint and data", "Metrics", "Files written", "Hardware and seed"


@dataclass
class EvalOptions:
    """eval.py's flags (vaegan.options): what it reads, measures and writes."""
    checkpoint: str = opt(REQUIRED, "path to a checkpoint (e.g. runs/.../checkpoints/last.pt)", group=INPUT)
    dataset: Optional[str] = opt(None, "dataset (default: the one it was trained on)", choices=DATASETS, group=INPUT)
    data_dir: Optional[str] = opt(None, "the data's folder (default: as in training)", group=INPUT)
    n: Optional[int] = opt(None, "evaluate only the first N test images (default: the whole test split, whatever "
                                 "--limit-test the run trained with)", minimum=1, group=INPUT)
    batch_size: int = opt(500, "evaluation batch size", minimum=1, group=METRICS)
    lpips_backbone: Optional[str] = opt(None, "VGG16 weights for LPIPS: pretrained | PATH | random (default: as "
                                              "in training)", group=METRICS)
    iw_samples: Optional[int] = opt(None, "posterior samples for the importance-weighted likelihood bound; 0 skips "
                                          "it (default: 100 on CUDA, 0 on a CPU, where 100 samples of the whole "
                                          "test split take minutes)", minimum=0, metavar="K", group=METRICS)
    fidelity: bool = opt(True, "the domain classifier metrics (--no-fidelity skips them: the classifier's first "
                               "training takes a minute or two on a CPU)", group=METRICS)
    fid: Optional[bool] = opt(None, "Inception FID of reconstructions and samples (default: on with CUDA, off on a "
                                    "CPU, where 299 px Inception over the test split takes many minutes)",
                              group=METRICS)
    fid_weights: Optional[str] = opt(None, f"local {INCEPTION_FILE} for Inception FID (default: torchmetrics "
                                           f"downloads it; skipped with a notice if it cannot)", metavar="PATH",
                                     group=METRICS)
    prior_components: Optional[int] = opt(None, "refit the mixture with K components (default: the checkpoint's "
                                                "mixture, or the run's --prior-components)", minimum=1, metavar="K",
                                          group=METRICS)
    sampling_steps: Optional[int] = opt(None, "sampling steps of the diffusion prior (default: the number its "
                                              "vaegan-prior recipe set, 25 unless it said otherwise)", minimum=1,
                                        group=METRICS)
    save_recon: Optional[str] = opt(None, "write reconstructions (decoded posterior means) of the evaluated test "
                                          "images, in the test file's order, float32 [N, H, W] (grayscale) or "
                                          "[N, C, H, W] in [0, 1]", metavar="FILE.npy", group=OUTPUT)
    save_samples: Optional[str] = opt(None, "write --num-samples decodes of prior draws the same way",
                                      metavar="FILE.npy", group=OUTPUT)
    num_samples: int = opt(1000, "prior samples for --save-samples", minimum=1, metavar="M", group=OUTPUT)
    prior: str = opt("auto", "prior of --save-samples: gaussian = N(0, I); gmm = the checkpoint's Gaussian "
                             "mixture (fitted here on the training posterior means if it has none); diffusion = "
                             "the prior vaegan-prior trained for this checkpoint; auto = diffusion, unless "
                             "vaegan-prior measured the mixture's samples closer to the data, else gmm, else "
                             "gaussian. The fidelity metrics report every prior the model has",
                     choices=PRIOR_CHOICES, group=OUTPUT)
    json: Optional[str] = opt(None, "also write the metrics to this JSON file", metavar="FILE", group=OUTPUT)
    device: str = opt("auto", "where to run", choices=DEVICES, group=HARDWARE)
    seed: int = opt(0, "seed for posterior and prior sampling", group=HARDWARE)


def eval_parser(prog: str = "eval.py") -> argparse.ArgumentParser:
    return options_parser(EvalOptions, prog, "Evaluate a vaegan checkpoint on the test split.")


def main(argv: Optional[Sequence[str]] = None) -> int:
    started_as = Path(sys.argv[0]).name  # the console script vaegan-eval, or eval.py
    args, _ = parse_options(EvalOptions, eval_parser("vaegan-eval" if started_as == "vaegan-eval" else "eval.py"),
                            argv)

    def go() -> int:
        from ..evaluation.checkpoint import run_eval

        metrics = run_eval(args)
        width = max(map(len, metrics))
        for k, v in metrics.items():
            print(f"{k:<{width}}  {v:.6g}" if isinstance(v, float) else f"{k:<{width}}  {v}")
        print("pixel metrics on the [0, 1] scale (data_range=1); ELBO and IW bound in nats per image")
        if args.json:
            Path(args.json).write_text(json.dumps(metrics, indent=2) + "\n")
        return 0

    return run_cli(go)
