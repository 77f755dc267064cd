"""How long does a FAM model take to learn to read a key out of an earlier block? A synthetic toy (issue 4).

    python model/train/eval/toy_recall.py [--fam-length 4] [--memory-segments 0] [--fam-residual after_first]
        [--block 32] [--blocks 3] [--train-distances 0,1,2] [--rsp 0.8] [--steps 3000] [--layers 2] [--dim 64]
        [--heads 4] [--kv-heads 4] [--batch 64] [--lr 3e-3] [--seed 0] [--init A.pt] [--save B.pt] [--out log.json]
        [--init-weights model/weights/default] [--device cuda] [--precision fp32] [--key-digits 5] [--deadline 500]

The real model's PassKey read-out never appears for keys in an earlier block (docs/results/fig3a/README.md),
though gradients reach them and the key is linearly readable from the FAM. This toy asks the same question of
fam.py's own FamForCausalLM at a size a CPU trains in minutes. A sample is `blocks` blocks of random noise
tokens; one block holds the pair [KEY, d] (d one of 10 digits) at a random place; the sample ends with
[QUERY, d]. The loss is on d after QUERY only. Accuracy is reported by the block that held the key, counted back
from the question's block (0 = same block, which needs no memory; 1, 2, ... need the FAM, or the ring when
m >= that distance). Chance is 10%. At the end the accuracy is measured again with the FAM blanked at every
block (common.blank_fam), which tells the FAM's share from the ring's.

--init-weights starts from an exported model instead (its widths and vocabulary; the memory layout from the flags),
which asks the question of the shipped model itself; --device cuda --precision bf16 runs it the way train.py trains
by default.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from common import blank_fam, from_weights  # (common also puts model/train on the path)
from fam import FamConfig, FamForCausalLM, FamState
from fam_rms import fam_rms_by_block
import precision as precisions
from precision import PRECISIONS

KEY, QUERY, DIGIT0, NOISE0 = 1, 2, 3, 13
VOCAB = 64


def batch(n: int, blocks: int, block: int, gen: torch.Generator, distances: list[int], key_digits: int = 1):
    """n samples [n, blocks*block], the answer digits [n, key_digits], and each key's distance in blocks from the
    last block, drawn from `distances`. The key is KEY followed by key_digits digits; the question is QUERY followed
    by the same digits, at the very end."""
    length, k = blocks * block, key_digits
    ids = torch.randint(NOISE0, VOCAB, (n, length), generator=gen)
    digits = torch.randint(0, 10, (n, k), generator=gen)
    dist = torch.tensor(distances)[torch.randint(0, len(distances), (n,), generator=gen)]
    key_block = blocks - 1 - dist
    # The key fits in its block and, in the last block, stays clear of the question at the end.
    room = torch.where(dist == 0, torch.full((n,), block - 2 * (k + 1) + 1), torch.full((n,), block - k))
    offset = (torch.rand(n, generator=gen) * room).long()
    at = key_block * block + offset
    rows = torch.arange(n)
    ids[rows, at] = KEY
    for j in range(k):
        ids[rows, at + 1 + j] = DIGIT0 + digits[:, j]
    ids[:, -k - 1] = QUERY
    ids[:, -k:] = DIGIT0 + digits
    return ids, digits, dist


def answer_logits(model: FamForCausalLM, ids: torch.Tensor, key_digits: int = 1, state: FamState | None = None,
                  precision: str = "fp32"):
    """(final state, float32 logits [n, key_digits, 10] over the 10 digits at the positions that predict the
    answer's digits), on the model's device, in `precision` (precision.py)."""
    dev, B = model.device(), model.cfg.block_size
    ids, n = ids.to(dev), ids.shape[1] // B
    with precisions.autocast(dev.type, precision):
        state = state or model.init_state(ids.shape[0])
        for i in range(n):  # logits of the last block only: the answer is there (a real vocabulary is 16k wide)
            state, logits = model.block_step(state, ids[:, i * B:(i + 1) * B], logits="all" if i == n - 1 else "none")
    return state, logits[:, -key_digits - 1:-1, DIGIT0:DIGIT0 + 10].float()


@torch.no_grad()
def accuracy(model, blocks, block, gen, per_distance: int, key_digits: int = 1, precision: str = "fp32"):
    """Per key distance, the share of samples whose every digit is predicted right, and the share of digits
    predicted right (which shows a five-digit read-out that is on its way before whole keys come out)."""
    model.eval()
    keys, digits_right = {}, {}
    for d in range(blocks):
        ids, digits, _ = batch(per_distance, blocks, block, gen, [d], key_digits)
        right = answer_logits(model, ids, key_digits, precision=precision)[1].argmax(-1).cpu() == digits
        keys[d] = right.all(-1).float().mean().item()
        digits_right[d] = right.float().mean().item()
    model.train()
    return keys, digits_right


def write_log(path: str | None, log: dict):
    if path:
        with open(path, "w") as f:
            json.dump(log, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fam-length", type=int, default=4)
    ap.add_argument("--memory-segments", type=int, default=0)
    ap.add_argument("--fam-positions", default="before_block")
    ap.add_argument("--fam-residual", default="after_first", help="after_first (App. B.1) or none")
    ap.add_argument("--block", type=int, default=32)
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--key-digits", type=int, default=1, help="digits in the key (PassKey's keys have 5)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, help="key/value heads (default: --heads)")
    ap.add_argument("--train-distances", help="key distances (blocks) to train on, e.g. 0 or 0,1,2; default all")
    ap.add_argument("--rsp", type=float, default=0.0,
                    help="Random State Passing: start a step from the last step's final state with this probability")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--eval-samples", type=int, default=500, help="per distance")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rms-blocks", type=int, default=64, help="blocks read for the FAM RMS measured at the end")
    ap.add_argument("--init", help="start from the weights another run saved (--save); the block size may differ")
    ap.add_argument("--save", help="save the weights here at the end")
    ap.add_argument("--init-weights", help="start from this export folder (its sizes; memory layout from the flags)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=PRECISIONS,
                    help="for training and evaluation (precision.py)")
    ap.add_argument("--deadline", type=float,
                    help="stop training after this many seconds (then measure, save and blank as at the end)")
    ap.add_argument("--out", help="JSON log")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    layout = dict(fam_length=args.fam_length, block_size=args.block, memory_segments=args.memory_segments,
                  fam_positions=args.fam_positions, fam_residual=args.fam_residual)
    if args.init_weights:
        model = from_weights(args.init_weights, layout)
    else:
        cfg = FamConfig(vocab_size=VOCAB, hidden_size=args.dim, num_hidden_layers=args.layers,
                        num_attention_heads=args.heads, num_key_value_heads=args.kv_heads or args.heads,
                        intermediate_size=4 * args.dim, **layout)
        model = FamForCausalLM(cfg)
    if args.init:
        # The weights do not depend on B (RoPE positions and masks only), so a model trained with short blocks can
        # go on with long ones.
        model.load_state_dict(torch.load(args.init))
    model.to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(args.seed + 1)
    eval_gen = torch.Generator().manual_seed(10_000 + args.seed)
    log = {"args": vars(args), "params": sum(p.numel() for p in model.parameters()), "evals": []}
    train_distances = ([int(d) for d in args.train_distances.split(",")] if args.train_distances
                       else list(range(args.blocks)))
    passed = None
    t0 = time.time()

    def evaluate(step: int, loss: float | None = None) -> None:
        acc, digit_acc = accuracy(model, args.blocks, args.block, eval_gen, args.eval_samples, args.key_digits,
                                  args.precision)
        seconds = time.time() - t0
        log["evals"].append({"step": step, **({} if loss is None else {"loss": loss}), "accuracy_by_distance": acc,
                             "digit_accuracy_by_distance": digit_acc, "seconds": seconds})
        digits = "" if args.key_digits == 1 else " (digits " + " ".join(
            f"{d}:{a:.0%}" for d, a in digit_acc.items()) + ")"
        print(f"step {step:5d}" + ("" if loss is None else f" loss {loss:.3f}") + " accuracy by key distance (blocks): "
              + " ".join(f"{d}:{a:.0%}" for d, a in acc.items()) + digits + f"  {seconds:.0f}s", flush=True)
        write_log(args.out, log)

    if args.init:
        evaluate(0)
    for step in range(1, args.steps + 1):
        lr = args.lr * min(1.0, step / 100)
        for g in opt.param_groups:
            g["lr"] = lr
        ids, digits, _ = batch(args.batch, args.blocks, args.block, gen, train_distances, args.key_digits)
        start = passed if passed is not None and torch.rand((), generator=gen).item() < args.rsp else None
        passed, logits = answer_logits(model, ids, args.key_digits, start, args.precision)
        passed = passed.detach()
        loss = F.cross_entropy(logits.flatten(0, 1), digits.flatten().to(logits.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        out_of_time = args.deadline is not None and time.time() - t0 > args.deadline
        if step % args.eval_every == 0 or step == args.steps or out_of_time:
            evaluate(step, loss.item())
        if out_of_time:
            log["stopped_at_deadline"] = step
            break
    if args.fam_length > 0:
        # Whether the FAM stays bounded: 16 samples of noise, args.rms_blocks blocks long.
        rms = fam_rms_by_block(model, batch(16, args.rms_blocks, args.block, eval_gen, [0])[0])
        log["fam_rms_by_block"] = rms
        write_log(args.out, log)
        print("FAM RMS per layer after 1 / 4 / 16 / 64 blocks: " + " | ".join(
            f"{n}: " + " ".join(f"{x:.1f}" for x in rms[n - 1]) for n in (1, 4, 16, 64) if n <= len(rms)))
    if args.save:
        torch.save(model.state_dict(), args.save)
    if args.fam_length > 0:
        # The ablation: what is still found with nothing carried in the FAM came through the memory ring.
        blank_fam(model)
        acc, _ = accuracy(model, args.blocks, args.block, eval_gen, args.eval_samples, args.key_digits,
                          args.precision)
        log["accuracy_by_distance_blank_fam"] = acc
        write_log(args.out, log)
        print("with the FAM blanked at every block: " + " ".join(f"{d}:{a:.0%}" for d, a in acc.items()))


if __name__ == "__main__":
    main()
