#!/usr/bin/env bash
# The learned prior's step budget on a small data set: the spatial recipe's VAE on 8,000 Fashion-MNIST
# images (7,200 after the validation hold-out; 10 epochs, the GAN from step 300, no LPIPS: no
# pretrained VGG16 on the measuring machine), then vaegan-prior with configs/prior_spatial.yaml for
# STEPS steps, scored every 1,000 (domain FD and class entropy of 1,000 samples against the 800
# validation images): where that curve flattens is the default --steps. Then 10,000 samples of the
# final prior against the test split and its real-halves floor, with DDIM and DPM-Solver++ at 10 and
# 25 steps (bench/prior_steps.py).
#
#   bash bench/prior_budget.sh [STEPS]        # default 10000
#
# Each step prints its own wall time (`time`); the prior's log gives minutes per 1,000 steps. Run alone.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
steps=${1:-10000}
run=runs/prior_budget/vae
train_once "$run" --config configs/unet_spatial_vaegan.yaml --dataset fashion-mnist --limit-train 8000 \
  --perceptual-weight 0 --epochs 10 --disc-start 300 --eval-train-images 0 --no-visuals --wandb disabled
prior_row "$run" best "$steps" --config configs/prior_spatial.yaml --eval-every 1000
time python bench/prior_steps.py --checkpoint "$run/checkpoints/best.pt" --steps 10 25 --samplers ddim dpm
