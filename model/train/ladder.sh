#!/usr/bin/env bash
# A block-size ladder on the GPU machine (model/train/README.md, "Block-size ladder"):
#   [INIT=weights] [RUNGS="128:400 512:300 1024:400"] [EXTRA_ARGS="--set ..."] [LONGEST=1048576]
#   [PASSKEY_BLOCKS=2:8] [PASSKEY_DEPTH=0:1] [EVAL_BLOCKS="4 16"] [NAME=ladder] [PASSKEY_ARGS="--precision fp32"]
#   bash model/train/ladder.sh SECONDS
#
# Fine-tunes one model at a small block size B, then at growing ones up to the shipped B, each rung starting from
# the previous rung's weights (no weight depends on B). Why: at B = 1024 a key a few blocks back is thousands of
# tokens away and the FAM read-out is rarely rewarded; at B = 128 it is a few hundred, and the toy
# (docs/results/toy-recall.md) learns the read-out fast at small B and carries it over 4x steps of B.
# Every rung keeps 131,072 tokens a step in 8 blocks per row, and scales with B what depends on it: PassKey
# prompts of 2B-8B tokens (keys 1-7 blocks back) and Repeat gaps of 2B-16B. After each rung, PassKey at 4B and 16B
# tokens (key at the start and in the middle: 3 and 15 blocks back, beyond the 2-block window); after the last,
# the whole evaluation (as fig3a.sh gives a candidate). Resumable like fig3a.sh: a trained rung is not
# trained again, one with a checkpoint resumes, a measured file is not measured again. A rung that a call's
# deadline cuts is probed at the same lengths (20 trials a cell, finetune.sh's probe) before the call ends.
# Results: $W/ladder/b<B>/{train_log.jsonl,passkey.json,probe-<step>.json,export/}, and for the last rung finetune.sh's
# evaluate_candidate: fam_rms.json, passkey-full.json, heldout.json, symbols.json (passkey-longest.json with
# LONGEST). They come back as $OUT/ladder.tar.gz, the last rung's weights in $OUT/candidate/.
RUNGS=${RUNGS:-128:400 512:300 1024:400}
PASSKEY_BLOCKS=${PASSKEY_BLOCKS:-2:8}  # training PassKey prompts of 2B-8B tokens
PASSKEY_DEPTH=${PASSKEY_DEPTH:-0:1}  # with the key anywhere in them
EVAL_BLOCKS=${EVAL_BLOCKS:-4 16}  # PassKey after each rung at 4B and 16B tokens
NAME=${NAME:-ladder}  # the rungs go to $W/$NAME/b<B>
LONGEST=${LONGEST:-}
source model/train/finetune.sh

TOKENS_PER_STEP=${TOKENS_PER_STEP:-131072}
RECIPE=(--set lr=4e-4 --set min_lr=4e-5 --set warmup_steps=30 --set task_weight=0.3 --set mix.task_prob=0.5
        --set mix.passkey=0.8 --set mix.where=0.08 --set mix.what=0.04 --set mix.summarize=0.08
        --set mix.repeat_prob=0.3 --set mix.repeat_gap_prob=0.9 --set seed=2029)

rung() {  # B STEPS FROM: trains one rung from FROM's weights and measures PassKey beyond the window
  local B=$1 R=$W/$NAME/b$1 lengths=$(printf "%s\n" $EVAL_BLOCKS | awk -v B=$1 '{print $1 * B}' | paste -sd,)
  PROBE_LENGTHS=$lengths finetune $R "B=$B" --init-weights $3 --set model.block_size=$B --set seq_len=$((8 * B)) \
    --set batch=$((TOKENS_PER_STEP / (8 * B))) --set max_steps=$2 \
    --set "mix.passkey_tokens=[$((${PASSKEY_BLOCKS%:*} * B)),$((${PASSKEY_BLOCKS#*:} * B))]" \
    --set "mix.passkey_depth=[${PASSKEY_DEPTH%:*},${PASSKEY_DEPTH#*:}]" \
    --set "mix.repeat_gap=[$((2 * B)),$((16 * B))]" \
    "${RECIPE[@]}" ${EXTRA_ARGS:-} || return 1
  measure $R/passkey.json python3 $T/eval/passkey.py --weights $R/export $PASSKEY_ARGS --out $R/passkey.json.part \
    --lengths $lengths --depths start,middle --trials $TRIALS --deadline $((END - 20))
}

LAST_B=$(echo $RUNGS | awk '{print $NF}' | cut -d: -f1)
from=$INIT
for r in $RUNGS; do
  B=${r%%:*}
  if ! rung $B ${r#*:} $from 2>&1 | sed -u "s/^/[B=$B] /"; then break; fi
  from=$W/$NAME/b$B/export
  if [ $B = $LAST_B ]; then
    evaluate_candidate $W/$NAME/b$B || true
    mkdir -p $OUT/candidate && cp $from/*.safetensors $from/config.json $OUT/candidate/
  fi
done
(cd $W && tar czf $OUT/$NAME.tar.gz $(ls $NAME/*/{*.json,train_log.jsonl,export/config.json} 2>/dev/null))
at "done"
