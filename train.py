#!/usr/bin/env python
"""Train a vaegan model: `python train.py --latent 4 --use_gan` (see --help)."""
import sys

from vaegan.programs.train import main as train_main

if __name__ == "__main__":
    sys.exit(train_main())
