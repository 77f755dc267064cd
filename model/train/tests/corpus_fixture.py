"""Test helpers for the training code: a corpus split written as build_corpus.py and tokenizer.py write one, for
tests that run the scripts reading it (train.py, eval/symbols.py, data.py) on a few made-up files, and a byte
tokenizer that stands in for the BPE where only the layout matters."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import prompt  # noqa: E402


def write_split(d: Path, split: str, tok, packages: dict) -> None:
    """One corpus split in the files build_corpus.py (SPLIT.jsonl) and tokenizer.py (SPLIT.tokens/files.npy) write."""
    tokens, table = [], []
    with open(d / f"{split}.jsonl", "w") as f:
        for pi, (name, files) in enumerate(packages.items()):
            f.write(json.dumps({"package": name, "files": files}) + "\n")
            for path, text in files:
                ids = prompt.file_ids(tok, path, text)
                table.append((pi, len(tokens), len(ids)))
                tokens += ids
    np.save(d / f"{split}.tokens.npy", np.asarray(tokens, np.uint16))
    np.save(d / f"{split}.files.npy", np.asarray(table, np.int64))


class ByteTok:
    """Ids = UTF-8 bytes + 4, so ids 0..3 stay the special tokens: enough to check where the specials go."""

    class Enc:
        def __init__(self, ids):
            self.ids = ids

    def encode(self, s, add_special_tokens=False):
        return self.Enc([b + 4 for b in s.encode("utf-8")])

    @staticmethod
    def decode(ids):
        out, buf = "", bytearray()
        for i in ids:
            if i < 4:
                out += buf.decode("utf-8") + prompt.SPECIAL_TOKENS[i]
                buf = bytearray()
            else:
                buf.append(i - 4)
        return out + buf.decode("utf-8")
