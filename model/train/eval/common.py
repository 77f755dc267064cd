"""Shared by the evaluation scripts: load exported weights, and score answers by greedy exact match.

Scoring is teacher-forced: the prompt and the reference answer run through the model block by block exactly as
in inference (FamForCausalLM.block_step from the learned initial FAM, positions from 0, no offset), and an answer
counts as correct when the argmax at every answer position is the reference token, which is what greedy
decoding would produce. Rows of a batch are padded at the end to whole blocks: block rows never see later tokens
and a block's FAM is used only by later blocks, so padding cannot change the scored logits. greedy_answers decodes
freely instead, to compare whole answers with the engine's (eval/passkey_prompts.py).

On the GPU the model runs in a precision.py precision, bf16 unless asked otherwise; on a machine without one it
runs on the CPU in float32.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import List

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model/train

import precision as precisions  # noqa: E402
import prompt  # noqa: E402
from export import load  # noqa: E402
from fam import FamConfig, FamForCausalLM, FamState  # noqa: E402


def on_device(model: FamForCausalLM) -> FamForCausalLM:
    """The model on the GPU if there is one, else the CPU, in eval mode."""
    return model.to("cuda" if torch.cuda.is_available() else "cpu").eval()


def load_model(weights: str) -> FamForCausalLM:
    return on_device(load(Path(weights)))


def from_weights(folder: str, layout: dict) -> FamForCausalLM:
    """An exported model in the memory layout `layout` (FamConfig fields, e.g. block_size, memory_segments), by
    train.init_from: every weight kept, the initial FAM too when F is unchanged. On the CPU, in training mode."""
    from train import init_from  # only this path needs train.py (and its tokenizers import)

    model = FamForCausalLM(dataclasses.replace(FamConfig.load(str(Path(folder) / "config.json")), **layout))
    print(init_from(model, Path(folder)))
    return model


LAYOUT = ("block_size", "memory_segments", "fam_residual", "fam_positions")  # what from_weights may change


def add_layout_args(ap) -> None:
    """--block-size, --memory-segments, --fam-residual, --fam-positions: run the weights in another memory layout."""
    ap.add_argument("--block-size", type=int)
    ap.add_argument("--memory-segments", type=int)
    ap.add_argument("--fam-residual")
    ap.add_argument("--fam-positions")


def requested_layout(args) -> dict:
    """The layout fields that add_layout_args' flags set (none: the weights' own layout)."""
    return {k: getattr(args, k) for k in LAYOUT if getattr(args, k) is not None}


def load_in_layout(weights: str, args) -> FamForCausalLM:
    """load_model, or from_weights when add_layout_args' flags ask for another layout."""
    layout = requested_layout(args)
    return on_device(from_weights(weights, layout)) if layout else load_model(weights)


def blank_fam(model: FamForCausalLM) -> None:
    """An ablation: from now on model.block_step starts every block from the learned initial FAM instead of the
    FAM carried from the block before, keeping the memory ring. What the model still finds did not come through
    the FAM."""
    step, blank = model.block_step, {}

    def block_step(state: FamState, input_ids, **kw):
        b = input_ids.shape[0]
        if b not in blank:
            blank[b] = model.init_state(b).fam
        return step(FamState(blank[b], state.mem_k, state.mem_v, state.blocks), input_ids, **kw)

    model.block_step = block_step


def autocast(model: FamForCausalLM, precision: str = "bf16"):
    """The precision's autocast on the GPU (bf16: how the evaluations were run); on the CPU always float32."""
    dev = model.device().type
    return precisions.autocast(dev, precision if dev == "cuda" else "fp32")


@torch.no_grad()
def answer_token_hits(model: FamForCausalLM, seqs: List[np.ndarray], answer_lens: List[int],
                      precision: str = "bf16") -> List[np.ndarray]:
    """seqs[i] = prompt + answer ids; the last answer_lens[i] ids are the answer, ending with <|endoftext|> (so a
    whole answer also has to stop). Per row, bool [answer_lens[i]]: whether each answer token is the argmax after
    the prompt and the answer's earlier tokens (greedy decoding gives the answer when all are). The share of hits
    shows a read-out on its way before whole answers come out. precision: on the GPU (precision.py); the CPU runs
    float32."""
    B = model.cfg.block_size
    n = max(len(s) for s in seqs)
    n = (n + B - 1) // B * B
    ids = np.full((len(seqs), n), prompt.EOT, np.int64)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = s
    # positions p whose logits predict answer tokens: p = first answer index - 1 .. last scored index - 1
    spans = [(len(s) - a - 1, len(s) - 2) for s, a in zip(seqs, answer_lens)]  # inclusive
    need = sorted({p // B for lo, hi in spans for p in range(lo, hi + 1)})
    ids_t = torch.from_numpy(ids).to(model.device())
    state = model.init_state(len(seqs))
    pred = {}
    with autocast(model, precision):
        for blk in range(n // B):
            want = blk in need
            state, logits = model.block_step(state, ids_t[:, blk * B:(blk + 1) * B], logits="all" if want else "none")
            if want:
                pred[blk] = logits.argmax(-1).cpu().numpy()
            if blk >= need[-1]:
                break
    return [np.array([pred[p // B][i, p % B] == ids[i, p + 1] for p in range(lo, hi + 1)])
            for i, (lo, hi) in enumerate(spans)]


@torch.no_grad()
def greedy_answers(model: FamForCausalLM, prompts: List[np.ndarray], max_new: int,
                   precision: str = "bf16") -> List[List[int]]:
    """Greedy decoding after each prompt (all of one length), as the engine answers: up to max_new tokens, the
    last one <|endoftext|> when the answer stopped. The whole blocks of the prompt are folded once; each new
    token then reruns the block it falls in, padded (rows never see later tokens, so padding changes nothing).
    Leading blocks that all prompts share (PassKey filler before the keys) are folded once for the batch."""
    B = model.cfg.block_size
    n = len(prompts[0])
    assert all(len(p) == n for p in prompts), "greedy_answers needs prompts of one length"
    ids = torch.from_numpy(np.stack(prompts).astype(np.int64)).to(model.device())
    block = lambda k: slice(k * B, (k + 1) * B)  # noqa: E731
    out = [[] for _ in prompts]
    state = model.init_state(1)
    with autocast(model, precision):
        while (state.blocks + 1) * B < n and bool((ids[:, block(state.blocks)] == ids[:1, block(state.blocks)]).all()):
            state, _ = model.block_step(state, ids[:1, block(state.blocks)], logits="none")
        rows = lambda t: None if t is None else t.expand(len(prompts), *t.shape[1:])  # noqa: E731
        state = FamState([rows(t) for t in state.fam], [rows(t) for t in state.mem_k], [rows(t) for t in state.mem_v],
                         state.blocks)
        for _ in range(max_new):
            while (state.blocks + 1) * B < ids.shape[1]:  # the last token's block is not complete yet
                state, _ = model.block_step(state, ids[:, block(state.blocks)], logits="none")
            tail = ids[:, state.blocks * B:]
            pad = torch.full((len(prompts), B - tail.shape[1]), prompt.EOT, dtype=ids.dtype, device=ids.device)
            _, logits = model.block_step(state, torch.cat([tail, pad], dim=1), logits="all")
            nxt = logits[:, tail.shape[1] - 1].argmax(-1)
            for row, t in zip(out, nxt.tolist()):
                if not row or row[-1] != prompt.EOT:
                    row.append(t)
            if all(row[-1] == prompt.EOT for row in out):
                break
            ids = torch.cat([ids, nxt[:, None]], dim=1)
    return out


class Timer:
    def __init__(self):
        self.t0 = time.time()

    def __call__(self) -> float:
        return round(time.time() - self.t0, 1)
