#!/usr/bin/env bash
# The paper's Fig. 3a at this model size (model/train/README.md, "FAM vs BSWA"), one or more calls on the GPU machine:
#   [STEPS=250] [VARIANTS="fam-m1 bswa-m1 ..."] [LENGTHS=...] [EXTRA_ARGS="--set ..."] bash model/train/fig3a.sh SECONDS
#
# As in the paper, every variant is the same pretrained decoder (INIT, default: the shipped model) converted to
# one memory layout (train.py init_from) and fine-tuned with the same recipe, seed, data and number of steps;
# then PassKey with the key at the start (the paper's prompt) at growing lengths. FAM: F = 64 with m = 0 or 1
# memory segments; BSWA: F = 0 with M = 0, 1, 2 or 4. The FAM variants are default-model candidates, so they also
# get the issue's full PassKey grid (key at the start, middle and end, 1k-256k) and the key at the start of 1M
# tokens. With several GPUs the variants run side by side, variant i on GPU i mod #GPUs.
# Resumable and idempotent: a trained variant is not trained again, a measured grid not measured again, and one with
# a checkpoint resumes, so a second call with the same arguments finishes what a first began.
# docs/results/fig3a was measured from stage 4 with the FAM at App. B.2's positions: to repeat it, INIT=stage 4's
# weights (git history) and EXTRA_ARGS="--set model.fam_positions=block_end --set model.fam_residual=after_first".
# Results: $W/fig3a/<variant>/{passkey.json,train_log.jsonl,export/} and, for the FAM variants, fam_rms.json,
# passkey-full.json, passkey-longest.json, heldout.json and symbols.json (finetune.sh's evaluate_candidate); they
# come back as $OUT/fig3a.tar.gz, with the best FAM variant's weights in $OUT/candidate/.
STEPS=${STEPS:-250}
# The FAM variants last: on 4 GPUs they run alone on theirs and have time for the full grid.
VARIANTS=${VARIANTS:-bswa-m1 bswa-m0 fam-m1 fam-m0 bswa-m2 bswa-m4}
LONGEST=${LONGEST:-1048576}
LENGTHS=${LENGTHS:-1024,4096,16384,65536,262144}
source model/train/finetune.sh

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

variant() {  # trains and evaluates one variant; returns 1 when the deadline cut it (it resumes next call)
  local v=$1 F M R=$W/fig3a/$1
  read -r F M <<< "$(layout $v)"
  finetune $R $v --init-weights $INIT --set model.fam_length=$F --set model.memory_segments=$M "${RECIPE[@]}" \
    ${EXTRA_ARGS:-} || return 1
  measure $R/passkey.json python3 $T/eval/passkey.py --weights $R/export --out $R/passkey.json.part \
    --trials $TRIALS --depths start --lengths $LENGTHS --deadline $((END - 30)) || return 1
  if [ $F -gt 0 ]; then evaluate_candidate $R; fi  # a FAM variant is a default-model candidate
}

lane() {  # the variants of one GPU, in order, stopping at the first the deadline cuts
  for v in "$@"; do variant $v 2>&1 | sed -u "s/^/[$v] /" || return 0; done
}

GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
GPUS=$((GPUS > 0 ? GPUS : 1))
V=($VARIANTS)
for g in $(seq 0 $((GPUS - 1))); do
  mine=()
  for i in "${!V[@]}"; do if [ $((i % GPUS)) = $g ]; then mine+=("${V[$i]}"); fi; done
  if [ ${#mine[@]} -gt 0 ]; then CUDA_VISIBLE_DEVICES=$g lane "${mine[@]}" & fi
done
wait
at "all lanes finished"

# Back through $OUT (at most 8 files): every variant's small results in one archive, and the weights of the FAM
# variant with the most PassKey keys found beyond the 1-2k window (key at 4k+ tokens, every depth).
(cd $W && tar czf $OUT/fig3a.tar.gz $(ls fig3a/*/{*.json,train_log.jsonl,export/config.json} 2>/dev/null))
BEST=$(python3 -c "import glob,json,os,sys
score=lambda f: sum(c['correct'] for c in json.load(open(f))['cells'] if c['length'] > 2048)
runs=sorted(glob.glob(os.path.join(sys.argv[1], '*/passkey-full.json')), key=score)
print(os.path.dirname(runs[-1]) if runs else '')" $W/fig3a 2>/dev/null || true)
if [ -n "$BEST" ]; then
  mkdir -p $OUT/candidate && cp $BEST/export/*.safetensors $BEST/export/config.json $OUT/candidate/
  at "candidate: $(basename $BEST)"
fi
