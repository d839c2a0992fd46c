# The train-then-evaluate steps the bench scripts share; source it from a script run at the repository root.
#
#   train_once OUT TRAIN_FLAGS...          python train.py ... --out OUT, unless OUT/checkpoints/last.pt exists
#   prior_row RUN ROW STEPS PRIOR_FLAGS... a learned prior on its own copy of RUN's best.pt (RUN/checkpoints/ROW.pt,
#                                          so its prior lives in RUN/prior/ROW/), resumed when one is there; then
#                                          its validation FD per evaluation as a markdown table
#   prior_test RUN ROW N [FLAGS...]        bench/prior_steps.py on N samples of that prior against the test split

train_once() {
  local out=$1; shift
  [ -f "$out/checkpoints/last.pt" ] || time python train.py "$@" --out "$out"
}

prior_row() {
  local run=$1 row=$2 steps=$3; shift 3
  local model=$run/checkpoints/$row.pt resume=()
  [ -f "$model" ] || cp "$run/checkpoints/best.pt" "$model"
  [ -f "$run/prior/$row/diffusion.pt" ] && resume=(--resume)
  time vaegan-prior --checkpoint "$model" --steps "$steps" "$@" "${resume[@]}"
  python - "$run/prior/$row/metrics.jsonl" <<'PY'
import json, sys
print("| step | passes | val FD of the samples | class entropy | train s |")
print("|---|---|---|---|---|")
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"| {r['step']} | {r['epoch']:.1f} | {r.get('val/domain_fd_samples_diffusion', float('nan')):.2f} | "
          f"{r.get('val/sample_class_entropy_diffusion', float('nan')):.3f} | {r['time/train_s']:.0f} |")
PY
}

prior_test() {
  local run=$1 row=$2 n=$3; shift 3
  time python bench/prior_steps.py --checkpoint "$run/checkpoints/$row.pt" --steps 25 --n "$n" "$@"
}
