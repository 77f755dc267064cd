"""Train the byte-level BPE tokenizer on the training split, then encode every split for data.py.

    python model/train/tokenizer.py --corpus /tmp/famulus/corpus --out /tmp/famulus/data

Tokenizer: Hugging Face `tokenizers` BPE, vocabulary VOCAB_SIZE, special tokens ids 0..3 exactly as
docs/prompt-format.md (prompt.SPECIAL_TOKENS). Pre-tokenizer: digits split one by one (pass keys and line numbers
become one token per digit, ours), then GPT-2's byte-level split. The result loads in @huggingface/tokenizers.

VOCAB_SIZE is 16000, not 16384: with hidden size 512 the tied embedding is then 15.6 MiB in fp16 and fits one
safetensors shard of at most 16 MiB (16384 x 512 x 2 bytes is exactly 16 MiB, and the header would push it over).

Encoded splits: {out}/{split}.tokens.npy (uint16, every file as prompt.file_ids, concatenated) and
{out}/{split}.files.npy (int64 [n_files, 3]: package index, first token, token count), in the order of
{corpus}/{split}.jsonl.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

import prompt

VOCAB_SIZE = 16000
TOKENIZER_TRAIN_BYTES = 200 * 1024 * 1024  # a shuffled sample of the training split is plenty for 16k merges


def read_packages(path: Path):
    with open(path) as f:
        for line in f:
            yield json.loads(line)


def training_texts(corpus: Path, max_bytes: int):
    packages = list(read_packages(corpus / "train.jsonl"))
    random.Random(0).shuffle(packages)
    budget = max_bytes
    for pkg in packages:
        for path, text in pkg["files"]:
            yield path + "\n" + text
            budget -= len(text)
            if budget <= 0:
                return


def train_tokenizer(corpus: Path, out: Path) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=2, special_tokens=prompt.SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(training_texts(corpus, TOKENIZER_TRAIN_BYTES), trainer=trainer)
    for i, s in enumerate(prompt.SPECIAL_TOKENS):
        assert tok.token_to_id(s) == i, f"special token {s} got id {tok.token_to_id(s)}, expected {i}"
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 1 << 30,  # FAM has no context limit
        "bos_token": None,
        "eos_token": "<|endoftext|>",
        "unk_token": None,
        "pad_token": "<|endoftext|>",
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "additional_special_tokens": prompt.SPECIAL_TOKENS[1:],
    }
    with open(out / "tokenizer_config.json", "w") as f:
        json.dump(config, f, indent=1)
    return tok


def encode_split(tok: Tokenizer, corpus: Path, out: Path, split: str) -> dict:
    docs, table = [], []
    for pi, pkg in enumerate(read_packages(corpus / f"{split}.jsonl")):
        for path, text in pkg["files"]:
            docs.append(path + "\n" + prompt.with_one_newline(text))
            table.append(pi)
    tokens, files, start = [], np.zeros((len(docs), 3), np.int64), 0
    for i in range(0, len(docs), 4096):
        for j, enc in enumerate(tok.encode_batch(docs[i:i + 4096], add_special_tokens=False)):
            ids = np.asarray([prompt.FILE] + enc.ids, np.uint16)
            files[i + j] = (table[i + j], start, len(ids))
            tokens.append(ids)
            start += len(ids)
    np.save(out / f"{split}.tokens.npy", np.concatenate(tokens) if tokens else np.zeros(0, np.uint16))
    np.save(out / f"{split}.files.npy", files)
    return {"files": len(docs), "tokens": int(start), "bytes": sum(len(d) for d in docs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--reuse", help="folder with a tokenizer.json + tokenizer_config.json made earlier by this "
                                    "script: encode with it instead of training a new one")
    args = ap.parse_args()
    corpus, out = Path(args.corpus), Path(args.out)
    if args.reuse:
        out.mkdir(parents=True, exist_ok=True)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(Path(args.reuse) / name, out / name)
        tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    else:
        tok = train_tokenizer(corpus, out)
    stats = {split: encode_split(tok, corpus, out, split) for split in ("train", "val", "test")}
    for s in stats.values():
        s["bytes_per_token"] = round(s["bytes"] / max(1, s["tokens"]), 3)
    with open(out / "tokens.json", "w") as f:
        json.dump(stats, f, indent=1)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
