#!/usr/bin/env bash
# The learned prior's step budget on a small data set: the spatial recipe's VAE on 8,000 Fashion-MNIST
# images (7,200 after the validation hold-out; 10 epochs, the GAN from step 300, no LPIPS: no
# pretrained VGG16 on the measuring machine), then vaegan-prior with configs/prior_spatial.yaml for
# STEPS steps, scored every 1,000 (domain FD and class entropy of 1,000 samples against the 800
# validation images): where that curve flattens is the default --steps. Then 10,000 samples of the
# final prior against the test split and its real-halves floor, with DDIM and DPM-Solver++ at 10 and
# 25 steps (bench/prior_steps.py).
#
#   bash bench/prior_budget.sh [STEPS]        # default 10000
#
# Each step prints its own wall time (`time`); the prior's log gives minutes per 1,000 steps. Run alone.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-10000}
out=runs/prior_budget
[ -f "$out/vae/checkpoints/last.pt" ] || time python train.py --config configs/unet_spatial_vaegan.yaml \
  --dataset fashion-mnist --limit-train 8000 --perceptual-weight 0 --epochs 10 --disc-start 300 \
  --eval-train-images 0 --no-visuals --wandb disabled --out "$out/vae"
model=$out/vae/checkpoints/best.pt
if [ -f "$out/vae/prior/best/diffusion.pt" ]; then resume=(--resume); else resume=(); fi
time vaegan-prior --checkpoint "$model" --config configs/prior_spatial.yaml --steps "$steps" --eval-every 1000 \
  "${resume[@]}"
python - "$out/vae/prior/best/metrics.jsonl" <<'PY'
import json, sys
print("| step | passes | val FD of 1,000 samples | class entropy | train s |")
print("|---|---|---|---|---|")
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"| {r['step']} | {r['epoch']:.1f} | {r['val/domain_fd_samples_diffusion']:.2f} | "
          f"{r.get('val/sample_class_entropy_diffusion', float('nan')):.3f} | {r['time/train_s']:.0f} |")
PY
time python bench/prior_steps.py --checkpoint "$model" --steps 10 25 --samplers ddim dpm
