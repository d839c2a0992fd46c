#!/usr/bin/env bash
# The U-Net on diffusers' autoencoder blocks against this package's hand-written ones, side by side:
# the spatial recipe (configs/unet_spatial_vaegan.yaml, 16 x 7 x 7) on Fashion-MNIST, same epochs,
# same seed, 11,800 training images, without LPIPS (its pretrained VGG16 needs a download).
#   handwritten        --blocks vaegan (sigmoid decoder, bce)
#   diffusers-sigmoid  --blocks diffusers --decoder-output sigmoid --recon-loss bce (only the blocks differ)
#   diffusers          --blocks diffusers (linear decoder, mse: the default, which exports as AutoencoderKL)
#   diffusers-l1       --blocks diffusers --recon-loss l1 (linear decoder, latent diffusion's L1)
# Each row's best.pt is scored by eval.py on the whole test split; `python bench/blocks.py` prints the
# table and times a training step of each row side by side.
#
#   bash bench/blocks.sh [ROW...]        # default: all four
set -euo pipefail
cd "$(dirname "$0")/.."
common=(--config configs/unet_spatial_vaegan.yaml --dataset fashion-mnist --perceptual-weight 0
        --limit-train 12800 --epochs 8 --disc-start 400 --eval-images 2000 --eval-train-images 0
        --no-visuals --wandb disabled --seed 0)
rows=("$@")
[ ${#rows[@]} -gt 0 ] || rows=(handwritten diffusers diffusers-sigmoid diffusers-l1)
for row in "${rows[@]}"; do
  out=runs/blocks/$row
  case "$row" in
    handwritten)       flags=(--blocks vaegan --recon-loss bce) ;;
    diffusers-sigmoid) flags=(--blocks diffusers --decoder-output sigmoid --recon-loss bce) ;;
    diffusers)         flags=(--blocks diffusers --decoder-output linear --recon-loss mse) ;;
    diffusers-l1)      flags=(--blocks diffusers --decoder-output linear --recon-loss l1) ;;
    *) echo "unknown row $row" >&2; exit 2 ;;
  esac
  time python train.py "${common[@]}" "${flags[@]}" --out "$out" --resume auto
  [ -f "$out/eval.json" ] || time python eval.py --checkpoint "$out/checkpoints/best.pt" --json "$out/eval.json"
done
