"""PassKey retrieval accuracy (the FAM paper's Fig. 3a task) of exported weights.

    python model/train/eval/passkey.py --weights DIR --out passkey.json [--lengths 1024,4096,...] [--trials 50]

Prompts are tasks.PassKey with the Landmark filler sentences; the key (5 random digits) sits near the start
(depth 0-5% of the filler), the middle (45-55%) or the end (95-100%). A trial is correct when greedy decoding
gives exactly the key followed by <|endoftext|> (common.greedy_correct). Lengths run in ascending order and the
script stops starting new ones past --deadline, so the JSON always holds whole cells.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from common import Timer, greedy_correct, load_model

import tasks  # noqa: E402  (common put model/train on the path)

DEPTHS = {"start": (0.0, 0.05), "middle": (0.45, 0.55), "end": (0.95, 1.0)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--lengths", default="1024,4096,16384,65536,262144")
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--deadline", type=float, default=float("inf"), help="start no new length after this Unix time")
    ap.add_argument("--seed", type=int, default=4)
    args = ap.parse_args()
    model = load_model(args.weights)
    tok = Tokenizer.from_file(str(Path(args.weights) / "tokenizer.json"))
    pk = tasks.PassKey(tok)
    rng = np.random.default_rng(args.seed)
    cells, timer = [], Timer()
    for length in [int(x) for x in args.lengths.split(",")]:
        if time.time() > args.deadline:
            print(f"deadline: skipping length {length} and longer")
            break
        n_filler = pk.n_filler_for(length)
        for where, (lo, hi) in DEPTHS.items():
            seqs, alens = [], []
            for _ in range(args.trials):
                s = pk.build(tasks.random_key(rng), n_filler, float(rng.uniform(lo, hi)))
                seqs.append(s.ids)
                alens.append(int((s.mask == tasks.LOSS_TASK).sum()))
            ok = greedy_correct(model, seqs, alens)
            cell = {"length": length, "tokens": int(len(seqs[0])), "depth": where, "trials": len(ok),
                    "correct": int(sum(ok)), "accuracy": sum(ok) / len(ok), "seconds": timer()}
            print(json.dumps(cell), flush=True)
            cells.append(cell)
    result = {"task": "passkey", "weights": args.weights, "filler": tasks.PASSKEY_FILLER.strip(), "cells": cells}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
