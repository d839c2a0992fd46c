#!/usr/bin/env python
"""Evaluate a trained vaegan checkpoint: `python eval.py --checkpoint runs/.../checkpoints/last.pt`."""
import sys

from vaegan.programs.eval import main

if __name__ == "__main__":
    sys.exit(main())
