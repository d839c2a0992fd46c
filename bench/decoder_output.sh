#!/usr/bin/env bash
# Sigmoid vs linear decoder on real colour images, same budget: configs/unet_spatial_rgb64.yaml as it is
# (sigmoid + BCE) beside the same recipe with a linear decoder ([-1, 1], AutoencoderKL's convention, the
# form `vaegan-export --format diffusers` needs) trained with L1 and with MSE. Twemoji 64 px, no LPIPS
# (no pretrained VGG16 offline), EPOCHS epochs with the GAN from step DISC_START; then the test-split
# metrics of each best.pt (eval.py: PSNR, SSIM, domain FD of reconstructions) and, with PRIOR_STEPS > 0,
# a learned prior per model (configs/prior_spatial.yaml) and the FD of 2,000 of its samples.
#
#   python bench/colour_data.py twemoji                     # once: writes data/twemoji
#   bash bench/decoder_output.sh [EPOCHS] [DISC_START] [PRIOR_STEPS]   # default 12 600 0
#   THREADS=1 PARALLEL=1 bash bench/decoder_output.sh ...   # the three runs side by side, a thread each
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-12}
disc_start=${2:-600}
prior_steps=${3:-0}
export OMP_NUM_THREADS=${THREADS:-${OMP_NUM_THREADS:-2}}
declare -A variants=(
  [sigmoid-bce]="--decoder-output sigmoid --recon-loss bce"
  [linear-l1]="--decoder-output linear --recon-loss l1"
  [linear-mse]="--decoder-output linear --recon-loss mse"
)
one() {
  local name=$1 out=runs/decoder-output/$1
  # shellcheck disable=SC2086
  python train.py --config configs/unet_spatial_rgb64.yaml ${variants[$name]} --dataset folder \
    --data-dir data/twemoji --perceptual-weight 0 --epochs "$epochs" --disc-start "$disc_start" \
    --eval-train-images 0 --no-visuals --wandb disabled --resume auto --out "$out" > "$out.log" 2>&1
  python eval.py --checkpoint "$out/checkpoints/best.pt" --prior gaussian --json "$out/eval_test.json" >> "$out.log" 2>&1
  if [ "$prior_steps" -gt 0 ]; then
    vaegan-prior --checkpoint "$out/checkpoints/best.pt" --config configs/prior_spatial.yaml --steps "$prior_steps" \
      >> "$out.log" 2>&1
    python bench/prior_steps.py --checkpoint "$out/checkpoints/best.pt" --steps 25 --n 2000 > "$out.prior.txt" 2>&1
  fi
}
mkdir -p runs/decoder-output
for name in sigmoid-bce linear-l1 linear-mse; do
  if [ -n "${PARALLEL:-}" ]; then one "$name" & else one "$name"; fi
done
wait
for name in sigmoid-bce linear-l1 linear-mse; do
  echo "== $name"; python -c "import json,sys; m=json.load(open(sys.argv[1])); print({k: round(v, 4) for k, v in m.items() if k.split('/')[-1] in ('mse','psnr','ssim','fd_recon','recon_fd','fd_reconstructions')})" \
    "runs/decoder-output/$name/eval_test.json" || true
  [ -f "runs/decoder-output/$name.prior.txt" ] && tail -5 "runs/decoder-output/$name.prior.txt"
done
