#!/usr/bin/env bash
# Which change makes the VAE-GAN's samples look real? Fashion-MNIST,
# latent 16, default width, no LPIPS (its pretrained VGG16 needs a download), the same data,
# seed and number of optimizer steps in every row; each row changes one thing from "today".
#
#   bash bench/fidelity.sh train          # trains every row into runs/fidelity/<row>/ (resumable)
#   bash bench/fidelity.sh eval           # eval.py on each row: all 10,000 test images, both priors
#   python bench/fidelity.py --figure assets/fidelity.png   # the markdown table and a figure of samples
# ROWS="today all" bash bench/fidelity.sh train   runs only those rows; COMPONENTS="10 50" ... eval
# evaluates mixtures of both sizes (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

# 8,000 images x 6 epochs = 378 steps of 128; the GAN starts after 2 epochs (step 126).
COMMON=(--dataset fashion-mnist --blocks vaegan --limit-train 8000 --limit-test 1000 --eval-train-images 0
        --latent 16 --use-gan --perceptual-weight 0 --epochs 6 --disc-start 126 --seed 0
        --no-visuals --wandb disabled)
# Every setting the rows vary, at its baseline value (the "today" rows).
TODAY=(--disc-arch wide --no-gan-samples --ema-decay 0 --lr-schedule constant --warmup-steps 0
       --prior gaussian --lr 0.001 --beta1 0.9 --beta2 0.999 --kl-weight 1 --swd-weight 0 --disc-feature-weight 0)

declare -A CHANGE=(
  [today]=""
  [gan-samples]="--gan-samples"
  [local-d]="--disc-arch local"
  [ema]="--ema-decay 0.999"
  [cosine]="--lr-schedule cosine --warmup-steps 50"
  [all]="--gan-samples --disc-arch local --ema-decay 0.999 --lr-schedule cosine --warmup-steps 50"
  [today-seed1]="--seed 1"
)
# today-seed1 measures the seed-to-seed spread that the other rows' differences are read against.
ORDER="today gan-samples local-d ema cosine all today-seed1"

for row in ${ROWS:-$ORDER}; do
  out=runs/fidelity/$row
  case "${1:-}" in
    train)
      [ -f "$out/checkpoints/last.pt" ] && extra=--resume || extra=
      # shellcheck disable=SC2086
      python train.py "${COMMON[@]}" "${TODAY[@]}" ${CHANGE[$row]} --out "$out" $extra ;;
    eval)
      [ -f "$out/checkpoints/last.pt" ] || { echo "skip $row (not trained)"; continue; }
      for k in ${COMPONENTS:-10}; do
        python eval.py --checkpoint "$out/checkpoints/last.pt" --iw-samples 0 --no-fid \
          --prior-components "$k" --json "$out/eval-gmm$k.json" \
          --prior gmm --save-samples "$out/samples-gmm$k.npy" --num-samples 20
      done
      python eval.py --checkpoint "$out/checkpoints/last.pt" --iw-samples 0 --no-fid --no-fidelity --n 20 \
        --prior gaussian --save-samples "$out/samples-gaussian.npy" --num-samples 20 --json "$out/eval-n20.json" ;;
    *) echo "usage: bash bench/fidelity.sh train|eval" >&2; exit 2 ;;
  esac
done
