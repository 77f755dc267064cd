#!/usr/bin/env bash
# A block-size ladder, or a PassKey curriculum, on the GPU machine (model/train/README.md, "Block-size ladder"):
#   [INIT=weights] [RUNGS="128:400 512:300 1024:400"] [EXTRA_ARGS="--set ..."] [LONGEST=1048576]
#   [PASSKEY_BLOCKS=2:8] [PASSKEY_DEPTH=0:1] [EVAL_BLOCKS="4 16"] [NAME=ladder] [PASSKEY_ARGS="--precision fp32"]
#   [TOKENS_PER_STEP=131072] [ROW_BLOCKS=8]
#   bash model/train/ladder.sh SECONDS
#
# Fine-tunes one model rung by rung, each rung starting from the previous rung's weights (no weight depends on the
# block size B). A rung is B:STEPS, or B:STEPS:LO-HI[:ROWS] for its own PassKey prompts of LO*B-HI*B tokens and
# ROWS blocks per row. Two uses:
# - a ladder of growing B up to the shipped one. Why: at B = 1024 a key a few blocks back is thousands of tokens
#   away and the FAM read-out is rarely rewarded; at B = 128 it is a few hundred, and the toy
#   (docs/results/toy-recall.md) learns the read-out fast at small B and carries it over 4x steps of B.
# - a curriculum at one B with keys ever further back (RUNGS="128:4000:1-2 128:1300:1-4 128:2400:1-8:16"): the
#   read-out of a key one block back is learned first, then kept over more FAM updates
#   (docs/results/default-model/curriculum.md).
# Every rung keeps TOKENS_PER_STEP tokens a step in ROW_BLOCKS blocks per row (the gradient reaches a key at most
# ROWS - 1 blocks back), and scales with B what depends on it: PassKey prompts of PASSKEY_BLOCKS (2B-8B tokens:
# keys 1-7 blocks back) unless the rung sets its own, and Repeat gaps of 2B-16B. After each rung, PassKey at
# EVAL_BLOCKS times B tokens (key at the start and in the middle); after the last, the issue's whole evaluation (as
# finetune.sh's evaluate_candidate). Resumable: a trained rung is not trained again, one with a checkpoint
# resumes, a measured file is not measured again. A rung that a call's deadline cuts is probed at the same lengths
# (20 trials a cell, finetune.sh's probe) before the call ends.
# Results: $W/$NAME/<rung>/{train_log.jsonl,passkey.json,probe-<step>.json,export/} (<rung>: b<B>, or b<B>-k<LO>-<HI>
# for a rung with its own PassKey prompts), and for the last rung finetune.sh's evaluate_candidate: fam_rms.json,
# passkey-full.json, heldout.json, symbols.json (passkey-longest.json with LONGEST). They come back as
# $OUT/$NAME.tar.gz; the newest weights (the last trained rung's, or the cut rung's probed checkpoint) come back
# in $OUT/candidate/ at the end of every call, so a run outlives the machine it ran on.
RUNGS=${RUNGS:-128:400 512:300 1024:400}
PASSKEY_BLOCKS=${PASSKEY_BLOCKS:-2:8}  # training PassKey prompts of 2B-8B tokens, unless a rung sets its own
PASSKEY_DEPTH=${PASSKEY_DEPTH:-0:1}  # with the key anywhere in them
EVAL_BLOCKS=${EVAL_BLOCKS:-4 16}  # PassKey after each rung at 4B and 16B tokens
NAME=${NAME:-ladder}  # the rungs go to $W/$NAME/<rung>
LONGEST=${LONGEST:-}
source model/train/finetune.sh

TOKENS_PER_STEP=${TOKENS_PER_STEP:-131072}
ROW_BLOCKS=${ROW_BLOCKS:-8}
RECIPE=(--set lr=4e-4 --set min_lr=4e-5 --set warmup_steps=30 --set task_weight=0.3 --set mix.task_prob=0.5
        --set mix.passkey=0.8 --set mix.where=0.08 --set mix.what=0.04 --set mix.summarize=0.08
        --set mix.repeat_prob=0.3 --set mix.repeat_gap_prob=0.9 --set seed=2029)

rung() {  # R B STEPS FROM LO-HI ROWS: trains rung R from FROM's weights and measures PassKey beyond the window
  local R=$1 B=$2 lo=${5%-*} hi=${5#*-} rows=$6 lengths=$(printf "%s\n" $EVAL_BLOCKS | awk -v B=$2 '{print $1 * B}' | paste -sd,)
  PROBE_LENGTHS=$lengths finetune $R "$(basename $R)" --init-weights $4 --set model.block_size=$B \
    --set seq_len=$((rows * B)) --set batch=$((TOKENS_PER_STEP / (rows * B))) --set max_steps=$3 \
    --set "mix.passkey_tokens=[$((lo * B)),$((hi * B))]" \
    --set "mix.passkey_depth=[${PASSKEY_DEPTH%:*},${PASSKEY_DEPTH#*:}]" \
    --set "mix.repeat_gap=[$((2 * B)),$((16 * B))]" \
    "${RECIPE[@]}" ${EXTRA_ARGS:-} || return 1
  measure $R/passkey.json python3 $T/eval/passkey.py --weights $R/export $PASSKEY_ARGS --out $R/passkey.json.part \
    --lengths $lengths --depths start,middle --trials $TRIALS --deadline $((END - 20))
}

from=$INIT latest="" left=$(echo $RUNGS | wc -w)
for r in $RUNGS; do
  IFS=: read -r B steps blocks rows <<< "$r"
  R=$W/$NAME/b$B${blocks:+-k$blocks}
  left=$((left - 1))
  if ! rung $R $B $steps $from ${blocks:-${PASSKEY_BLOCKS/:/-}} ${rows:-$ROW_BLOCKS} 2>&1 | sed -u "s/^/[$(basename $R)] /"
  then
    if [ -f $R/export/config.json ]; then latest=$R/export  # trained, its PassKey cut
    elif [ -f $R/probe-export/config.json ]; then latest=$R/probe-export; fi
    break
  fi
  from=$R/export latest=$R/export
  if [ $left = 0 ]; then evaluate_candidate $R || true; fi
done
if [ -n "$latest" ]; then
  mkdir -p $OUT/candidate && cp $latest/config.json $latest/*.safetensors* $OUT/candidate/
  at "weights of $latest in \$OUT/candidate"
fi
(cd $W && tar czf $OUT/$NAME.tar.gz $(ls $NAME/*/{*.json,train_log.jsonl,export/config.json} 2>/dev/null))
at "done"
