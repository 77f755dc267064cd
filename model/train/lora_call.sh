#!/usr/bin/env bash
# The FAM fine-tune of other families' checkpoints (lora_fam.py) on the GPU machine, one call (issue 23, item 4):
#   [PARTS="small fixtures speed"] [SPEED_SHAPES="qwen2.5-0.5b qwen2.5-1.5b"] bash model/train/lora_call.sh SECONDS
# 1. Two small random checkpoints in their families' own files (family_fixtures.py's llama3 and qwen2.5, widened
#    to 256 x 4 layers), each fine-tuned with FAM on the repository's own sources and docs for SECONDS,
#    with the PassKey probe before and after: whether the recipe trains (loss falls) and the FAM starts to carry.
# 2. The same recipe on test/fixtures/families/{llama3,qwen2.5} as they are (32 wide, 2 layers), briefly: their
#    exports come back in $OUT/finetuned/ to become test/fixtures/finetuned/ (the engine's parity test).
# 3. Training speed at real sizes (random weights of Qwen2.5-0.5B's and 1.5B's shapes, a few steps each): GPU hours
#    per billion tokens.
# Everything lands in $OUT: results per run (JSON), the logs, the two small exports' parity files.
set -euo pipefail
export PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
T=model/train
W=${FAMULUS_WORK:-/tmp/lora}
SECONDS_SMALL=$1  # training seconds of each small run (part 1)
PARTS=${PARTS:-small fixtures speed}  # which of 1-3 below to run
TEXT=extension,model/engine,model/loader,model/runtime,model/state,model/train,webview,docs,test/unit
mkdir -p $W $OUT/lora $OUT/finetuned
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU: $(nproc) CPU cores"
cd $T
python3 - "$W" <<'PY'
import copy, sys
from pathlib import Path
import family_fixtures as ff
for i, name in enumerate(("llama3", "qwen2.5")):
    spec = copy.deepcopy(ff.FAMILIES[name])
    spec["config"].update(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
                          num_key_value_heads=2, **({"head_dim": 64} if "head_dim" in spec["config"] else {}))
    spec["shards"] = 1
    ff.make_family(Path(sys.argv[1]) / f"small-{name}", name, spec, ff.SEED + 7 + i)
PY
cd - > /dev/null
cat > $W/qwen2.5-0.5b.json <<'J'
{"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
 "num_attention_heads": 14, "num_key_value_heads": 2, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
 "tie_word_embeddings": true}
J
cat > $W/qwen2.5-1.5b.json <<'J'
{"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
 "num_attention_heads": 12, "num_key_value_heads": 2, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
 "tie_word_embeddings": true}
J
small=(--set layout.block_size=256 --set layout.fam_length=16 --set train.seq_len=2048 --set train.batch=16)
tiny=(--set layout.block_size=64 --set layout.fam_length=8 --set train.seq_len=512 --set train.batch=16
      --set "passkey_tokens=[64,1024]" --set lora.rank=8 --set lora.alpha=8)
real=(--set layout.block_size=1024 --set layout.fam_length=64 --set train.seq_len=4096 --set train.batch=2)
run() {  # NAME ARGS...: one lora_fam.py run into $W/NAME, its results and log copied to $OUT/lora
  local name=$1
  shift
  echo "== $name at $(date +%T)"
  python3 $T/lora_fam.py --run $W/$name --deadline $(( $(date +%s) + 3000 )) "$@" 2>&1 | grep -v '"step"' | cut -c1-400
  cp $W/$name/log.jsonl $OUT/lora/$name.log.jsonl
  cp $W/$name/results.json $OUT/lora/$name.json 2>/dev/null || true
}
for fam in llama3 qwen2.5; do
  if [[ " $PARTS " == *" small "* ]]; then
    run small-$fam --checkpoint $W/small-$fam --text $TEXT --out $W/small-$fam-fam --probe-lengths 1024,4096 \
      --set train.train_seconds=$SECONDS_SMALL "${small[@]}"
  fi
  if [[ " $PARTS " == *" fixtures "* ]]; then
    run fixture-$fam --checkpoint test/fixtures/families/$fam --text $TEXT --out $OUT/finetuned/$fam \
      --probe-lengths 256,1024 --set train.train_seconds=30 "${tiny[@]}"
  fi
done
if [[ " $PARTS " == *" speed "* ]]; then
  for shape in ${SPEED_SHAPES:-qwen2.5-0.5b qwen2.5-1.5b}; do
    run speed-$shape --checkpoint test/fixtures/families/qwen2.5 --shape $W/$shape.json --text $TEXT \
      --max-steps 16 --probe-lengths "" "${real[@]}"
  done
fi
