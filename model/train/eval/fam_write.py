"""Where do the FAM rows look when they write? Per block and layer, the share of the FAM rows' attention that goes
to the previous FAM (P) rather than to the block's tokens (X).

    python model/train/eval/fam_write.py --weights model/weights/default --out write.json [--blocks 6] [--rows 4]
        [--block-size 128 --memory-segments 0 --fam-residual none --fam-positions before_block]

In a FAM update the new FAM of a layer is what its F rows read from [P; X] (plus, with App. B.1's residual, P
itself). A share near 1 keeps the previous FAM and writes little of the block; near 0 rewrites the FAM from the
block alone, so nothing in it outlives one block unless another layer keeps it. Measured on PassKey prompts (the
paper's filler, key in the middle) and on random tokens, from the learned initial FAM (block 0) onwards. The
layout flags re-lay out the weights first (common.from_weights), as the fine-tunes do.
"""

from __future__ import annotations

import argparse
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List

import numpy as np
import torch
from tokenizers import Tokenizer

from common import LAYOUT, add_layout_args, load_in_layout
from fam import FamForCausalLM

import tasks  # noqa: E402  (common put model/train on the path)


@contextmanager
def recording_write_share(model: FamForCausalLM) -> Iterator[List[float]]:
    """While active, every layer's attention appends the mean share of its FAM rows' attention that falls on P
    (over rows, heads and batch). Keys are ordered [memory ring, P, X] and FAM rows never see the ring."""
    F, B, shares = model.cfg.fam_length, model.cfg.block_size, []
    for layer in model.model.layers:
        attn, attend = layer.self_attn, layer.self_attn.attend

        def recorded(q, k, v, mask, attn=attn, attend=attend):
            if mask is None:  # init_state's full attention, which makes the initial FAM: no update to record
                return attend(q, k, v, mask)
            rep = attn.H // attn.G
            keys = k.repeat_interleave(rep, dim=1) if rep > 1 else k
            scores = (q[:, :, :F].float() @ keys.float().transpose(-2, -1)) / attn.d ** 0.5
            weights = torch.softmax(scores.masked_fill(~mask[:F], float("-inf")), dim=-1)
            ring = keys.shape[2] - F - B
            shares.append(weights[..., ring:ring + F].sum(-1).mean().item())
            return attend(q, k, v, mask)

        attn.attend = recorded
    try:
        yield shares
    finally:
        for layer in model.model.layers:
            del layer.self_attn.attend  # back to the class's method


@torch.no_grad()
def write_share_by_block(model: FamForCausalLM, ids: torch.Tensor) -> List[List[float]]:
    """ids [rows, blocks*B] -> [blocks][layers]: the FAM rows' attention share on P in each block's update."""
    B, out = model.cfg.block_size, []
    state = model.init_state(ids.shape[0])
    with recording_write_share(model) as shares:
        for i in range(ids.shape[1] // B):
            shares.clear()
            state, _ = model.block_step(state, ids[:, i * B:(i + 1) * B].to(model.device()), logits="none")
            out.append([round(s, 4) for s in shares])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--rows", type=int, default=4, help="prompts of each kind")
    ap.add_argument("--seed", type=int, default=0)
    add_layout_args(ap)
    args = ap.parse_args()
    model = load_in_layout(args.weights, args)
    B, n = model.cfg.block_size, args.blocks * model.cfg.block_size
    pk = tasks.PassKey(Tokenizer.from_file(str(Path(args.weights) / "tokenizer.json")))
    rng = np.random.default_rng(args.seed)
    prompts = np.stack([pk.build(tasks.random_key(rng), pk.n_filler_for(n + B), 0.5).ids[:n] for _ in range(args.rows)])
    noise = rng.integers(16, model.cfg.vocab_size, (args.rows, n))
    result = {"weights": args.weights, "layout": {k: getattr(model.cfg, k) for k in ("fam_length", *LAYOUT)},
              "rows": args.rows, "share_on_previous_fam": {}}
    for kind, ids in (("passkey", prompts), ("random_tokens", noise)):
        by_block = write_share_by_block(model, torch.from_numpy(ids.astype(np.int64)))
        result["share_on_previous_fam"][kind] = by_block
        print(kind)
        for i, layers in enumerate(by_block):
            print(f"  block {i}: " + " ".join(f"{s:.2f}" for s in layers), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
