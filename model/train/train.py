"""Train a FAM model (fam.py) from scratch with the recipe of docs/fam.md / arXiv 2404.09173 §3.1 and App. B.

    python model/train/train.py --run /tmp/famulus/run --data /tmp/famulus/data --corpus /tmp/famulus/corpus \\
        --deadline $(( $(date +%s) + 500 )) [--resume] [--set key=value ...]

- Block-recurrent: each step runs T tokens of every row block by block through FamForCausalLM.block_step, and
  the loss of all blocks is back-propagated together, through the FAM and the memory ring (no stop-gradient).
- Random State Passing (p = 0.8): a step starts from the previous step's final state, detached, or else from the
  learned initial FAM (data.starts_fresh decides, so the data loader knows too). Rows are continuous streams.
- Random position offset: whenever the state starts fresh, positions get one offset drawn from
  [0, 2*pi*rope_theta], zeroed half the time (App. B.2); it stays fixed while the state is carried.
- Loss: mean cross-entropy over LM tokens + task_weight * mean cross-entropy over task answer tokens.
- bf16 autocast (or float32, with TF32 or without: precision.py), AdamW, linear warm-up then cosine decay,
  gradient clipping.
- Resumable: everything needed to continue bit-for-bit (model, optimizer, step, row stream positions, carried
  state, position offset, RNG, config) goes to {run}/ckpt.pt every ckpt_every_s seconds and when the wall-clock
  deadline comes. The learning-rate schedule's length is fixed once, from the measured step time and the
  planned training seconds (train_seconds), and stored in the checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F_
from tokenizers import Tokenizer

import data
import export
import precision as precisions
from fam import FamConfig, FamForCausalLM, FamState
from tasks import LOSS_LM, LOSS_TASK


@dataclass
class TrainConfig:
    model: dict = field(default_factory=lambda: dict(
        vocab_size=16000, hidden_size=512, num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=2,
        intermediate_size=1280, block_size=1024, fam_length=64, memory_segments=1, tie_word_embeddings=True,
        fam_positions="before_block",  # the shipped model's since stage 5 (stages 1-4 and Fig. 3a: block_end)
        fam_residual="none"))  # the shipped model's since stage 6 (stages 1-5 and Fig. 3a: after_first)
    batch: int = 16  # rows
    seq_len: int = 8192  # T tokens per row and step (a multiple of block_size)
    lr: float = 2e-3
    min_lr: float = 2e-4
    warmup_steps: int = 200
    train_seconds: float = 1200.0  # planned GPU seconds of training over all calls; fixes max_steps
    max_steps: int = 0  # 0: set from the measured step time at step timing_steps
    timing_steps: int = 30
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    max_skipped_in_a_row: int = 5  # steps with a non-finite gradient are skipped; this many in a row stop the run
    precision: str = "bf16"  # bf16, tf32 or fp32 (precision.py)
    task_weight: float = 0.5
    rpo_prob: float = 0.5  # chance that a fresh state gets a nonzero position offset
    seed: int = 1234
    mix: dict = field(default_factory=lambda: asdict(data.MixConfig()))
    workers: int = 8
    ckpt_every_s: float = 180.0
    log_every: int = 25
    val_batches: int = 4
    init_weights: str = ""  # export folder a second stage started from ("" = random initialisation)


def set_override(cfg: TrainConfig, item: str) -> None:
    """--set key=value, with key a field of TrainConfig or model.NAME / mix.NAME; value parsed as JSON."""
    key, raw = item.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if "." in key:
        group, name = key.split(".", 1)
        getattr(cfg, group)[name] = value
    else:
        assert key in {f.name for f in dataclasses.fields(cfg)}, f"unknown config key {key!r}"
        setattr(cfg, key, value)


def get_lr(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.max_steps <= 0:
        return cfg.lr
    t = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t))


def position_offset(cfg: TrainConfig, step: int) -> int:
    """RPO (App. B.2): one offset in [0, 2*pi*theta] for a fresh state, zero with probability 1 - rpo_prob."""
    rng = np.random.default_rng([cfg.seed, step, 11])
    if rng.random() >= cfg.rpo_prob:
        return 0
    return int(rng.integers(0, int(2 * math.pi * cfg.model.get("rope_theta", 10000.0)) + 1))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and "fam_embeddings" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=torch.cuda.is_available())


def step_loss(model: FamForCausalLM, state: FamState, ids: torch.Tensor, mask: torch.Tensor, offset: int):
    """Run T = ids.shape[1] - 1 tokens block by block; returns (final state, lm sum, lm count, task sum,
    task count, lm correct). Loss terms are float32 sums so the caller can normalise."""
    B = model.cfg.block_size
    x, y, kind = ids[:, :-1], ids[:, 1:], mask[:, 1:]
    sums = torch.zeros(5, device=ids.device)
    for i in range(0, x.shape[1], B):
        state, logits = model.block_step(state, x[:, i:i + B], logits="all", position_offset=offset)
        ce = F_.cross_entropy(logits.float().flatten(0, 1), y[:, i:i + B].flatten(), reduction="none")
        k = kind[:, i:i + B].flatten()
        lm, task = (k == LOSS_LM).float(), (k == LOSS_TASK).float()
        with torch.no_grad():
            correct = (logits.argmax(-1).flatten() == y[:, i:i + B].flatten()).float()
        sums = sums + torch.stack([(ce * lm).sum(), lm.sum(), (ce * task).sum(), task.sum(),
                                   (correct * lm).sum()])
    return state, sums


def objective(cfg: TrainConfig, sums: torch.Tensor) -> torch.Tensor:
    lm_loss = sums[0] / sums[1].clamp(min=1)
    task_loss = sums[2] / sums[3].clamp(min=1)
    return lm_loss + cfg.task_weight * task_loss


def apply_gradients(model: torch.nn.Module, opt, grad_clip: float):
    """Clip and step, unless the gradient is not finite (a loss spike in bf16): then the weights and the
    optimizer's moments stay as they were. Returns (gradient norm, whether the step was applied)."""
    gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    applied = bool(torch.isfinite(gnorm))
    if applied:
        opt.step()
    return gnorm, applied


def fam_rms_max(state: FamState) -> float | None:
    """The largest per-layer RMS of a state's FAM (None without one, BSWA): whether the carried FAM grows."""
    if not state.fam or state.fam[0].numel() == 0:
        return None
    return max(state.fam_rms())


def to_device(t: torch.Tensor, dev: torch.device) -> torch.Tensor:
    """Host batch -> device; pinned and asynchronous on CUDA."""
    return t.pin_memory().to(dev, non_blocking=True) if dev.type == "cuda" else t.to(dev)


def init_from(model: FamForCausalLM, folder: Path) -> str:
    """Start a fresh run from exported weights. The memory layout (block_size, fam_length, memory_segments,
    fam_positions, fam_residual) may differ from the folder's, as in the paper's conversion of one pretrained
    decoder into FAM and BSWA variants (Fig. 3a), or a block-size ladder (ladder.sh): every weight is the same; only
    the F initial FAM embeddings depend on F, and are kept when F is unchanged, else left at their random
    initialisation (none at all for BSWA, F = 0)."""
    init = export.load(folder)
    memory = ("block_size", "fam_length", "memory_segments", "fam_positions", "fam_residual")
    same = lambda c: {k: v for k, v in asdict(c).items() if k not in memory}  # noqa: E731
    assert same(init.cfg) == same(model.cfg), f"--init-weights config {init.cfg} differs from the run's {model.cfg}"
    weights = init.state_dict()
    name = "model.fam_embeddings"
    fam_kept = weights[name].shape == model.model.fam_embeddings.shape
    if not fam_kept:
        weights[name] = model.model.fam_embeddings.detach().cpu()
    model.load_state_dict(weights)
    layout = lambda c: f"B={c.block_size} F={c.fam_length} m={c.memory_segments}"  # noqa: E731
    fam = "kept" if fam_kept else "random" if model.cfg.fam_length else "none (BSWA)"
    return f"initialised from {folder} ({layout(init.cfg)} -> {layout(model.cfg)}; initial FAM {fam})"


def state_to_cpu(state: FamState) -> dict:
    cpu = lambda t: None if t is None else t.detach().cpu()  # noqa: E731
    return {"fam": [cpu(t) for t in state.fam], "mem_k": [cpu(t) for t in state.mem_k],
            "mem_v": [cpu(t) for t in state.mem_v], "blocks": state.blocks}


def state_from(d: dict, device) -> FamState:
    dev = lambda t: None if t is None else t.to(device)  # noqa: E731
    return FamState([dev(t) for t in d["fam"]], [dev(t) for t in d["mem_k"]], [dev(t) for t in d["mem_v"]],
                    d["blocks"])


@torch.no_grad()
def evaluate(model: FamForCausalLM, cfg: TrainConfig, split: str, data_dir: str, corpus_dir: str, tok) -> dict:
    """Next-token loss/accuracy on LM documents of a held-out split; every row starts fresh, no offset."""
    corpus = data.Corpus(data_dir, corpus_dir, split)
    mix = data.MixConfig(**{**cfg.mix, "task_prob": 0.0, "fresh_at_document": False})  # comparable across runs
    make = data.DocMaker(corpus, tok, seed=999, mix=mix)
    rows = [data.RowStream(make, r) for r in range(cfg.batch)]
    dev = model.device()
    total = torch.zeros(5, device=dev)
    model.eval()
    for _ in range(cfg.val_batches):
        chunks = [r.next_chunk(cfg.seq_len, fresh=True) for r in rows]
        ids = to_device(torch.from_numpy(np.stack([c[0] for c in chunks]).astype(np.int64)), dev)
        mask = to_device(torch.from_numpy(np.stack([c[1] for c in chunks])), dev)
        with precisions.autocast(dev.type, cfg.precision):
            _, sums = step_loss(model, model.init_state(cfg.batch), ids, mask, 0)
        total += sums
    model.train()
    return {f"{split}_loss": (total[0] / total[1]).item(), f"{split}_acc": (total[4] / total[1]).item(),
            f"{split}_tokens": int(total[1].item())}


def save_checkpoint(path: Path, **ck) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(ck, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, help="folder for ckpt.pt and train_log.jsonl")
    ap.add_argument("--data", required=True, help="tokenizer.py output")
    ap.add_argument("--corpus", required=True, help="build_corpus.py output")
    ap.add_argument("--deadline", type=float, required=True, help="stop (and checkpoint) before this Unix time")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--train-split", default="train", help="corpus split to train on (smoke tests use val)")
    ap.add_argument("--max-steps-this-call", type=int, default=0, help="stop after this many steps (smoke tests)")
    ap.add_argument("--set", action="append", default=[], help="config override key=value (fresh runs only)")
    ap.add_argument("--init-weights", help="fresh runs only: start from an export.py folder instead of random "
                                           "weights (a second training stage; the optimizer starts anew)")
    args = ap.parse_args()
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    ck_path = run / "ckpt.pt"

    ck = torch.load(ck_path, map_location="cpu", weights_only=False) if args.resume and ck_path.exists() else None
    if ck is not None:
        cfg = TrainConfig(**ck["config"])
        print(f"resuming {ck_path} at step {ck['step']}, {ck['tokens']} tokens, {ck['train_seconds']:.0f} s")
    else:
        cfg = TrainConfig()
        for item in args.set:
            set_override(cfg, item)
        cfg.init_weights = args.init_weights or ""
    fam_cfg = FamConfig(**cfg.model)
    assert cfg.seq_len % fam_cfg.block_size == 0, f"seq_len {cfg.seq_len} not a multiple of B={fam_cfg.block_size}"

    torch.manual_seed(cfg.seed)
    # CUDA on the GPU machine; the CPU only for toy-scale checks of the scripts (README, "FAM vs BSWA").
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = FamForCausalLM(fam_cfg).to(dev)
    opt = make_optimizer(model, cfg)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model {n_params / 1e6:.2f}M parameters, config {json.dumps(fam_cfg.to_json())}")
    step, tokens, train_seconds, row_states, carried, offset = 0, 0, 0.0, None, None, 0
    if ck is None and cfg.init_weights:
        print(init_from(model, Path(cfg.init_weights)))
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, tokens, train_seconds = ck["step"], ck["tokens"], ck["train_seconds"]
        row_states, offset = ck["row_states"], ck["offset"]
        carried = state_from(ck["carried"], dev) if ck["carried"] is not None else None
        torch.set_rng_state(ck["rng"]["torch"])
        if ck["rng"]["cuda"] is not None:
            torch.cuda.set_rng_state(ck["rng"]["cuda"])

    tok = Tokenizer.from_file(str(Path(args.data) / "tokenizer.json"))
    corpus = data.Corpus(args.data, args.corpus, args.train_split)
    make = data.DocMaker(corpus, tok, cfg.seed, data.MixConfig(**cfg.mix))
    loader = data.Loader(make, cfg.batch, cfg.seq_len, step, row_states, workers=cfg.workers)
    log = open(run / "train_log.jsonl", "a")
    # Every call starts its log with the whole config, so a run's recipe travels with its curves.
    log.write(json.dumps({"start_of_call": {"step": step, "resumed": ck is not None, "config": asdict(cfg)}}) + "\n")

    def checkpoint():
        save_checkpoint(ck_path, model=model.state_dict(), optimizer=opt.state_dict(), step=step, tokens=tokens,
                        train_seconds=train_seconds, row_states=row_states, offset=offset,
                        carried=None if carried is None else state_to_cpu(carried), config=asdict(cfg),
                        rng={"torch": torch.get_rng_state(),
                             "cuda": torch.cuda.get_rng_state() if dev.type == "cuda" else None})

    last_ckpt, t_call, steps_this_call, step_times = time.time(), time.time(), 0, []
    acc = torch.zeros(5, device=dev)
    skipped, skipped_in_a_row, nonfinite_loss = 0, 0, 0
    while True:
        t0 = time.time()
        s, ids_np, mask_np, states = loader.next()
        assert s == step, f"loader at step {s}, trainer at {step}"
        ids = to_device(torch.from_numpy(ids_np), dev)
        mask = to_device(torch.from_numpy(mask_np), dev)
        fresh = data.starts_fresh(cfg.seed, step, cfg.mix["carry_prob"]) or carried is None
        if fresh:
            offset = position_offset(cfg, step)
        lr = get_lr(cfg, step)
        for g in opt.param_groups:
            g["lr"] = lr
        with precisions.autocast(dev.type, cfg.precision):
            state = model.init_state(cfg.batch) if fresh else carried
            state, sums = step_loss(model, state, ids, mask, offset)
            loss = objective(cfg, sums)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm, applied = apply_gradients(model, opt, cfg.grad_clip)
        if not applied:  # which pass went non-finite: the forward (loss) or only the backward (gradient)
            nonfinite_loss += not bool(torch.isfinite(loss))
        # A skipped step's state may hold the non-finite values too: the next step starts fresh.
        carried = state.detach() if applied else None
        skipped, skipped_in_a_row = skipped + (not applied), 0 if applied else skipped_in_a_row + 1
        if skipped_in_a_row > cfg.max_skipped_in_a_row:
            raise SystemExit(f"training diverged: {skipped_in_a_row} steps in a row up to step {step} had a "
                             f"non-finite gradient; the checkpoint in {ck_path} is from before")
        if applied:
            acc += sums.detach()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        dt = time.time() - t0
        step, tokens, train_seconds, row_states = step + 1, tokens + cfg.batch * cfg.seq_len, train_seconds + dt, states
        steps_this_call += 1
        step_times.append(dt)

        if cfg.max_steps <= 0 and steps_this_call == cfg.timing_steps:
            per_step = float(np.median(step_times[5:]))
            cfg.max_steps = step + int((cfg.train_seconds - train_seconds) / per_step)
            print(f"step time {per_step:.3f} s -> max_steps {cfg.max_steps} for {cfg.train_seconds:.0f} s")
        if step % cfg.log_every == 0:
            rec = {"step": step, "tokens": tokens, "lr": lr, "lm_loss": (acc[0] / acc[1].clamp(min=1)).item(),
                   "lm_acc": (acc[4] / acc[1].clamp(min=1)).item(),
                   "task_loss": (acc[2] / acc[3].clamp(min=1)).item(), "task_tokens": int(acc[3].item()),
                   "grad_norm": gnorm.item(), "skipped_steps": skipped, "nonfinite_loss_steps": nonfinite_loss,
                   "fam_rms_max": fam_rms_max(state),
                   "tok_per_s": round(ids.shape[0] * cfg.seq_len / dt),
                   "train_seconds": round(train_seconds, 1),
                   "mem_gib": round(torch.cuda.max_memory_allocated() / 2 ** 30, 1) if dev.type == "cuda" else None}
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            acc.zero_()
        mean_dt = float(np.mean(step_times[-20:]))
        out_of_time = time.time() + 2 * mean_dt + 25 > args.deadline  # 25 s for checkpoint + val
        done = (cfg.max_steps > 0 and step >= cfg.max_steps) or \
            (args.max_steps_this_call and steps_this_call >= args.max_steps_this_call)
        if out_of_time or done or time.time() - last_ckpt > cfg.ckpt_every_s:
            checkpoint()
            last_ckpt = time.time()
        if out_of_time or done:
            break
    loader.close()
    results = {"step": step, "tokens": tokens, "train_seconds": round(train_seconds, 1),
               "call_seconds": round(time.time() - t_call, 1), "max_steps": cfg.max_steps}
    results.update(evaluate(model, cfg, "val", args.data, args.corpus, tok))
    print(json.dumps(results))
    log.write(json.dumps({"end_of_call": results}) + "\n")
    log.close()


if __name__ == "__main__":
    main()
