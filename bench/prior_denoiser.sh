#!/usr/bin/env bash
# The learned prior's own levers side by side on one model: 8,000 Fashion-MNIST images (7,200 after the
# validation hold-out; no LPIPS: its pretrained VGG16 needs a download), configs/unet_spatial_generate.yaml
# for 10 epochs with the GAN from step 300. Each row: configs/prior_spatial.yaml as these rows were measured
# (--snr-gamma 0 --standardise channel: an unweighted loss, latents standardised per channel) and one flag changed,
# trained STEPS steps and scored on 1,000 samples against the validation images every 1,000 steps, then
# 5,000 samples (DPM-Solver++, 25 steps) against the test split.
#
#   bash bench/prior_denoiser.sh ROW [STEPS]      # default 2000; two rows can run side by side
#
#   base      U-Net 32, 2 levels of 2 layers, epsilon, unweighted, constant lr, EMA 0.999
#   w64 w128  --width 64 / 128           layers3   --layers 3          levels3   --levels 3
#   ema99     --ema-decay 0.99           warmcos   --lr-warmup 200 --lr-decay cosine
#   minsnr    --snr-gamma 5              vpred     --prediction v_prediction
#   vpred-snr5  --prediction v_prediction --snr-gamma 5
#   layers3-snr5  --layers 3 --snr-gamma 5
#   global    --standardise global
#   cond      --conditional (the labels of the model's training split, 10 % dropped), then guidance.py at
#             1 / 2 / 3 / 5 on 2,000 class-balanced samples and the figure assets/conditional_fashion.png
#   eq1       the VAE trained with --eq-weight 1 (EQ-VAE: rotated / scaled latents decode to rotated /
#             scaled images), its prior the recipe's (a VAE of its own: runs/levers/vae-eq1)
#   noise     the VAE trained with --latent-noise 0.3 (its decoder sees the latent plus Gaussian noise of up to
#             0.3 x the latent's std), its prior the recipe's (a VAE of its own: runs/levers/vae-noise)
#
# Set OMP_NUM_THREADS=1 per row when two run at once.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
row=$1
steps=${2:-2000}
run=runs/levers/vae
vae_flags=()
case "$row" in
  base)    flags=() ;;
  w64)     flags=(--width 64) ;;
  w128)    flags=(--width 128) ;;
  layers3) flags=(--layers 3) ;;
  levels3) flags=(--levels 3) ;;
  ema99)   flags=(--ema-decay 0.99) ;;
  warmcos) flags=(--lr-warmup 200 --lr-decay cosine) ;;
  minsnr)  flags=(--snr-gamma 5) ;;
  vpred)   flags=(--prediction v_prediction) ;;
  vpred-snr5) flags=(--prediction v_prediction --snr-gamma 5) ;;
  layers3-snr5) flags=(--layers 3 --snr-gamma 5) ;;
  global)  flags=(--standardise global) ;;
  cond)    flags=(--conditional) ;;
  eq1)     flags=(); vae_flags=(--eq-weight 1); run=runs/levers/vae-eq1 ;;
  noise)   flags=(); vae_flags=(--latent-noise 0.3); run=runs/levers/vae-noise ;;
  *) echo "unknown row $row" >&2; exit 2 ;;
esac
train_once "$run" --config configs/unet_spatial_generate.yaml --dataset fashion-mnist --perceptual-weight 0 \
  --epochs 10 --disc-start 300 --limit-train 8000 --eval-train-images 0 --no-visuals --wandb disabled "${vae_flags[@]}"
prior_row "$run" "$row" "$steps" --config configs/prior_spatial.yaml --snr-gamma 0 --standardise channel --eval-every 1000 "${flags[@]}"
prior_test "$run" "$row" 5000
if [ "$row" = cond ]; then
  python bench/guidance.py --checkpoint "$run/checkpoints/$row.pt" --guidance 1 2 3 5 --n 2000 \
    --figure assets/conditional_fashion.png
fi
