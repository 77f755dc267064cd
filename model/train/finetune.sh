#!/usr/bin/env bash
# Sourced by the GPU fine-tune job (ladder.sh) after its own settings: the call's deadline, the
# corpus (prepare.sh), and the helpers it needs to be resumable over calls. The caller's $1 is the call's length
# in seconds; INIT is the weights it starts from.
set -euo pipefail
export PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
T=model/train
W=${FAMULUS_WORK:-/tmp/famulus}
START=$(date +%s)
END=$((START + $1))
at() { echo "== $1 at +$(($(date +%s) - START)) s"; }
INIT=${INIT:-model/weights/default}
TRIALS=${TRIALS:-50}
FULL_LENGTHS=${FULL_LENGTHS:-1024,4096,16384,65536,262144}
PASSKEY_ARGS=${PASSKEY_ARGS:-}  # more eval/passkey.py flags, e.g. --precision fp32 for a model trained in it
export TOKENIZER_DIR=${TOKENIZER_DIR:-$INIT}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU: $(nproc) CPU cores"
source $T/prepare.sh

trained() {  # RUN: the run's last call reached max_steps
  python3 -c "import json,sys; e=[json.loads(l)['end_of_call'] for l in open(sys.argv[1]) if 'end_of_call' in l]
sys.exit(0 if e and e[-1]['step'] >= e[-1]['max_steps'] > 0 else 1)" "$1/train_log.jsonl" 2>/dev/null
}

finetune() {  # RUN NAME TRAIN_ARGS...: train.py into RUN until its max_steps (resuming RUN's checkpoint), then the
              # export in RUN/export; returns 1 when the deadline stops it first (it resumes next call, after
              # a probe when PROBE_LENGTHS is set; training leaves PROBE_RESERVE seconds for it)
  local R=$1 name=$2 RESUME="" reserve=60
  shift 2
  mkdir -p $R
  if [ -n "${PROBE_LENGTHS:-}" ]; then reserve=${PROBE_RESERVE:-120}; fi  # the probe's export and PassKey run
  if ! trained $R; then
    if [ $(($(date +%s) + reserve + 30)) -gt $END ]; then at "no time left to train $name"; return 1; fi
    if [ -f $R/ckpt.pt ]; then RESUME="--resume"; fi
    python3 $T/train.py --run $R --data $W/data --corpus $W/corpus --deadline $((END - reserve)) $RESUME "$@" \
      | grep -v '^{"step"' || true
    if ! trained $R; then at "$name stopped before max_steps (resumes next call)"; probe $R; return 1; fi
    at "$name trained"
  fi
  if [ ! -f $R/export/config.json ]; then
    python3 $T/export.py --ckpt $R/ckpt.pt --tokenizer $W/data --out $R/export > /dev/null
  fi
}

probe() {  # RUN: PassKey from the run's latest checkpoint at PROBE_LENGTHS tokens (start and middle, PROBE_TRIALS
           # a cell) into RUN/probe-<step>.json, so that a run longer than a call shows each call whether its
           # read-out is on its way (digits_right moves first); nothing when PROBE_LENGTHS is unset
  local R=$1 step
  if [ -z "${PROBE_LENGTHS:-}" ] || [ ! -f $R/ckpt.pt ]; then return 0; fi
  step=$(python3 $T/export.py --ckpt $R/ckpt.pt --tokenizer $W/data --out $R/probe-export |
         python3 -c "import json, sys; print(json.load(sys.stdin)['step'])") || return 0
  python3 $T/eval/passkey.py --weights $R/probe-export $PASSKEY_ARGS --out $R/probe-$step.json \
    --lengths $PROBE_LENGTHS --depths start,middle --trials ${PROBE_TRIALS:-20} || return 0
  at "$(basename $R) probed at step $step"
}

measure() {  # FILE COMMAND...: runs an evaluation that writes FILE.part, unless FILE exists. Only a whole result
             # counts: one the deadline cut (passkey.py exits 3) or that failed is measured again next call.
  local f=$1 rc=0
  shift
  [ -f $f ] && return 0
  "$@" || rc=$?
  if [ $rc = 3 ]; then at "$(basename $(dirname $f)) $(basename $f) cut by the deadline (measured again next call)"; return 1; fi
  if [ $rc != 0 ]; then at "$(basename $(dirname $f)) $(basename $f) failed (exit $rc)"; return 1; fi
  mv $f.part $f
  at "$(basename $(dirname $f)) $(basename $f) done"
}

quietly() { "$@" > /dev/null; }

evaluate_candidate() {  # RUN: the whole evaluation of a default-model candidate in RUN/export (gpu_call.sh
                        # eval=...): FAM RMS, the PassKey grid, the key at the start of LONGEST tokens if set,
                        # held-out accuracy, symbol location
  local R=$1 E=(--weights $1/export)
  measure $R/fam_rms.json quietly python3 $T/eval/fam_rms.py "${E[@]}" --out $R/fam_rms.json.part || return 1
  measure $R/passkey-full.json python3 $T/eval/passkey.py "${E[@]}" $PASSKEY_ARGS --out $R/passkey-full.json.part \
    --trials $TRIALS --lengths $FULL_LENGTHS --deadline $((END - 110)) || return 1
  if [ -n "${LONGEST:-}" ]; then
    measure $R/passkey-longest.json python3 $T/eval/passkey.py "${E[@]}" $PASSKEY_ARGS --out $R/passkey-longest.json.part \
      --trials $TRIALS --depths start --lengths $LONGEST --deadline $((END - 120)) || return 1
  fi
  E+=(--data $W/data --corpus $W/corpus)
  measure $R/heldout.json python3 $T/eval/heldout.py "${E[@]}" --out $R/heldout.json.part || return 1
  measure $R/symbols.json python3 $T/eval/symbols.py "${E[@]}" --out $R/symbols.json.part \
    --deadline $((END - 60)) || return 1
  at "$(basename $R) evaluated as a default-model candidate"
}
