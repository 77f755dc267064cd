"""Does a model's FAM stay bounded as it reads? Each layer's FAM RMS after each block of real text (issue 4).

    python model/train/eval/fam_rms.py --weights model/weights/default [--blocks 48] [--out rms.json]

The text is this repository's TypeScript sources (model/, extension/), read from a fresh state one block at a time.
With fam_residual "after_first" every update adds the previous FAM back, so unless the model learned to cancel
it, the FAM grows with every block and one block's write becomes a shrinking share of it (docs/results/toy-recall.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from tokenizers import Tokenizer

from common import load_model
from fam import FamForCausalLM

REPO = Path(__file__).resolve().parents[3]


@torch.no_grad()
def fam_rms_by_block(model: FamForCausalLM, ids: torch.Tensor) -> list[list[float]]:
    """ids [b, n*B] read from a fresh state one block at a time; after each block, each layer's FAM RMS."""
    B = model.cfg.block_size
    state, rms = model.init_state(ids.shape[0]), []
    for i in range(0, ids.shape[1], B):
        state, _ = model.block_step(state, ids[:, i:i + B].to(model.device()), logits="none")
        rms.append(state.fam_rms())
    return rms


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--blocks", type=int, default=48)
    ap.add_argument("--out", help="JSON: per block, each layer's FAM RMS")
    args = ap.parse_args()
    model = load_model(args.weights)
    tok = Tokenizer.from_file(str(Path(args.weights) / "tokenizer.json"))
    files = sorted(p for d in ("model", "extension") for p in (REPO / d).rglob("*.ts"))
    ids = torch.tensor(tok.encode("".join(p.read_text(encoding="utf-8") for p in files)).ids)[None]
    B = model.cfg.block_size
    rms = fam_rms_by_block(model, ids[:, :min(args.blocks, ids.shape[1] // B) * B])
    for b, row in enumerate(rms):
        print(f"block {b + 1:4d}: " + " ".join(f"{x:8.1f}" for x in row))
    if args.out:
        Path(args.out).write_text(json.dumps({"weights": args.weights, "fam_residual": model.cfg.fam_residual,
                                              "block_size": B, "fam_rms_by_block": rms}, indent=1) + "\n")


if __name__ == "__main__":
    main()
