"""Symbol-location accuracy: "Where is `NAME` defined?" -> `path:line` over held-out workspaces.

    python model/train/eval/symbols.py --weights DIR --data /tmp/famulus/data --corpus /tmp/famulus/corpus \\
        --out symbols.json [--lengths 16384,65536,262144] [--trials 50]

Each trial is tasks.where_sample over a window of consecutive files of one test package, about LENGTH tokens
long (only packages with at least that many tokens take part; the JSON lists them). NAME is defined exactly once
in the window, anywhere in it. Correct = greedy decoding gives exactly `path:line` then <|endoftext|>.

A wrong answer can be wrong in the file or only in the line number, which needs the model to count the lines of
a file it read. So each cell also gives, scored token by token as common.answer_token_hits does (each answer
token the argmax after the right tokens before it): "path_right", the share of trials whose path tokens (up to the
line number) all are, and "line_digits_right", the share of line-number digits that are.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from common import Timer, answer_token_hits, load_model

import data  # noqa: E402  (common put model/train on the path)
import tasks  # noqa: E402


def path_tokens(tok, answer: np.ndarray) -> int:
    """How many tokens of a `path:line<|endoftext|>` answer come before the line number: the digits before the
    <|endoftext|> are the line (the tokenizer splits digits one per token)."""
    n = len(answer) - 1
    while n > 0 and tok.decode([int(answer[n - 1])]).isdigit():
        n -= 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--lengths", default="16384,65536,262144")
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--deadline", type=float, default=float("inf"), help="start no new length after this Unix time")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    model = load_model(args.weights)
    tok = Tokenizer.from_file(str(Path(args.weights) / "tokenizer.json"))
    corpus = data.Corpus(args.data, args.corpus, "test")
    sizes = np.array([corpus.files[corpus.pkg_first[p]:corpus.pkg_end[p], 2].sum() for p in range(len(corpus.names))])
    rng = np.random.default_rng(args.seed)
    cells, timer = [], Timer()
    for length in [int(x) for x in args.lengths.split(",")]:
        if time.time() > args.deadline:
            print(f"deadline: skipping length {length} and longer")
            break
        eligible = [p for p in range(len(corpus.names)) if sizes[p] >= length]
        if not eligible:
            print(f"no test package has {length} tokens")
            continue
        samples, tries = [], 0
        while len(samples) < args.trials and tries < 20 * args.trials:
            tries += 1
            first, end = corpus.window(rng, length, package=int(rng.choice(eligible)))
            s = tasks.where_sample(tok, rng, [corpus.file(i) for i in range(first, end)])
            if s is not None:
                samples.append(s)
        ok, path_ok, digits = [], [], []
        for i in range(0, len(samples), args.batch):
            part = samples[i:i + args.batch]
            lens = [int((s.mask == tasks.LOSS_TASK).sum()) for s in part]
            for s, n, hits in zip(part, lens, answer_token_hits(model, [s.ids for s in part], lens)):
                k = path_tokens(tok, s.ids[-n:])
                ok.append(bool(hits.all()))
                path_ok.append(bool(hits[:k].all()))
                digits += list(hits[k:-1])
        cell = {"length": length, "mean_tokens": float(np.mean([len(s.ids) for s in samples])),
                "packages": [corpus.names[p] for p in eligible], "trials": len(ok), "correct": int(sum(ok)),
                "accuracy": sum(ok) / max(1, len(ok)), "path_right": sum(path_ok) / max(1, len(ok)),
                "line_digits_right": float(np.mean(digits)) if digits else 0.0, "seconds": timer()}
        print(json.dumps(cell), flush=True)
        cells.append(cell)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"task": "symbol_location", "weights": args.weights, "cells": cells}, f, indent=1)


if __name__ == "__main__":
    main()
