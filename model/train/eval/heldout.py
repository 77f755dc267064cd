"""Next-token accuracy and loss on the held-out test packages (build_corpus.TEST_PACKAGES), streamed as long
workspaces: each package's files in path order with `<|file|>` headers, from the learned initial FAM.

    python model/train/eval/heldout.py --weights DIR --data /tmp/famulus/data --corpus /tmp/famulus/corpus \\
        --out heldout.json [--max-tokens 65536]

Results per package and per position bucket (how far into the workspace the predicted token is), so the
effect of the memory on long files shows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F_

from common import Timer, autocast, load_model

import data  # noqa: E402  (common put model/train on the path)
import prompt  # noqa: E402

BUCKETS = [0, 1024, 4096, 16384, 65536, 262144, 1 << 40]


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-tokens", type=int, default=65536)
    args = ap.parse_args()
    model = load_model(args.weights)
    B = model.cfg.block_size
    corpus = data.Corpus(args.data, args.corpus, "test")
    rows = [corpus.ids(int(corpus.pkg_first[p]), int(corpus.pkg_end[p]))[:args.max_tokens + 1]
            for p in range(len(corpus.names))]
    n = (max(len(r) for r in rows) - 1 + B - 1) // B * B
    ids = np.full((len(rows), n + 1), prompt.EOT, np.int64)
    valid = np.zeros((len(rows), n), bool)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = r
        valid[i, :len(r) - 1] = True
    ids_t = torch.from_numpy(ids).to(model.device())
    correct = np.zeros((len(rows), n), bool)
    nll = np.zeros((len(rows), n), np.float32)
    state, timer = model.init_state(len(rows)), Timer()
    with autocast(model):
        for s in range(0, n, B):
            state, logits = model.block_step(state, ids_t[:, s:s + B], logits="all")
            y = ids_t[:, s + 1:s + B + 1]
            correct[:, s:s + B] = (logits.argmax(-1) == y).cpu().numpy()
            nll[:, s:s + B] = F_.cross_entropy(logits.float().transpose(1, 2), y, reduction="none").cpu().numpy()
    pos = np.arange(n)
    buckets = []
    for lo, hi in zip(BUCKETS, BUCKETS[1:]):
        sel = valid & (pos >= lo) & (pos < hi)
        if sel.any():
            buckets.append({"from": lo, "to": min(hi, n), "tokens": int(sel.sum()),
                            "accuracy": float(correct[sel].mean()), "loss": float(nll[sel].mean())})
    packages = [{"package": name, "tokens": int(valid[i].sum()), "accuracy": float(correct[i][valid[i]].mean()),
                 "loss": float(nll[i][valid[i]].mean())} for i, name in enumerate(corpus.names)]
    result = {"task": "heldout_next_token", "weights": args.weights, "max_tokens": args.max_tokens,
              "tokens": int(valid.sum()), "accuracy": float(correct[valid].mean()),
              "loss": float(nll[valid].mean()), "by_position": buckets, "by_package": packages,
              "seconds": timer()}
    print(json.dumps({k: v for k, v in result.items() if k != "by_package"}))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
