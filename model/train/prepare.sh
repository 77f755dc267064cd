#!/usr/bin/env bash
# Prepares what /tmp/famulus lacks on the GPU machine (sourced by gpu_call.sh and finetune.sh, which set T, W, at):
# the corpus (build_corpus.py: this machine's Python + the npm pack carried from the development machine), then
# the tokenizer and the encoded splits (tokenizer.py; TOKENIZER_DIR reuses a tokenizer, so the shipped model's
# ids stay valid).
mkdir -p $W/logs
if [ ! -f $W/corpus/manifest.json ]; then
  python3 $T/corpus/build_corpus.py --npm $T/corpus/data/npm.tar.xz --out $W/corpus > $W/logs/corpus.log
  head -c 1200 $W/logs/corpus.log
  at "corpus built"
fi
if [ ! -f $W/data/tokens.json ]; then
  REUSE=""
  TOKENIZER_DIR=${TOKENIZER_DIR:-$T/corpus/data/tokenizer}
  if [ -f $TOKENIZER_DIR/tokenizer.json ]; then REUSE="--reuse $TOKENIZER_DIR"; fi
  python3 $T/tokenizer.py --corpus $W/corpus --out $W/data $REUSE | tee $W/logs/tokenizer.log
  at "tokenizer and encoded splits ready"
fi
