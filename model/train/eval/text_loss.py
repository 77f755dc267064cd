"""Next-token loss and accuracy of exported weights on any files, read as the engine streams a workspace.

    python model/train/eval/text_loss.py --weights DIR --out loss.json --files 'model/engine/*.ts' ... [--tokens 32768]
        [--block-size B --memory-segments M ...]

The files (globs, in sorted order) are laid out as `<|file|>path\\n text` one after another, as training and the
engine do, and the first --tokens tokens run block by block from the learned initial FAM, every position scored.
heldout.py needs the GPU machine's corpus; this needs only text the models never trained on, such as this
repository's own sources, so candidates can be compared here. The layout flags run the weights in another memory
layout (common.from_weights), which separates what a layout costs from what training did.
"""

from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from common import LAYOUT, add_layout_args, load_in_layout

import prompt  # noqa: E402  (common put model/train on the path)


def workspace_ids(tok, patterns, limit: int) -> tuple[np.ndarray, list]:
    """The files matching patterns as one stream of file chunks, cut at limit tokens; and the files used."""
    ids, used = [], []
    for path in sorted({p for pattern in patterns for p in glob.glob(pattern, recursive=True) if Path(p).is_file()}):
        if len(ids) >= limit:
            break
        ids += prompt.file_ids(tok, path, Path(path).read_text(errors="replace"))
        used.append(path)
    return np.asarray(ids[:limit], np.int64), used


@torch.no_grad()
def text_loss(model, ids: np.ndarray) -> dict:
    """Mean next-token loss and argmax accuracy over the whole blocks of ids (one row, from the initial FAM)."""
    B = model.cfg.block_size
    x = torch.from_numpy(ids[None]).to(model.device())
    state = model.init_state(1)
    nll, hits, n = 0.0, 0, 0
    for blk in range((len(ids) - 1) // B):
        state, logits = model.block_step(state, x[:, blk * B:(blk + 1) * B], logits="all")
        target = x[0, blk * B + 1:(blk + 1) * B + 1]
        scores = logits[0].float()
        nll += F.cross_entropy(scores, target, reduction="sum").item()
        hits += int((scores.argmax(-1) == target).sum())
        n += len(target)
    return {"tokens": n, "loss": nll / n, "accuracy": hits / n}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--files", nargs="+", required=True, help="globs ('**' allowed)")
    ap.add_argument("--tokens", type=int, default=32768)
    add_layout_args(ap)
    args = ap.parse_args()
    model = load_in_layout(args.weights, args)
    ids, used = workspace_ids(Tokenizer.from_file(str(Path(args.weights) / "tokenizer.json")), args.files, args.tokens)
    if len(ids) <= model.cfg.block_size:
        raise SystemExit(f"the files give {len(ids)} tokens: fewer than one block of {model.cfg.block_size}")
    result = {"weights": args.weights, "layout": {k: getattr(model.cfg, k) for k in LAYOUT}, "files": len(used),
              **text_loss(model, ids)}
    print(json.dumps(result))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
