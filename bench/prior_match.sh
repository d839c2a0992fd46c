#!/usr/bin/env bash
# N(0, I) samples: does matching the codes' distribution to the prior (--mmd-weight,
# InfoVAE / WAE) make N(0, I) draws decode to garments, and what does it cost the reconstructions?
# Fashion-MNIST, latent 16, default width and recipe (beta 0.03), no LPIPS (its pretrained VGG16
# needs a download), seed 0; every row differs from "recipe" only in the flags listed for it.
#
#   bash bench/prior_match.sh train [small|full]   # small: 8,000 images x 3 epochs (189 steps,
#                                                 # GAN from 126); full: 60,000 x 3 (1,407 steps)
#   bash bench/prior_match.sh eval  [small|full]   # eval.py per row (both priors), JSON beside
#   python bench/fidelity.py --root runs/prior_match/full --components 50 --figure F.png   # table, samples
# ROWS="mmd100" bash bench/prior_match.sh ...       runs only those rows.
set -euo pipefail
cd "$(dirname "$0")/.."

size=${2:-full}
COMMON=(--dataset fashion-mnist --blocks vaegan --latent 16 --use-gan --perceptual-weight 0 --epochs 3 --seed 0
        --no-visuals --wandb disabled
        --swd-weight 0 --disc-feature-weight 0 --no-gan-samples)  # the recipe before they became its default; rows turn them on
case "$size" in
  small) COMMON+=(--limit-train 8000 --limit-test 1000 --disc-start 126); EVAL_N=(--n 2000) ;;
  full)  COMMON+=(--eval-images 2000); EVAL_N=() ;;
  *) echo "usage: bash bench/prior_match.sh train|eval [small|full]" >&2; exit 2 ;;
esac

declare -A CHANGE=(
  [recipe]=""
  [mmd100]="--mmd-weight 100"
  [mmd300]="--mmd-weight 300"
  [mmd1000]="--mmd-weight 1000"
  [mmd100-beta0.1]="--mmd-weight 100 --kl-weight 0.1"
  [mmd100-gan-samples]="--mmd-weight 100 --gan-samples"
  [swd200]="--swd-weight 200"
  [swd1000]="--swd-weight 1000"
  [swd200-gan-samples]="--swd-weight 200 --gan-samples"
  [aae5]="--latent-adversary-weight 5"
  [mmd100-seed1]="--mmd-weight 100 --seed 1"
  [swd200-seed1]="--swd-weight 200 --seed 1"
  [swd200-beta0.01-cosine12]="--swd-weight 200 --kl-weight 0.01 --lr-schedule cosine --epochs 12 --keep-checkpoints 12"
  [swd200-dfeat1]="--swd-weight 200 --disc-feature-weight 1"
  [swd200-dfeat10]="--swd-weight 200 --disc-feature-weight 10"
  [swd200-dfeat1-seed1]="--swd-weight 200 --disc-feature-weight 1 --seed 1"
  [swd200-dfeat1-9ep]="--swd-weight 200 --disc-feature-weight 1 --epochs 9 --keep-checkpoints 9"
  [swd200-dfeat1-12ep]="--swd-weight 200 --disc-feature-weight 1 --epochs 12 --keep-checkpoints 12"
  [dfeat1]="--disc-feature-weight 1"
  [swd200-dfeat3-9ep]="--swd-weight 200 --disc-feature-weight 3 --epochs 9 --keep-checkpoints 9"
  [swd200-dfeat1-gan-samples]="--swd-weight 200 --disc-feature-weight 1 --gan-samples"
  [latent4]="--latent 4"
  [latent4-swd200-dfeat1]="--latent 4 --swd-weight 200 --disc-feature-weight 1"
  [latent2-swd200-dfeat1]="--latent 2 --swd-weight 200 --disc-feature-weight 1"
  [swd200-dfeat1-cosine9]="--swd-weight 200 --disc-feature-weight 1 --lr-schedule cosine --epochs 9 --keep-checkpoints 9"
  [swd200-dfeat1-ema999-9ep]="--swd-weight 200 --disc-feature-weight 1 --ema-decay 0.999 --epochs 9 --keep-checkpoints 9"
  [swd200-dfeat1-beta0.01]="--swd-weight 200 --disc-feature-weight 1 --kl-weight 0.01"
  [swd200-dfeat0.5]="--swd-weight 200 --disc-feature-weight 0.5"
  # The same flags as swd200-dfeat1-gan-samples, measured after --gan-samples got its own discriminator
  # (that row was measured with the one D shared by reconstructions and prior draws).
  [swd200-dfeat1-gan-samples-own-d-9ep]="--swd-weight 200 --disc-feature-weight 1 --gan-samples --epochs 9 --keep-checkpoints 9"
  # The recipe as it is now (the pair + the sample GAN with its own D) at the smaller latents.
  [latent4-swd200-dfeat1-gan-samples]="--latent 4 --swd-weight 200 --disc-feature-weight 1 --gan-samples"
  [latent2-swd200-dfeat1-gan-samples]="--latent 2 --swd-weight 200 --disc-feature-weight 1 --gan-samples"
  # 6 epochs at the default latent; the -gan-samples-6ep run went on from latent4-swd200-dfeat1-gan-samples
  # (its folder copied, then resumed with --epochs 6: bitwise the same as training 6 epochs at once).
  [latent4-swd200-dfeat1-6ep]="--latent 4 --swd-weight 200 --disc-feature-weight 1 --epochs 6 --keep-checkpoints 6"
  [latent4-swd200-dfeat1-gan-samples-6ep]="--latent 4 --swd-weight 200 --disc-feature-weight 1 --gan-samples --epochs 6 --keep-checkpoints 6"
  [swd200-dfeat1-gan-samples-own-d-seed1-6ep]="--swd-weight 200 --disc-feature-weight 1 --gan-samples --seed 1 --epochs 6 --keep-checkpoints 6"
  [swd200-aae1-cosine6]="--swd-weight 200 --latent-adversary-weight 1 --lr-schedule cosine --epochs 6 --keep-checkpoints 6"
)
ORDER="recipe mmd100 mmd300 mmd1000 mmd100-beta0.1 mmd100-gan-samples swd200 swd1000 swd200-gan-samples aae5 mmd100-seed1 swd200-seed1 swd200-beta0.01-cosine12 swd200-aae1-cosine6 swd200-dfeat1 swd200-dfeat10 swd200-dfeat1-seed1 swd200-dfeat1-9ep swd200-dfeat1-12ep dfeat1 swd200-dfeat3-9ep latent4 latent4-swd200-dfeat1 latent2-swd200-dfeat1 swd200-dfeat1-gan-samples swd200-dfeat1-cosine9 swd200-dfeat1-ema999-9ep swd200-dfeat1-beta0.01 swd200-dfeat0.5 swd200-dfeat1-gan-samples-own-d-9ep latent4-swd200-dfeat1-gan-samples latent2-swd200-dfeat1-gan-samples swd200-dfeat1-gan-samples-own-d-seed1-6ep latent4-swd200-dfeat1-6ep latent4-swd200-dfeat1-gan-samples-6ep"

for row in ${ROWS:-$ORDER}; do
  out=runs/prior_match/$size/$row
  case "${1:-}" in
    train)
      [ -f "$out/checkpoints/last.pt" ] && extra=--resume || extra=
      # shellcheck disable=SC2086
      python train.py "${COMMON[@]}" ${CHANGE[$row]} --out "$out" $extra ;;
    eval)
      [ -f "$out/checkpoints/last.pt" ] || { echo "skip $row (not trained)"; continue; }
      python eval.py --checkpoint "$out/checkpoints/last.pt" --iw-samples 0 --no-fid "${EVAL_N[@]}" \
        --json "$out/eval-gmm50.json" --save-samples "$out/samples-gmm50.npy" --num-samples 20
      python eval.py --checkpoint "$out/checkpoints/last.pt" --iw-samples 0 --no-fid --no-fidelity --n 20 \
        --prior gaussian --save-samples "$out/samples-gaussian.npy" --num-samples 20 --json "$out/eval-n20.json" ;;
    *) echo "usage: bash bench/prior_match.sh train|eval [small|full]" >&2; exit 2 ;;
  esac
done
