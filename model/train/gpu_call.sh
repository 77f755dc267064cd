#!/usr/bin/env bash
# One call on the GPU machine (model/train/README.md, "Running on the GPU machine"):
#   [TRAIN_ARGS="..."] [TOKENIZER_DIR=...] bash model/train/gpu_call.sh SECONDS [smoke] [eval=SECONDS]
# Prepares what /tmp/famulus lacks (corpus, tokenizer, encoded splits), optionally smoke-tests every script at
# toy scale, trains (resuming when a checkpoint exists) until the deadline less export and eval time, exports the
# weights to $OUT/weights, optionally evaluates them, and packs logs and small results into $OUT/meta.tar.gz.
set -euo pipefail
export PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
T=model/train
W=/tmp/famulus
START=$(date +%s)
END=$((START + $1))
shift
SMOKE=0
EVAL=0
for a in "$@"; do
  case $a in
    smoke) SMOKE=1 ;;
    eval=*) EVAL=${a#eval=} ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
at() { echo "== $1 at +$(($(date +%s) - START)) s"; }
mkdir -p $W/eval $OUT/weights
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

source $T/prepare.sh

if [ $SMOKE = 1 ]; then
  S=(--data $W/data --corpus $W/corpus --train-split val)
  TOY=(--set model.hidden_size=128 --set model.num_hidden_layers=2 --set model.block_size=256
       --set model.fam_length=16 --set batch=4 --set seq_len=1024 --set workers=2 --set val_batches=1)
  rm -rf $W/smoke
  python3 $T/train.py --run $W/smoke "${S[@]}" --deadline $(($(date +%s) + 100)) --max-steps-this-call 8 "${TOY[@]}"
  python3 $T/train.py --run $W/smoke "${S[@]}" --deadline $(($(date +%s) + 100)) --max-steps-this-call 4 --resume
  python3 $T/export.py --ckpt $W/smoke/ckpt.pt --tokenizer $W/data --out $W/smoke/export
  python3 $T/eval/passkey.py --weights $W/smoke/export --out $W/smoke/passkey.json --lengths 1024,4096 --trials 4
  python3 $T/eval/symbols.py --weights $W/smoke/export --data $W/data --corpus $W/corpus \
    --out $W/smoke/symbols.json --lengths 4096 --trials 4
  python3 $T/eval/heldout.py --weights $W/smoke/export --data $W/data --corpus $W/corpus \
    --out $W/smoke/heldout.json --max-tokens 4096
  at "smoke test passed"
fi

RESUME=""
if [ -f $W/run/ckpt.pt ]; then RESUME="--resume"; fi
python3 $T/train.py --run $W/run --data $W/data --corpus $W/corpus --deadline $((END - 40 - EVAL)) $RESUME \
  ${TRAIN_ARGS:-}
at "training stopped"
python3 $T/export.py --ckpt $W/run/ckpt.pt --tokenizer $W/data --out $OUT/weights
at "exported"

if [ "$EVAL" -gt 0 ]; then
  E=(--weights $OUT/weights)
  python3 $T/eval/passkey.py "${E[@]}" --out $W/eval/passkey.json --deadline $((END - 25 - EVAL / 3))
  python3 $T/eval/heldout.py "${E[@]}" --data $W/data --corpus $W/corpus --out $W/eval/heldout.json
  python3 $T/eval/symbols.py "${E[@]}" --data $W/data --corpus $W/corpus --out $W/eval/symbols.json \
    --deadline $((END - 30))
  at "evaluated"
fi

cd $W
tar -czf $OUT/meta.tar.gz logs data/tokenizer.json data/tokenizer_config.json data/tokens.json \
  corpus/manifest.json run/train_log.jsonl eval $(ls smoke/*.json 2>/dev/null)
at "done"
