#!/usr/bin/env bash
# DDIM timestep spacing of the learned prior: "leading" (diffusers' default) against "trailing", domain
# FD of N samples at 10 / 25 / 50 steps, for a vector (latent 16) and a spatial (4 x 7 x 7) model, side
# by side on the same priors. Fashion-MNIST, 8,000 training images, without LPIPS (its pretrained VGG16
# needs a download).
#
#   bash bench/ddim_spacing.sh [N_SAMPLES]        # default 5000
#
# Each step prints its own wall time (`time`); run it alone on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
n=${1:-5000}
common=(--dataset fashion-mnist --blocks vaegan --perceptual-weight 0 --limit-train 8000 --eval-images 2000
        --eval-train-images 0 --no-visuals --wandb disabled)
for kind in vector spatial4; do
  out=runs/ddim_spacing/$kind
  case "$kind" in
    vector)   recipe=(--latent 16 --use_gan --epochs 6 --disc-start 200); prior=configs/prior_vector.yaml ;;
    spatial4) recipe=(--config configs/unet_spatial_vaegan.yaml --latent 4 --epochs 6 --disc-start 200)
              prior=configs/prior_spatial.yaml ;;
  esac
  train_once "$out" "${recipe[@]}" "${common[@]}"
  [ -f "$out/prior/last/diffusion.pt" ] || time vaegan-prior --checkpoint "$out/checkpoints/last.pt" --config "$prior"
  time python bench/prior_steps.py --checkpoint "$out/checkpoints/last.pt" --steps 10 25 50 --n "$n" \
    --spacings leading trailing
done
