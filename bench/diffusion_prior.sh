#!/usr/bin/env bash
# The learned latent prior (vaegan-prior) against N(0, I) and the fitted mixture, on Fashion-MNIST
# without LPIPS (its pretrained VGG16 needs a download): train the VAE, train its prior on the
# training latents with the recipe in configs/, then score 10,000 samples of every prior the model has
# (eval.py, and bench/prior_steps.py for the DDIM step counts).
#
#   bash bench/diffusion_prior.sh spatial  [VAE_EPOCHS]   # configs/unet_spatial_vaegan.yaml: 16 x 7 x 7
#   bash bench/diffusion_prior.sh spatial4 [VAE_EPOCHS]   # the same recipe with --latent 4: 4 x 7 x 7
#   bash bench/diffusion_prior.sh vector   [VAE_EPOCHS]   # python train.py --latent 16 --use_gan
#
# Each step prints its own wall time (`time`); run one at a time on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

usage="usage: bash bench/diffusion_prior.sh spatial|spatial4|vector [VAE_EPOCHS]"
kind=${1:?$usage}
vae_epochs=${2:-4}
out=runs/diffusion_prior/$kind
case "$kind" in
  spatial)  recipe=(--config configs/unet_spatial_vaegan.yaml); prior=configs/prior_spatial.yaml ;;
  spatial4) recipe=(--config configs/unet_spatial_vaegan.yaml --latent 4); prior=configs/prior_spatial.yaml ;;
  vector)   recipe=(--latent 16 --use_gan); prior=configs/prior_vector.yaml ;;
  *) echo "$usage" >&2; exit 2 ;;
esac

train_once "$out" "${recipe[@]}" --dataset fashion-mnist --blocks vaegan --perceptual-weight 0 \
  --epochs "$vae_epochs" --eval-images 2000 --eval-train-images 0 --no-visuals --wandb disabled
[ -f "$out/prior/last/diffusion.pt" ] || time vaegan-prior --checkpoint "$out/checkpoints/last.pt" --config "$prior"
time python eval.py --checkpoint "$out/checkpoints/last.pt" --iw-samples 0 --no-fid --json "$out/eval.json" \
  --prior diffusion --save-samples "$out/samples-diffusion.npy" --num-samples 40
time python bench/prior_steps.py --checkpoint "$out/checkpoints/last.pt" --steps 10 25 50
python bench/prior_figure.py --checkpoint "$out/checkpoints/last.pt" --out "assets/priors_$kind.png"
