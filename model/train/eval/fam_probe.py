"""Does the working memory still hold a pass key some blocks after it was read? A probe of exported weights.

    python model/train/eval/fam_probe.py --weights model/weights/default --out probe.json [--pairs 8]

For each pair of PassKey prompts that differ only in the key (same length, same filler, key in block 0), the
two runs go block by block and, after every block, compare each layer's state:
- FAM: ||FAM_a - FAM_b|| / ||FAM_a||, the share of the FAM that depends on the key;
- memory ring (m > 0): the same for its keys/values, which forget the key once its block has left the ring;
- control: the same prompt with one filler token changed instead of the key (sensitivity without a key).
Then the answers: how often the greedy answer is the key, and how often the two answers differ at all (an answer
that does not depend on the key cannot come from the memory).

Reading: a FAM difference that decays to ~0 means the key is forgotten (a write/keep problem); one that stays
while answers ignore it means the key is kept but not read back (a read-out problem).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F_
from tokenizers import Tokenizer

from common import greedy_answers, load_model

import tasks  # noqa: E402  (common put model/train on the path)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / a.norm().clamp(min=1e-12)).item()


def layer_diffs(ta: list, tb: list, part: str) -> list:
    """Per block and layer, the relative difference of two traces' FAM ("fam") or memory-ring keys ("mem_k")."""
    return [[rel(p, q) for p, q in zip(getattr(x, part), getattr(y, part))] for x, y in zip(ta, tb)]


@torch.no_grad()
def state_trace(model, ids: np.ndarray) -> list:
    """States after every whole block of ids, one prompt [n] or a batch [rows, n] (a tail that does not fill a
    block is left out)."""
    B = model.cfg.block_size
    x = torch.from_numpy(np.atleast_2d(ids).astype(np.int64))
    state, out = model.init_state(x.shape[0]), []
    for i in range(0, x.shape[1] - B + 1, B):
        state, _ = model.block_step(state, x[:, i:i + B], logits="none")
        out.append(state)
    return out


@torch.no_grad()
def fam_features(model, prompts: list, blocks: int, batch: int = 16) -> list:
    """Per prompt, each layer's input FAM after 1..`blocks` whole blocks, averaged over its F rows:
    blocks x [n, L*D]."""
    B, feats = model.cfg.block_size, [[] for _ in range(blocks)]
    for i in range(0, len(prompts), batch):
        trace = state_trace(model, np.stack([p[:blocks * B] for p in prompts[i:i + batch]]))
        for k, state in enumerate(trace):
            feats[k].append(torch.cat([f.mean(dim=1) for f in state.fam], dim=1))
    return [torch.cat(f) for f in feats]


def linear_probe(x: torch.Tensor, y: torch.Tensor, classes: int, weight_decay: float, seed: int) -> dict:
    """Multinomial logistic regression on standardised features, trained on 75% and scored on the other 25%;
    the same with shuffled labels says what overfitting alone scores."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=g)
    cut = len(y) * 3 // 4
    tr, te = order[:cut], order[cut:]
    mu, sd = x[tr].mean(0), x[tr].std(0).clamp(min=1e-6)
    x = (x - mu) / sd

    def fit(labels):
        w = torch.zeros(x.shape[1], classes, requires_grad=True)
        b = torch.zeros(classes, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = F_.cross_entropy(x[tr] @ w + b, labels[tr]) + weight_decay * w.pow(2).sum()
            loss.backward()
            return loss
        with torch.enable_grad():
            opt.step(closure)
        return ((x[te] @ w + b).argmax(-1) == labels[te]).float().mean().item()

    shuffled = y[torch.randperm(len(y), generator=g)]
    return {"train": cut, "test": len(y) - cut, "accuracy": fit(y), "shuffled_labels_accuracy": fit(shuffled),
            "chance": 1.0 / classes}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--length", type=int, default=16384)
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--decode", type=int, default=0, help="prompts for a linear probe of the key's first digit "
                                                        "from the FAM 3 blocks after the key (0: skip)")
    ap.add_argument("--decode-weight-decay", type=float, default=1e-2)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    model = load_model(args.weights)
    tok = Tokenizer.from_file(str(Path(args.weights) / "tokenizer.json"))
    pk, rng = tasks.PassKey(tok), np.random.default_rng(args.seed)
    n_filler = pk.n_filler_for(args.length)
    m = model.cfg.memory_segments
    fam_diff, control_diff, ring_diff, prompts, keys = [], [], [], [], []
    for _ in range(args.pairs):
        depth = float(rng.uniform(0.0, 0.02))
        a, b = tasks.random_key(rng), tasks.random_key(rng)
        sa, sb = pk.build(a, n_filler, depth), pk.build(b, n_filler, depth)
        n_answer = int((sa.mask == tasks.LOSS_TASK).sum())
        pa, pb = sa.ids[:-n_answer], sb.ids[:-n_answer]
        ta, tb = state_trace(model, pa), state_trace(model, pb)
        fam_diff.append(layer_diffs(ta, tb, "fam"))
        # Control: key a again, but one filler token just before the key sentence swapped for another filler
        # token: a smaller change that carries no key, for how much of the FAM difference is mere sensitivity.
        pc = pa.copy()
        at = int(np.flatnonzero(pa != pb)[0]) - 8
        pc[at] = pa[at + 1] if pa[at + 1] != pa[at] else pa[at + 2]
        tc = state_trace(model, pc)
        control_diff.append(layer_diffs(ta, tc, "fam"))
        if m > 0:
            ring_diff.append(layer_diffs(ta, tb, "mem_k"))
        prompts += [pa, pb]
        keys += [a, b]
        print(f"pair {len(fam_diff)}: FAM difference by block (mean over layers), key "
              + " ".join(f"{np.mean(d):.3f}" for d in fam_diff[-1]) + "; control "
              + " ".join(f"{np.mean(d):.3f}" for d in control_diff[-1]), flush=True)
    answers = [greedy_answers(model, [p], max_new=8, precision="fp32")[0] for p in prompts]  # lengths may differ
    texts = [tok.decode(a) for a in answers]
    right = [t.strip().startswith(k) for t, k in zip(texts, keys)]
    differ = [texts[i] != texts[i + 1] for i in range(0, len(texts), 2)]
    fam = np.asarray(fam_diff)  # [pairs, blocks, layers]
    result = {
        "weights": args.weights, "length": args.length, "pairs": args.pairs, "block_size": model.cfg.block_size,
        "fam_length": model.cfg.fam_length, "memory_segments": m,
        "fam_diff_by_block": fam.mean(axis=(0, 2)).round(4).tolist(),
        "fam_diff_by_block_and_layer": fam.mean(axis=0).round(4).tolist(),
        "control_fam_diff_by_block": np.asarray(control_diff).mean(axis=(0, 2)).round(4).tolist(),
        "ring_diff_by_block": np.asarray(ring_diff).mean(axis=(0, 2)).round(4).tolist() if ring_diff else None,
        "answers_right": int(sum(right)), "answers": len(right),
        "pairs_with_different_answers": int(sum(differ)),
        "examples": [{"key": k, "answer": t} for k, t in list(zip(keys, texts))[:6]],
    }
    if args.decode:
        # Key in the first ~600 tokens of a 4k prompt; features after blocks 1-3 (the key's block, the next, and the
        # one after, when only the FAM can still hold it).
        n_filler4k, keys4k, prompts4k = pk.n_filler_for(4096), [], []
        for _ in range(args.decode):
            key = tasks.random_key(rng)
            keys4k.append(key)
            prompts4k.append(pk.build(key, n_filler4k, float(rng.uniform(0.0, 0.12))).ids)
        y = torch.tensor([int(k[0]) for k in keys4k])
        feats = fam_features(model, prompts4k, 3)
        result["decode_first_digit"] = {
            f"after_block_{k}": linear_probe(feats[k - 1], y, 10, args.decode_weight_decay, args.seed) for k in (1, 2, 3)}
        print(json.dumps(result["decode_first_digit"]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "fam_diff_by_block_and_layer"}, indent=1))


if __name__ == "__main__":
    main()
