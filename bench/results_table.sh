#!/usr/bin/env bash
# The baselines table of docs/results.md: seed baselines vs the U-Net VAE / VAE-GAN on Fashion-MNIST.
#
#   bash bench/results_table.sh train   # trains every row into runs/table/<row>/
#   bash bench/results_table.sh eval    # eval.py on each trained row -> runs/table/<row>/{eval,iw}.json, recon/samples.npy
#   python bench/results_table.py --figure assets/results.png   # the markdown table, and the figure
#
# Budget (what a 2-core CPU affords): baselines run their seed recipe (10 epochs); the U-Net rows
# run 2 epochs at --channels 16 32 64 without LPIPS (its pretrained VGG16 needs a download); the
# conv-*-2ep rows are the conv recipe at the U-Net's latent sizes and epoch count.
# ROWS="unet-vaegan-16 conv-20" bash bench/results_table.sh train  runs only those rows.
set -euo pipefail
cd "$(dirname "$0")/.."

COMMON=(--dataset fashion-mnist --blocks vaegan --no-visuals --wandb disabled)
UNET=(--channels 16 32 64 --perceptual-weight 0 --epochs 2 --disc-start 200 --kl-weight 1 --swd-weight 0
      --disc-feature-weight 0 --no-gan-samples)

declare -A RECIPE=(
  [mlp-2]="--config configs/mlp_vae.yaml"
  [mlp-adamw-2]="--config configs/mlp_vae_adamw.yaml"
  [conv-20]="--config configs/conv_vae.yaml"
  [conv-16-2ep]="--config configs/conv_vae.yaml --latent 16 --epochs 2"
  [conv-2-2ep]="--config configs/conv_vae.yaml --latent 2 --epochs 2"
  [unet-vaegan-16]="--config configs/unet_vaegan.yaml --latent 16 ${UNET[*]}"
  [unet-vae-16]="--config configs/unet_vae.yaml --latent 16 ${UNET[*]}"
  [unet-vaegan-2]="--config configs/unet_vaegan.yaml --latent 2 ${UNET[*]}"
  [unet-vae-2]="--config configs/unet_vae.yaml --latent 2 ${UNET[*]}"
  [unet-vaegan-16-spatial]="--config configs/unet_vaegan.yaml --latent 16 --latent-shape spatial ${UNET[*]}"
  [unet-vae-16-spatial]="--config configs/unet_vae.yaml --latent 16 --latent-shape spatial ${UNET[*]}"
)
ORDER="mlp-2 mlp-adamw-2 conv-20 conv-16-2ep conv-2-2ep unet-vaegan-16 unet-vae-16 unet-vaegan-2 unet-vae-2
       unet-vaegan-16-spatial unet-vae-16-spatial"

for row in ${ROWS:-$ORDER}; do
  out=runs/table/$row
  case "${1:-}" in
    train)
      # shellcheck disable=SC2086
      [ -f "$out/checkpoints/last.pt" ] && extra=--resume || extra=
      python train.py ${RECIPE[$row]} "${COMMON[@]}" --out "$out" $extra ;;
    eval)
      [ -f "$out/checkpoints/last.pt" ] || { echo "skip $row (not trained)"; continue; }
      python eval.py --checkpoint "$out/checkpoints/last.pt" --iw-samples 0 --no-fid --json "$out/eval.json"
      python eval.py --checkpoint "$out/checkpoints/last.pt" --n 1000 --iw-samples 100 \
        --no-fidelity --no-fid --json "$out/iw.json" \
        --save-recon "$out/recon.npy" --save-samples "$out/samples.npy" --num-samples 12 ;;
    *) echo "usage: bash bench/results_table.sh train|eval" >&2; exit 2 ;;
  esac
done
