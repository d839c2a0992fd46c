#!/usr/bin/env bash
# The spatial recipe's levers for generation, side by side on 8,000 Fashion-MNIST images (7,200 after
# the validation hold-out; without LPIPS: its pretrained VGG16 needs a download). Each row is a
# VAE of today's configs/unet_spatial_vaegan.yaml (10 epochs, the GAN from step 300) and a prior of
# configs/prior_spatial.yaml trained for STEPS steps, scored on its validation images every 1,000 steps,
# then 5,000 samples against the test split with DDIM and DPM-Solver++ at 25 steps.
#
#   bash bench/prior_levers.sh ROW [STEPS]      # default 3000; rows below, two can run side by side
#
#   s16       latent 16 x 7 x 7 (the recipe)          s4        latent 4 x 7 x 7
#   s4-kl1e-3 latent 4, KL weight 1e-3 (the recipe's 1e-4 x 10)
#   s4-60k    latent 4 on all 60,000 images (59,000 after the hold-out): 3 epochs, the GAN from step 500
#
# Set OMP_NUM_THREADS=1 per row when two run at once; the prior's log gives its minutes per 1,000 steps.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
row=$1
steps=${2:-3000}
vae_flags=(--config configs/unet_spatial_vaegan.yaml --dataset fashion-mnist --perceptual-weight 0 --epochs 10
           --disc-start 300 --eval-train-images 0 --no-visuals --wandb disabled)
images=(--limit-train 8000)
prior_flags=(--config configs/prior_spatial.yaml --eval-every 1000)
case "$row" in
  s16)       vae=s16;       vae_flags+=(--latent 16) ;;
  s4)        vae=s4;        vae_flags+=(--latent 4) ;;
  s4-kl1e-3) vae=s4-kl1e-3; vae_flags+=(--latent 4 --kl-weight 1e-3) ;;
  s4-60k)    vae=s4-60k;    images=(); vae_flags+=(--latent 4 --epochs 3 --disc-start 500) ;;
  *) echo "unknown row $row" >&2; exit 2 ;;
esac
run=runs/prior_levers/$vae
train_once "$run" "${vae_flags[@]}" "${images[@]}"
prior_row "$run" "$row" "$steps" "${prior_flags[@]}"
prior_test "$run" "$row" 5000 --samplers ddim dpm
