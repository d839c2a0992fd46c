#!/usr/bin/env bash
# The 64 px colour recipe on real colour images: configs/unet_spatial_rgb64.yaml trained on Twemoji
# (bench/colour_data.py twemoji: 3,079 train / 342 validation / 360 test images, nine categories), without
# LPIPS (its pretrained VGG16 needs a download). Then its learned prior (configs/prior_spatial.yaml
# for STEPS steps, scored on the validation images every 1,000), the test-split metrics of best.pt
# (eval.py: MSE, PSNR, SSIM, domain FD of reconstructions), 360 and 2,000 prior samples against the test
# split beside the real-halves floor and the real images' class entropy (prior_steps.py), and the figure
# of originals / reconstructions / prior samples.
#
#   python bench/colour_data.py twemoji            # once: writes data/twemoji
#   bash bench/twemoji.sh [EPOCHS] [STEPS] [TRAIN FLAGS...]   # default 40 epochs, 2000 prior steps
#   (results.md#twemoji ran the recipe's sigmoid decoder: add --decoder-output sigmoid --recon-loss bce)
#
# Each stage is skipped when its output exists, so a cut run resumes where it stopped (the VAE with
# --resume auto, the prior with --resume).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-40}
steps=${2:-2000}
shift $(( $# < 2 ? $# : 2 ))
out=runs/twemoji/rgb64
python train.py --config configs/unet_spatial_rgb64.yaml --dataset folder --data-dir data/twemoji \
  --perceptual-weight 0 --epochs "$epochs" --eval-train-images 0 --no-visuals --wandb disabled \
  --resume auto --out "$out" "$@"
model=$out/checkpoints/best.pt
if [ -f "$out/prior/best/diffusion.pt" ]; then resume=(--resume); else resume=(); fi
[ -f "$out/prior/best/metrics.jsonl" ] && grep -q "\"step\": $steps[,}]" "$out/prior/best/metrics.jsonl" ||
  vaegan-prior --checkpoint "$model" --config configs/prior_spatial.yaml --steps "$steps" "${resume[@]}"
python eval.py --checkpoint "$model" --prior gaussian --json "$out/eval_test.json"
for n in 360 2000; do python bench/prior_steps.py --checkpoint "$model" --steps 25 --n "$n"; done
python bench/prior_figure.py --checkpoint "$model" --reconstructions 20 --priors diffusion \
  --caption "Twemoji 64 px test images, reconstructions, learned-prior samples" --out assets/twemoji_rgb64.png
