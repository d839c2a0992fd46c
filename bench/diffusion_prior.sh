#!/usr/bin/env bash
# The learned latent prior (vaegan-prior) against N(0, I) and the fitted mixture, on Fashion-MNIST
# without LPIPS (no pretrained VGG16 on the measuring machine): train the VAE, train its prior on the
# training latents, then eval.py scores 10,000 samples of every prior the model has.
#
#   bash bench/diffusion_prior.sh spatial [VAE_EPOCHS] [PRIOR_EPOCHS]   # configs/unet_spatial_vaegan.yaml
#   bash bench/diffusion_prior.sh vector  [VAE_EPOCHS] [PRIOR_EPOCHS]   # python train.py --latent 16 --use_gan
#
# Each step prints its own wall time (`time`); run one at a time on a CPU.
set -euo pipefail
cd "$(dirname "$0")/.."

kind=${1:?usage: bash bench/diffusion_prior.sh spatial|vector [VAE_EPOCHS] [PRIOR_EPOCHS]}
vae_epochs=${2:-4}
prior_epochs=${3:-15}
out=runs/diffusion_prior/$kind
case "$kind" in
  spatial) recipe=(--config configs/unet_spatial_vaegan.yaml) ;;
  vector)  recipe=(--latent 16 --use_gan) ;;
  *) echo "usage: bash bench/diffusion_prior.sh spatial|vector [VAE_EPOCHS] [PRIOR_EPOCHS]" >&2; exit 2 ;;
esac

[ -f "$out/checkpoints/last.pt" ] || time python train.py "${recipe[@]}" --dataset fashion-mnist \
  --perceptual-weight 0 --epochs "$vae_epochs" --eval-images 2000 --eval-train-images 0 --no-visuals \
  --wandb disabled --out "$out"
[ -f "$out/prior/last/diffusion.pt" ] || time vaegan-prior --checkpoint "$out/checkpoints/last.pt" \
  --epochs "$prior_epochs"
time python eval.py --checkpoint "$out/checkpoints/last.pt" --iw-samples 0 --no-fid --json "$out/eval.json" \
  --prior diffusion --save-samples "$out/samples-diffusion.npy" --num-samples 40
