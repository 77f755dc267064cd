"""PassKey retrieval accuracy (the FAM paper's Fig. 3a task) of exported weights.

    python model/train/eval/passkey.py --weights DIR --out passkey.json [--lengths 1024,4096,...] [--trials 50]

Prompts are tasks.PassKey with the Landmark filler sentences; the key (5 random digits) sits near the start
(depth 0-5% of the filler), the middle (45-55%) or the end (95-100%). A trial is correct when greedy decoding
gives exactly the key followed by <|endoftext|> (common.answer_token_hits, all of them); "digits_right" is the
share of the key's tokens that were the argmax (chance ~10%), which moves before whole keys do. Lengths run in
ascending order and the script stops starting new ones past --deadline, so the JSON always holds whole cells; it
then exits with status 3, so that a caller can tell a cut grid from a whole one.

Each cell also counts its trials by how many blocks separate the key from the question ("by_blocks_back": the
block that predicts the answer's first token minus the block holding the key sentence's first token). With m
memory segments, 0..m is inside the attention window; anything further can only come through the FAM, and the
depth name alone does not say which side a trial fell on (the middle of 4k straddles the window's edge).

--blank-fam is an ablation: every block starts from the learned initial FAM instead of the one carried from the
block before, so nothing reaches a block through the FAM. A key still found then came through the memory ring.
--lead N puts N tokens of filler sentences before each prompt, so that a key at its start is not in the first
block, which is read from the learned initial FAM (docs/results/default-model/curriculum.md). The layout flags
(--block-size, --memory-segments, ...) run the weights in another memory layout (common.from_weights), e.g. at a
larger B than they were trained at.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Iterator, List, Tuple

import numpy as np
from tokenizers import Tokenizer

from common import (LAYOUT, Timer, add_layout_args, answer_token_hits, blank_fam, load_in_layout,
                    requested_layout)
from precision import PRECISIONS

import tasks  # noqa: E402  (common put model/train on the path)

DEPTHS = {"start": (0.0, 0.05), "middle": (0.45, 0.55), "end": (0.95, 1.0)}
LENGTHS, TRIALS, SEED = "1024,4096,16384,65536,262144", 50, 4


def schedule(lengths: List[int], trials: int, seed: int) -> Iterator[Tuple[int, str, str, float]]:
    """Every trial as (length, depth name, key, depth), cell after cell, all drawn from one generator: a trial
    depends on the seed and on the cells before it, so eval/passkey_prompts.py can draw the same ones."""
    rng = np.random.default_rng(seed)
    for length in lengths:
        for where, (lo, hi) in DEPTHS.items():
            for _ in range(trials):
                yield length, where, tasks.random_key(rng), float(rng.uniform(lo, hi))


def blocks_back(ids: np.ndarray, key_ids: List[int], answer_len: int, block_size: int) -> int:
    """Blocks between the first occurrence of key_ids (the key sentence) in ids and the position that predicts
    the first answer token."""
    k = len(key_ids)
    windows = np.lib.stride_tricks.sliding_window_view(ids, k)
    key_pos = int(np.flatnonzero((windows == np.asarray(key_ids)).all(axis=1))[0])
    return (len(ids) - answer_len - 1) // block_size - key_pos // block_size


def digit_share(hits: List[np.ndarray]) -> float:
    """The share of key tokens predicted right (chance about 10% a digit): a read-out on its way shows here
    before whole keys come out."""
    return float(np.concatenate(hits).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--lengths", default=LENGTHS)
    ap.add_argument("--trials", type=int, default=TRIALS)
    ap.add_argument("--depths", default=",".join(DEPTHS), help="cells to run (the paper's Fig. 3a: start); the "
                                                               "trials of a cell do not depend on this")
    ap.add_argument("--deadline", type=float, default=float("inf"), help="start no new length after this Unix time")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--blank-fam", action="store_true", help="ablation: no FAM carried from block to block")
    ap.add_argument("--lead", type=int, default=0,
                    help="tokens of filler sentences before each prompt, so that a key at its start is not in the "
                         "first block (read from the learned initial FAM)")
    ap.add_argument("--precision", default="bf16", choices=PRECISIONS,
                    help="on the GPU (precision.py): the one the model was trained in; the CPU runs float32")
    add_layout_args(ap)
    args = ap.parse_args()
    if args.lead < 0:
        ap.error("--lead: a number of tokens, 0 or more")
    model = load_in_layout(args.weights, args)
    if args.blank_fam:
        blank_fam(model)
    tok = Tokenizer.from_file(str(Path(args.weights) / "tokenizer.json"))
    pk = tasks.PassKey(tok)
    lead = np.resize(np.asarray(pk.filler, np.int32), args.lead)
    cells, timer, cut = [], Timer(), False
    depths = args.depths.split(",")
    assert set(depths) <= set(DEPTHS), f"--depths: choose from {', '.join(DEPTHS)}"
    trials = schedule([int(x) for x in args.lengths.split(",")], args.trials, args.seed)
    for length, of_length in itertools.groupby(trials, key=lambda t: t[0]):
        if time.time() > args.deadline:
            print(f"deadline: skipping length {length} and longer")
            cut = True
            break
        n_filler = pk.n_filler_for(length)
        for where, cell in itertools.groupby(of_length, key=lambda t: t[1]):
            if where not in depths:
                continue
            seqs, alens, back = [], [], []
            for *_, key, depth in cell:
                s = pk.build(key, n_filler, depth)
                seqs.append(np.concatenate([lead, s.ids]))
                alens.append(int((s.mask == tasks.LOSS_TASK).sum()))
                back.append(blocks_back(seqs[-1], pk.key_sentence(key), alens[-1], model.cfg.block_size))
            hits = answer_token_hits(model, seqs, alens, args.precision)
            ok = [bool(h.all()) for h in hits]
            digits = [h[:-1] for h in hits]  # the key's tokens, not the <|endoftext|> that ends every answer
            by_back = {str(d): {"trials": sum(b == d for b in back), "correct": sum(o for o, b in zip(ok, back) if b == d),
                                "digits_right": digit_share([h for h, b in zip(digits, back) if b == d])}
                       for d in sorted(set(back))}
            cell = {"length": length, "tokens": int(len(seqs[0])), "depth": where, "trials": len(ok),
                    "correct": int(sum(ok)), "accuracy": sum(ok) / len(ok), "digits_right": digit_share(digits),
                    "by_blocks_back": by_back, "seconds": timer()}
            print(json.dumps(cell), flush=True)
            cells.append(cell)
    result = {"task": "passkey", "weights": args.weights, "filler": tasks.PASSKEY_FILLER.strip(),
              **({"ablation": "blank_fam"} if args.blank_fam else {}), **({"lead": args.lead} if args.lead else {}),
              **({"layout": {k: getattr(model.cfg, k) for k in LAYOUT}} if requested_layout(args) else {}),
              **({"precision": args.precision} if args.precision != "bf16" else {}), "cells": cells}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    if cut:
        sys.exit(3)


if __name__ == "__main__":
    main()
