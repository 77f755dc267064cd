"""PassKey trials as files for the engine's evaluation (test/eval/passkey.ts, issue 4), with PyTorch's answers.

    python model/train/eval/passkey_prompts.py --weights DIR --out trials.json.gz
        [--cells 16384:start,16384:middle,16384:end,262144:start,262144:end] [--trials 50] [--precisions fp32,bf16]
        [--batch 10] [--threads N]

The trials are passkey.py's, drawn with its default lengths, trials per cell and seed (passkey.schedule), so
trial i of a cell here is trial i of that cell in passkey.py's results; --cells picks cells and --trials keeps the
first trials of each. Per trial: the text of passkey.txt, the key and its depth, the prompt ids (the file and the
question; the answer is the key then <|endoftext|>), and for each precision PyTorch's greedy answer (up to
MAX_NEW tokens, as the engine is asked) and whether it is exactly the key. fp32 runs on the GPU or the CPU; bf16
(the autocast of passkey.py) only on the GPU. Trials of a cell are decoded --batch at a time, the filler blocks
they share folded once. The file is gzipped: a 256k prompt is megabytes of repeated filler.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import time
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from common import greedy_answers, load_model
from passkey import LENGTHS, SEED, TRIALS, schedule

import prompt  # noqa: E402  (common put model/train on the path)
import tasks  # noqa: E402

MAX_NEW = 16  # a key is 5 digit tokens and <|endoftext|>; the rest shows what the model writes instead


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True, help="a .json.gz file")
    ap.add_argument("--cells", default="16384:start,16384:middle,16384:end,262144:start,262144:end",
                    help="LENGTH:DEPTH pairs of passkey.py's cells")
    ap.add_argument("--trials", type=int, default=TRIALS, help="the first trials of each cell")
    ap.add_argument("--precisions", default="fp32", help="fp32, bf16 (GPU only), or both")
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--threads", type=int, help="CPU threads; on a busy machine 1 is often faster than several")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cells = [(int(c.split(":")[0]), c.split(":")[1]) for c in args.cells.split(",")]
    precisions = args.precisions.split(",")
    model = load_model(args.weights)
    if "bf16" in precisions and model.device().type != "cuda":
        raise SystemExit("bf16 is the GPU's autocast; on the CPU ask for fp32")
    tok = Tokenizer.from_file(str(Path(args.weights) / "tokenizer.json"))
    pk = tasks.PassKey(tok)
    question = prompt.question_ids(tok, tasks.PASSKEY_QUESTION)

    trials = []
    # Every cell of the schedule is drawn, picked or not, so that the picked ones get passkey.py's draws.
    all_trials = schedule([int(x) for x in LENGTHS.split(",")], TRIALS, SEED)
    for (length, where), cell in itertools.groupby(all_trials, key=lambda t: t[:2]):
        if (length, where) not in cells:
            continue
        n_filler = pk.n_filler_for(length)
        for i, (*_, key, depth) in enumerate(itertools.islice(cell, args.trials)):
            s = pk.build(key, n_filler, depth)
            n_answer = int((s.mask == tasks.LOSS_TASK).sum())
            text = pk.file_text(key, n_filler, depth)
            prompt_ids = s.ids[:-n_answer].tolist()
            trials.append({
                "length": length, "depth": where, "trial": i, "key": key, "depthFraction": depth,
                "fillerSentences": n_filler, "sentencesBeforeKey": pk.sentences_before_key(n_filler, depth),
                "path": tasks.PASSKEY_PATH, "text": text, "question": tasks.PASSKEY_QUESTION,
                "promptIds": prompt_ids, "answerIds": s.ids[-n_answer:].tolist(),
                # build() encodes the prompt piece by piece; the engine encodes the file's text whole.
                "textEncodesToPromptIds": prompt.file_ids(tok, tasks.PASSKEY_PATH, text) + question == prompt_ids,
                "pytorch": {},
            })

    device = torch.cuda.get_device_name() if model.device().type == "cuda" else "cpu"
    summary = []
    for length, where in cells:
        rows = [t for t in trials if (t["length"], t["depth"]) == (length, where)]
        for precision in precisions:
            t0 = time.time()
            for b in range(0, len(rows), args.batch):
                part = rows[b:b + args.batch]
                answers = greedy_answers(model, [np.asarray(t["promptIds"]) for t in part], MAX_NEW,
                                         precision=precision)
                for t, ids in zip(part, answers):
                    stopped = ids[-1] == prompt.EOT
                    t["pytorch"][precision] = {"answer": tok.decode(ids[:-1] if stopped else ids), "answerIds": ids,
                                               "stopped": stopped, "correct": ids == t["answerIds"]}
            correct = sum(t["pytorch"][precision]["correct"] for t in rows)
            cell = {"length": length, "depth": where, "precision": precision, "trials": len(rows),
                    "correct": correct, "seconds": round(time.time() - t0, 1)}
            print(json.dumps(cell), flush=True)
            summary.append(cell)

    result = {"task": "passkey", "weights": args.weights, "device": device, "seed": SEED, "scheduleLengths": LENGTHS,
              "scheduleTrials": TRIALS, "maxNewTokens": MAX_NEW, "cells": summary, "trials": trials}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
