#!/usr/bin/env bash
# The paper's Fig. 3a at this model size (model/train/README.md, "FAM vs BSWA"), one or more calls on the GPU machine:
#   [STEPS=250] [VARIANTS="fam-m1 bswa-m1 ..."] [LENGTHS=...] [EXTRA_ARGS="--set ..."] bash model/train/fig3a.sh SECONDS
#
# As in the paper, every variant is the same pretrained decoder (INIT, default: the shipped model) converted to
# one memory layout (train.py init_from) and fine-tuned with the same recipe, seed, data and number of steps;
# then PassKey with the key at the start (the paper's prompt) at growing lengths. FAM: F = 64 with m = 0 or 1
# memory segments; BSWA: F = 0 with M = 0, 1, 2 or 4. Resumable and idempotent: a variant with a passkey.json is
# done, one with a checkpoint resumes, so a second call with the same arguments finishes what a first began.
# Results: $OUT/fig3a/<variant>/{passkey.json,train_log.jsonl,config.json}; FAM variants' weights stay in
# $W/fig3a/<variant>/export (fam-m1 is the next default-model candidate).
set -euo pipefail
export PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
T=model/train
W=${FAMULUS_WORK:-/tmp/famulus}
START=$(date +%s)
END=$((START + $1))
at() { echo "== $1 at +$(($(date +%s) - START)) s"; }
INIT=${INIT:-model/weights/default}
STEPS=${STEPS:-250}
VARIANTS=${VARIANTS:-fam-m1 bswa-m1 fam-m0 bswa-m0 bswa-m2 bswa-m4}
LENGTHS=${LENGTHS:-1024,4096,16384,65536,262144}
TRIALS=${TRIALS:-50}
export TOKENIZER_DIR=${TOKENIZER_DIR:-$INIT}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU: $(nproc) CPU cores"
source $T/prepare.sh

# The recipe of stage 4 (MODEL_CARD.md), with Repeat gaps longer than the 1-2k attention window and PassKey
# prompts long enough that most keys lie outside it: only a memory beyond the window lowers those losses.
RECIPE=(--set lr=4e-4 --set min_lr=4e-5 --set warmup_steps=30 --set max_steps=$STEPS --set task_weight=0.2
        --set mix.task_prob=0.35 --set mix.passkey=0.6 --set mix.where=0.15 --set mix.what=0.1
        --set mix.summarize=0.15 --set mix.passkey_tokens=[512,32768] --set mix.repeat_prob=0.3
        --set mix.repeat_gap=[2048,16384] --set mix.repeat_gap_prob=0.9 --set seed=2026)

layout() {  # variant -> "F m"
  case $1 in
    fam-m0) echo "64 0" ;; fam-m1) echo "64 1" ;;
    bswa-m0) echo "0 0" ;; bswa-m1) echo "0 1" ;; bswa-m2) echo "0 2" ;; bswa-m4) echo "0 4" ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
  esac
}
trained() {  # the run's last call reached max_steps
  python3 -c "import json,sys; e=[json.loads(l)['end_of_call'] for l in open(sys.argv[1]) if 'end_of_call' in l]
sys.exit(0 if e and e[-1]['step'] >= e[-1]['max_steps'] > 0 else 1)" "$1/train_log.jsonl" 2>/dev/null
}

for v in $VARIANTS; do
  read -r F M <<< "$(layout $v)"
  R=$W/fig3a/$v
  mkdir -p $R $OUT/fig3a/$v
  if [ -f $R/passkey.json ]; then echo "$v: done"; continue; fi
  if ! trained $R; then
    if [ $(($(date +%s) + 90)) -gt $END ]; then at "no time left to train $v"; break; fi
    RESUME=""
    if [ -f $R/ckpt.pt ]; then RESUME="--resume"; fi
    python3 $T/train.py --run $R --data $W/data --corpus $W/corpus --deadline $((END - 60)) $RESUME \
      --init-weights $INIT --set model.fam_length=$F --set model.memory_segments=$M "${RECIPE[@]}" ${EXTRA_ARGS:-} \
      | grep -v '^{"step"' || true
    cp $R/train_log.jsonl $OUT/fig3a/$v/
    if ! trained $R; then at "$v stopped before max_steps (resumes next call)"; break; fi
    at "$v trained"
  fi
  python3 $T/export.py --ckpt $R/ckpt.pt --tokenizer $W/data --out $R/export > /dev/null
  cp $R/export/config.json $OUT/fig3a/$v/
  python3 $T/eval/passkey.py --weights $R/export --out $R/passkey.part.json --depths start --lengths $LENGTHS \
    --trials $TRIALS --deadline $((END - 30))
  # Only a full row of cells counts; a row cut by the deadline is measured again next call.
  if python3 -c "import json,sys; sys.exit(len(json.load(open(sys.argv[1]))['cells']) != len(sys.argv[2].split(',')))" \
      $R/passkey.part.json $LENGTHS; then
    mv $R/passkey.part.json $R/passkey.json
    cp $R/passkey.json $OUT/fig3a/$v/
    at "$v evaluated"
  else
    at "$v: PassKey cut by the deadline (measured again next call)"
    break
  fi
done
