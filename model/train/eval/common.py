"""Shared by the evaluation scripts: load exported weights, and score answers by greedy exact match.

Scoring is teacher-forced: the prompt and the reference answer run through the model block by block exactly as
in inference (FamForCausalLM.block_step from the learned initial FAM, positions from 0, no offset), and an answer
counts as correct when the argmax at every answer position is the reference token, which is what greedy
decoding would produce. Rows of a batch are padded at the end to whole blocks: block rows never see later tokens
and a block's FAM is used only by later blocks, so padding cannot change the scored logits.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import List

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # model/train

import prompt  # noqa: E402
from export import load  # noqa: E402
from fam import FamForCausalLM  # noqa: E402


def load_model(weights: str) -> FamForCausalLM:
    model = load(Path(weights)).cuda().eval()
    return model


@torch.no_grad()
def greedy_correct(model: FamForCausalLM, seqs: List[np.ndarray], answer_lens: List[int]) -> List[bool]:
    """seqs[i] = prompt + answer ids; the last answer_lens[i] ids are the answer, ending with <|endoftext|>
    (which must match too: the answer has to stop). Returns, per row, whether greedy decoding gives the answer."""
    B = model.cfg.block_size
    n = max(len(s) for s in seqs)
    n = (n + B - 1) // B * B
    ids = np.full((len(seqs), n), prompt.EOT, np.int64)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = s
    # positions p whose logits predict answer tokens: p = first answer index - 1 .. last scored index - 1
    spans = [(len(s) - a - 1, len(s) - 2) for s, a in zip(seqs, answer_lens)]  # inclusive
    need = sorted({p // B for lo, hi in spans for p in range(lo, hi + 1)})
    ids_t = torch.from_numpy(ids).cuda()
    state = model.init_state(len(seqs))
    pred = {}
    with torch.autocast("cuda", dtype=torch.bfloat16):
        for blk in range(n // B):
            want = blk in need
            state, logits = model.block_step(state, ids_t[:, blk * B:(blk + 1) * B], logits="all" if want else "none")
            if want:
                pred[blk] = logits.argmax(-1).cpu().numpy()
            if blk >= need[-1]:
                break
    out = []
    for i, (lo, hi) in enumerate(spans):
        ok = all(pred[p // B][i, p % B] == ids[i, p + 1] for p in range(lo, hi + 1))
        out.append(bool(ok))
    return out


class Timer:
    def __init__(self):
        self.t0 = time.time()

    def __call__(self) -> float:
        return round(time.time() - self.t0, 1)
