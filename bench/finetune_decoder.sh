#!/usr/bin/env bash
# A decoder-only fine-tune of a VAE exported to diffusers, as a user would fine-tune a public VAE (none
# can be downloaded offline): MODEL (a spatial, linear-decoder vaegan checkpoint, e.g. one of
# bench/decoder_output.sh's) is exported with --format diffusers, then trained from that folder with
# --init-from OUT/vae --train decoder on DATA for EPOCHS epochs (GAN from step 0, lr 1e-4, no LPIPS),
# exported again; prints the test metrics before (the source checkpoint) and after (the fine-tune's
# best.pt) and whether the fine-tune's latent keys equal the source's.
#
#   bash bench/finetune_decoder.sh MODEL DATA [EPOCHS [NAME [TRAIN FLAGS...]]]
#   e.g. bash bench/finetune_decoder.sh runs/decoder-output/linear-mse/checkpoints/best.pt data/twemoji 1
#        bash bench/finetune_decoder.sh ... data/twemoji 2 mse-gan25 --recon-loss mse --disc-start 25
# (the flags after NAME override the ones below; each NAME trains into runs/finetune-decoder/NAME)
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
data=$2
epochs=${3:-2}
name=${4:-run}
shift $(( $# < 4 ? $# : 4 ))
out=runs/finetune-decoder
mkdir -p "$out"
vaegan-export --checkpoint "$model" --format diffusers --out "$out/source"
python eval.py --checkpoint "$model" --prior gaussian --json "$out/before.json" > "$out/before.log"
python train.py --init-from "$out/source/vae" --train decoder --dataset folder --data-dir "$data" \
  --use_gan --disc-start 0 --lr 1e-4 --perceptual-weight 0 --epochs "$epochs" --eval-train-images 0 \
  --no-visuals --wandb disabled --resume auto --out "$out/$name" "$@"
python eval.py --checkpoint "$out/$name/checkpoints/best.pt" --prior gaussian --json "$out/$name.json" > "$out/$name.log"
vaegan-export --checkpoint "$out/$name/checkpoints/best.pt" --format diffusers --out "$out/$name-tuned"
python - "$out" "$name" <<'PY'
import json, sys
out, name = sys.argv[1:]
keys = ("scaling_factor", "shift_factor", "latents_mean", "latents_std")
source, tuned = (json.load(open(f"{out}/{folder}/vae/config.json")) for folder in ("source", f"{name}-tuned"))
print("latent keys equal the source's:", all(source.get(k) == tuned.get(k) for k in keys),
      {k: tuned.get(k) for k in keys})
for name in ("before", name):
    m = json.load(open(f"{out}/{name}.json"))
    print(name, {k: round(m[k], 4) for k in ("test/psnr", "test/ssim", "test/mse", "test/domain_fd_recon") if k in m})
PY
