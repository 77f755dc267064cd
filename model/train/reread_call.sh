#!/usr/bin/env bash
# The re-read fine-tune on the GPU machine (model/train/README.md, "Re-read fine-tune"), one resumable call:
#   [INIT=model/weights/default] [RECIPE_ARGS="--set ..."] bash model/train/reread_call.sh SECONDS [smoke] [passkey]
# run's carry: ["model/train/corpus/data/npm-reread.tar.xz", "model/train/corpus/data/reread.jsonl.xz"]
#
# Prepares what /tmp/famulus lacks (the corpus from the carried npm subset and this machine's Python, encoded with
# INIT's tokenizer; the dump), optionally smoke-tests the new mix at toy size, trains from INIT (the shipped stage-8
# weights) with the re-read task mix until the deadline (resuming the checkpoint of an earlier call on the same
# machine), exports the weights to $OUT/weights, optionally runs a PassKey probe (`passkey`: 4k and 16k tokens, key
# at the start and in the middle, 20 trials a cell), and packs the log and results into $OUT/reread-meta.tar.gz.
# The learning-rate schedule spans TRAIN_SECONDS of training over all calls (train.py fixes max_steps from the step
# time it measures), so two ~9.5-minute calls on one warm machine (the second within its 30 s of warmth) make one run.
set -euo pipefail
export PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
T=model/train
W=${FAMULUS_WORK:-/tmp/famulus}
START=$(date +%s)
END=$((START + $1))
shift
SMOKE=0
PASSKEY=0
for a in "$@"; do
  case $a in
    smoke) SMOKE=1 ;;
    passkey) PASSKEY=1 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
at() { echo "== $1 at +$(($(date +%s) - START)) s"; }
INIT=${INIT:-model/weights/default}
NPM=${NPM:-$T/corpus/data/npm-reread.tar.xz}
DUMP=${DUMP:-$T/corpus/data/reread.jsonl.xz}
RUN=${RUN:-$W/reread}
TRAIN_SECONDS=${TRAIN_SECONDS:-700}
C=$W/corpus-reread
D=$W/data-reread
mkdir -p $W/logs $OUT/weights
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU: $(nproc) CPU cores"

# The corpus: the npm subset (held-out test and val packages, the dump's training packages) and this machine's
# Python, built and split as always; encoded with INIT's tokenizer so the shipped model's ids stay valid.
if [ ! -f $C/manifest.json ]; then
  python3 $T/corpus/build_corpus.py --npm $NPM --out $C > $W/logs/corpus-reread.log
  head -c 600 $W/logs/corpus-reread.log
  at "corpus built"
fi
if [ ! -f $D/tokens.json ]; then
  python3 $T/tokenizer.py --corpus $C --out $D --reuse $INIT > $W/logs/tokenizer-reread.log
  at "splits encoded"
fi
cp -n $DUMP $W/reread.jsonl.xz 2>/dev/null || true

# Stage 8's recipe (ladder.sh's, rows of 16 blocks, 65,536 tokens a step, m = 1), with the re-read tasks taking
# the place of the FAM-only Where/What/Summarize and a smaller share of PassKey (model/train/README.md).
RECIPE=(--set seq_len=16384 --set batch=4 --set lr=3e-4 --set min_lr=3e-5 --set warmup_steps=30
        --set train_seconds=$TRAIN_SECONDS --set task_weight=0.3 --set seed=2030
        --set mix.task_prob=0.6 --set mix.passkey=0.4 --set mix.where=0 --set mix.what=0 --set mix.summarize=0
        --set mix.reread_which=0.05 --set mix.reread_what=0.35 --set mix.reread_summarize=0.12
        --set mix.reread_where=0.08 --set mix.reread_missing=0.05 --set mix.reread_file=$W/reread.jsonl.xz
        --set "mix.passkey_tokens=[4096,16384]" --set mix.repeat_prob=0.3 --set mix.repeat_gap_prob=0.9
        --set "mix.repeat_gap=[2048,16384]")

if [ $SMOKE = 1 ]; then
  TOY=(--set model.hidden_size=128 --set model.num_hidden_layers=2 --set model.block_size=256
       --set model.fam_length=16 --set batch=2 --set seq_len=1024 --set workers=2 --set val_batches=1)
  rm -rf $W/reread-smoke
  python3 $T/train.py --run $W/reread-smoke --data $D --corpus $C --deadline $(($(date +%s) + 120)) \
    --max-steps-this-call 6 "${RECIPE[@]}" "${TOY[@]}" --set train_seconds=60 | tail -3
  at "smoke test passed"
fi

RESUME=() INIT_ARGS=()
if [ -f $RUN/ckpt.pt ]; then RESUME=(--resume); else INIT_ARGS=(--init-weights $INIT); fi
python3 $T/train.py --run $RUN --data $D --corpus $C --deadline $((END - 45 - PASSKEY * 100)) "${RESUME[@]}" \
  "${INIT_ARGS[@]}" "${RECIPE[@]}" ${RECIPE_ARGS:-}
at "training stopped"
python3 $T/export.py --ckpt $RUN/ckpt.pt --tokenizer $D --out $OUT/weights
at "exported"
if [ $PASSKEY = 1 ]; then
  python3 $T/eval/passkey.py --weights $OUT/weights --out $RUN/passkey-probe.json --lengths 4096,16384 \
    --depths start,middle --trials 20 --deadline $((END - 40)) || true
  at "PassKey probed"
fi
(cd $W && tar czf $OUT/reread-meta.tar.gz reread/train_log.jsonl $(ls reread/*.json 2>/dev/null) \
  logs/corpus-reread.log corpus-reread/manifest.json)
at "done"
