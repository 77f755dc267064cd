"""Add FAM to someone else's pretrained checkpoint by the paper's recipe and export it as a model folder the engine
runs with trained working memory (issue 23, item 4).

    python model/train/lora_fam.py --checkpoint DIR --text DIR[,DIR...] --run RUN --out DIR --deadline UNIX_TIME \\
        [--set key=value ...] [--max-steps N] [--probe-lengths 1024,4096]

DIR is a Hugging Face-style folder of a supported family (Llama 3.x, Qwen2.5, Qwen3, SmolLM2, Mistral: the
MODEL_FAMILIES of fam.py): config.json, 16- or 32-bit safetensors (sharded or not), tokenizer.json,
tokenizer_config.json. The recipe (docs/fam.md, arXiv 2404.09173 §3.1 and App. B):
- the checkpoint's weights stay frozen; LoRA adapters (rank r, scale alpha / r; the paper's rank 64) on every
  attention and MLP projection and the F initial FAM embeddings are trained;
- block-recurrent training through fam.py's block_step (train.step_loss), the loss of all blocks back-propagated
  through the FAM and the memory ring;
- Random State Passing (data.starts_fresh, p = 0.8) and a random position offset whenever the state starts fresh
  (train.position_offset);
- data: the checkpoint's own tokenizer over the text files of --text (a held-out 5% of the files by name hash for
  validation), documents separated by the tokenizer's end-of-text token, plus PassKey documents (the Landmark
  filler with a key at a random depth and the question at the end), so the FAM is asked to carry something.
At the end the adapters are merged into the projections (W + (alpha / r) B A), and export.write writes the folder:
config.json with the family's fields plus the FAM layout (fam_length, block_size, memory_segments, ...), the
weights in the checkpoint's own 16-bit type, every tokenizer and generation file copied. `expected.safetensors`
(family_fixtures.write_expected: the reference's logits, block by block, from the stored 16-bit weights) lets the
engine's parity test check the export. A PassKey probe (plain text, so no template is needed) is run before and
after training, and results.json records loss, accuracy, tokens, GPU seconds and tokens per second.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List

import numpy as np
import torch
import torch.nn as nn
from safetensors import safe_open
from tokenizers import Tokenizer

import data
import export
import precision as precisions
import tasks
import train
from fam import FamConfig, FamForCausalLM
from tasks import LOSS_LM

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TEXT_SUFFIXES = (".py", ".md", ".ts", ".js", ".mjs", ".txt", ".rst", ".sh", ".toml", ".yaml", ".yml")
# Files copied from the checkpoint into the export besides config.json and the weights.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json",
                   "chat_template.jinja")


@dataclass
class LoraConfig:
    rank: int = 64  # the paper's
    alpha: float = 64.0
    targets: tuple = TARGETS


@dataclass
class AdaptConfig:
    """The run's recipe; `--set key=value` changes it (layout.NAME for the FAM layout, lora.NAME for LoRA)."""

    layout: dict = field(default_factory=lambda: dict(fam_length=64, block_size=1024, memory_segments=1,
                                                      fam_positions="before_block", fam_residual="none"))
    lora: dict = field(default_factory=lambda: asdict(LoraConfig()))
    train: dict = field(default_factory=lambda: dict(batch=8, seq_len=4096, lr=1e-3, min_lr=1e-4, warmup_steps=20,
                                                     train_seconds=240.0, weight_decay=0.0, precision="bf16",
                                                     grad_clip=1.0, seed=2404, log_every=10))
    passkey_prob: float = 0.3  # share of documents that are PassKey documents
    passkey_tokens: tuple = (256, 8192)  # their length, log-uniform
    val_share: float = 0.05


# ---------------------------------------------------------------- the checkpoint

def load_checkpoint(folder: Path, layout: dict) -> tuple[FamForCausalLM, torch.dtype]:
    """The checkpoint as a float32 FamForCausalLM in the FAM layout `layout`, and its weights' stored dtype. Every
    tensor of the model must be there except the initial FAM (random, unless the folder has one of this F) and a
    tied lm_head; a tensor the model does not have is an error (a family fam.py does not know)."""
    cfg = dataclasses.replace(FamConfig.load(str(folder / "config.json")), **layout)
    model = FamForCausalLM(cfg)
    sd, dtype = {}, None
    for f in export.weight_files(folder):
        with safe_open(str(f), framework="pt") as st:
            for name in st.keys():
                if name.endswith("rotary_emb.inv_freq"):  # older exports store RoPE's buffer; fam.py computes it
                    continue
                t = st.get_tensor(name)
                dtype = dtype or t.dtype
                sd[name] = t.float()
    if cfg.tie_word_embeddings:
        sd.pop("lm_head.weight", None)
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    fam = "model.fam_embeddings"
    if fam not in sd or sd[fam].shape != model.model.fam_embeddings.shape:
        sd[fam] = model.model.fam_embeddings.detach().clone()
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not missing and not unexpected, f"{folder}: missing {missing}, not in the model {unexpected}"
    return model, dtype


# ---------------------------------------------------------------- LoRA

class LoraLinear(nn.Module):
    """base(x) + (alpha / r) * x A^T B^T; base frozen, B starts at zero so training starts from the checkpoint."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x):
        return self.base(x) + (x @ self.lora_a.t().to(x.dtype)) @ self.lora_b.t().to(x.dtype) * self.scale

    def merged(self) -> nn.Linear:
        with torch.no_grad():
            self.base.weight += self.scale * (self.lora_b @ self.lora_a)
        return self.base


def add_lora(model: FamForCausalLM, lora: LoraConfig) -> List[nn.Parameter]:
    """Freezes the model, wraps the target projections, and returns what trains: the adapters and the initial FAM."""
    for p in model.parameters():
        p.requires_grad_(False)
    for mod in list(model.modules()):
        for name in lora.targets:
            child = getattr(mod, name, None)
            if isinstance(child, nn.Linear):
                setattr(mod, name, LoraLinear(child, lora.rank, lora.alpha))
    model.model.fam_embeddings.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def merge_lora(model: FamForCausalLM) -> None:
    for mod in list(model.modules()):
        for name, child in list(mod.named_children()):
            if isinstance(child, LoraLinear):
                setattr(mod, name, child.merged())


# ---------------------------------------------------------------- data

def text_files(roots: List[Path]) -> List[Path]:
    files = []
    for root in roots:
        files += [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix in TEXT_SUFFIXES
                  and not any(part.startswith(".") or part == "node_modules" for part in p.relative_to(root).parts)]
    return files


def held_out(path: Path, share: float) -> bool:
    return zlib.crc32(str(path).encode()) % 1000 < share * 1000


def end_of_text(tok: Tokenizer, folder: Path) -> int:
    """The id that ends a document: config.json's eos_token_id (the first, when it lists several)."""
    eos = json.loads((folder / "config.json").read_text()).get("eos_token_id")
    eos = eos[0] if isinstance(eos, list) else eos
    assert isinstance(eos, int), f"{folder}/config.json has no eos_token_id"
    return eos


class PlainPassKey:
    """tasks.PassKey's prompt without Famulus's special tokens, for any tokenizer: intro, filler with the key
    sentence at a depth, then "What is the pass key? The pass key is" and the key as the continuation."""

    def __init__(self, tok: Tokenizer):
        self.tok = tok
        enc = lambda s: tok.encode(s, add_special_tokens=False).ids  # noqa: E731
        self.head = enc(tasks.PASSKEY_INTRO)
        self.filler = enc(tasks.PASSKEY_FILLER)
        self.question = enc("\n" + tasks.PASSKEY_QUESTION + " The pass key is")

    def sample(self, key: str, total: int, depth: float, filler: np.ndarray | None = None) -> tuple[list, list]:
        """(prompt ids, answer ids) of about `total` tokens; filler: other text's ids instead of the sentences."""
        key_ids = self.tok.encode(tasks.PASSKEY_SENTENCE.format(key=key), add_special_tokens=False).ids
        n = max(1, total - len(self.head) - len(key_ids) - len(self.question))
        if filler is None:
            filler = np.tile(np.asarray(self.filler), n // len(self.filler) + 1)[:n]
        cut = int(round(depth * len(filler)))
        prompt_ids = self.head + list(filler[:cut]) + key_ids + list(filler[cut:n]) + self.question
        return prompt_ids, self.tok.encode(" " + key + ".", add_special_tokens=False).ids


class Rows:
    """One endless stream per batch row: text documents (each file's ids + end of text) and PassKey documents. A
    fresh step (Random State Passing) starts every row at a new document; a carried step continues where the row
    stopped. Chunks are T+1 ids that overlap by one, as train.py expects."""

    def __init__(self, docs: List[np.ndarray], passkey: PlainPassKey | None, eos: int, cfg: AdaptConfig, batch: int,
                 seed: int):
        self.docs, self.passkey, self.eos, self.cfg = docs, passkey, eos, cfg
        self.rngs = [np.random.default_rng([seed, r]) for r in range(batch)]
        self.pending: List[List[int]] = [[] for _ in range(batch)]

    def document(self, rng) -> List[int]:
        if self.passkey is not None and rng.random() < self.cfg.passkey_prob:
            lo, hi = self.cfg.passkey_tokens
            total = int(math.exp(rng.uniform(math.log(lo), math.log(hi))))
            prompt_ids, answer = self.passkey.sample(tasks.random_key(rng), total, float(rng.uniform()))
            return prompt_ids + answer + [self.eos]
        return list(self.docs[int(rng.integers(len(self.docs)))]) + [self.eos]

    def next(self, T: int, fresh: bool) -> np.ndarray:
        out = np.zeros((len(self.rngs), T + 1), np.int64)
        for r, rng in enumerate(self.rngs):
            buf = [] if fresh else self.pending[r]
            while len(buf) < T + 1:
                buf += self.document(rng)
            out[r] = buf[:T + 1]
            self.pending[r] = buf[T:]
        return out


# ---------------------------------------------------------------- probe and validation

@torch.no_grad()
def passkey_probe(model: FamForCausalLM, tok: Tokenizer, lengths: List[int], trials: int, precision: str) -> list:
    """Per length and depth (start 0-5%, middle 45-55%): trials whose whole key is the argmax continuation
    (greedy decoding gives it), and the share of key tokens that were. Positions from 0, no offset."""
    from eval.common import answer_token_hits  # eval/ puts model/train on the path itself

    pk, rng, cells = PlainPassKey(tok), np.random.default_rng(4), []
    model.eval()
    for length in lengths:
        for where, (lo, hi) in {"start": (0.0, 0.05), "middle": (0.45, 0.55)}.items():
            seqs, lens = [], []
            for _ in range(trials):
                p, a = pk.sample(tasks.random_key(rng), length, float(rng.uniform(lo, hi)))
                seqs.append(np.asarray(p + a))
                lens.append(len(a))
            hits = answer_token_hits(model, seqs, lens, precision)
            cells.append({"length": length, "depth": where, "trials": trials,
                          "correct": int(sum(h.all() for h in hits)),
                          "token_share": round(float(np.mean(np.concatenate(hits))), 3)})
    model.train()
    return cells


@torch.no_grad()
def validation(model: FamForCausalLM, docs: List[np.ndarray], eos: int, cfg: AdaptConfig) -> dict:
    """Next-token loss and accuracy on the held-out files, every row from the initial FAM, no offset."""
    if not docs:
        return {}
    t = cfg.train
    rows = Rows(docs, None, eos, cfg, t["batch"], seed=999)
    dev = model.device()
    total = torch.zeros(5, device=dev)
    model.eval()
    for _ in range(4):
        ids = torch.from_numpy(rows.next(t["seq_len"], fresh=True)).to(dev)
        with precisions.autocast(dev.type, t["precision"]):
            _, sums = train.step_loss(model, model.init_state(ids.shape[0]), ids, torch.full_like(ids, LOSS_LM), 0)
        total += sums
    model.train()
    return {"val_loss": round((total[0] / total[1]).item(), 4), "val_acc": round((total[4] / total[1]).item(), 4),
            "val_tokens": int(total[1].item())}


# ---------------------------------------------------------------- run

def schedule(cfg: AdaptConfig) -> train.TrainConfig:
    """train.py's learning-rate schedule and position offsets, for this run's settings."""
    t = cfg.train
    return train.TrainConfig(model={"rope_theta": t.get("rope_theta", 10000.0)}, lr=t["lr"], min_lr=t["min_lr"],
                             warmup_steps=t["warmup_steps"], seed=t["seed"], train_seconds=t["train_seconds"])


def export_folder(model: FamForCausalLM, folder: Path, out: Path, dtype: torch.dtype, tok: Tokenizer,
                  seed: int) -> List[str]:
    """The merged model as a model folder: the checkpoint's config.json with the FAM layout added, weights in the
    checkpoint's dtype (files up to 2 GiB), its tokenizer and generation files; read back and compared tensor by
    tensor; then expected.safetensors for the engine's parity test."""
    from family_fixtures import write_expected

    model.cpu()
    base = json.loads((folder / "config.json").read_text())
    base["torch_dtype"] = str(dtype).removeprefix("torch.")
    names = export.write(model, folder, out, dtype=dtype, max_shard_bytes=2 ** 31, base_config=base,
                         tokenizer_files=[n for n in TOKENIZER_FILES if (folder / n).exists()])
    back = export.load(out)
    for k, v in model.state_dict().items():
        assert torch.equal(back.state_dict()[k], v.to(dtype).float()), f"tensor {k} differs after export"
    write_expected(out, back, tok, seed, changes={})
    return names + ["expected.safetensors"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True, help="the pretrained model folder")
    ap.add_argument("--text", required=True, help="comma-separated folders of text files to train on")
    ap.add_argument("--run", required=True, help="folder for the log and results.json")
    ap.add_argument("--out", help="the exported model folder (none: measure only)")
    ap.add_argument("--shape", help="a config.json whose shape replaces the checkpoint's, with random weights: "
                                    "to measure training speed at a size whose weights are not here")
    ap.add_argument("--deadline", type=float, required=True, help="stop training before this Unix time")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: the time budget)")
    ap.add_argument("--probe-lengths", default="1024,4096")
    ap.add_argument("--probe-trials", type=int, default=20)
    ap.add_argument("--set", action="append", default=[], help="recipe override key=value")
    args = ap.parse_args()
    cfg = AdaptConfig()
    for item in args.set:
        train.set_override(cfg, item)  # layout.NAME, lora.NAME, train.NAME or a field of AdaptConfig
    t = cfg.train
    folder, run = Path(args.checkpoint), Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(t["seed"])
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    if args.shape:
        model = FamForCausalLM(dataclasses.replace(FamConfig.load(args.shape), **cfg.layout))
        stored = torch.bfloat16
    else:
        model, stored = load_checkpoint(folder, cfg.layout)
    assert t["seq_len"] % model.cfg.block_size == 0, f"seq_len {t['seq_len']} not a multiple of B"
    t["rope_theta"] = model.cfg.rope_theta
    sched = schedule(cfg)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    eos = end_of_text(tok, folder)
    files = text_files([Path(p) for p in args.text.split(",")])
    enc = lambda ps: [np.asarray(tok.encode(p.read_text(errors="replace"), add_special_tokens=False).ids)  # noqa: E731
                      for p in ps]
    train_docs = [d for d in enc([p for p in files if not held_out(p, cfg.val_share)]) if len(d)]
    val_docs = [d for d in enc([p for p in files if held_out(p, cfg.val_share)]) if len(d)]
    trainable = add_lora(model, LoraConfig(**cfg.lora))
    model.to(dev)
    n_train = sum(p.numel() for p in trainable)
    n_all = sum(p.numel() for p in model.parameters())
    lengths = [int(x) for x in args.probe_lengths.split(",") if x]
    log = open(run / "log.jsonl", "a")
    say = lambda rec: (print(json.dumps(rec), flush=True), log.write(json.dumps(rec) + "\n"), log.flush())  # noqa: E731
    say({"checkpoint": str(folder), "config": model.cfg.to_json(), "recipe": asdict(cfg), "parameters": n_all,
         "trainable": n_train, "train_files": len(train_docs), "train_tokens_in_files": int(sum(map(len, train_docs))),
         "val_files": len(val_docs), "device": torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"})
    before = {"probe": passkey_probe(model, tok, lengths, args.probe_trials, t["precision"]) if lengths else [],
              **validation(model, val_docs, eos, cfg)}
    say({"before": before})

    opt = torch.optim.AdamW(trainable, lr=t["lr"], betas=(0.9, 0.95), weight_decay=t["weight_decay"],
                            fused=dev.type == "cuda")
    rows = Rows(train_docs, PlainPassKey(tok), eos, cfg, t["batch"], t["seed"])
    step, tokens, seconds, carried, offset, times = 0, 0, 0.0, None, 0, []
    acc = torch.zeros(5, device=dev)
    first_loss = None
    while True:
        t0 = time.time()
        fresh = carried is None or data.starts_fresh(t["seed"], step, 0.8)
        if fresh:
            offset = train.position_offset(sched, step)
        ids = torch.from_numpy(rows.next(t["seq_len"], fresh)).to(dev)
        lr = train.get_lr(sched, step)
        for g in opt.param_groups:
            g["lr"] = lr
        with precisions.autocast(dev.type, t["precision"]):
            state = model.init_state(ids.shape[0]) if fresh else carried
            state, sums = train.step_loss(model, state, ids, torch.full_like(ids, LOSS_LM), offset)
            loss = sums[0] / sums[1]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm, applied = train.apply_gradients(model, opt, t["grad_clip"])
        carried = state.detach() if applied else None
        acc += sums.detach()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        dt = time.time() - t0
        step, tokens, seconds = step + 1, tokens + ids.shape[0] * t["seq_len"], seconds + dt
        times.append(dt)
        if step == 10 and sched.max_steps == 0:  # the schedule's length from the measured step time
            sched.max_steps = step + int((t["train_seconds"] - seconds) / float(np.median(times[3:])))
        if step % t["log_every"] == 0:
            lm = (acc[0] / acc[1]).item()
            first_loss = first_loss if first_loss is not None else lm
            say({"step": step, "tokens": tokens, "lr": lr, "lm_loss": round(lm, 4),
                 "lm_acc": round((acc[4] / acc[1]).item(), 4), "grad_norm": round(gnorm.item(), 3),
                 "fam_rms_max": train.fam_rms_max(state), "tok_per_s": round(ids.shape[0] * t["seq_len"] / dt),
                 "mem_gib": round(torch.cuda.max_memory_allocated() / 2 ** 30, 1) if dev.type == "cuda" else None})
            acc.zero_()
        out_of_time = time.time() + 2 * float(np.mean(times[-10:])) + 60 > args.deadline
        if out_of_time or (args.max_steps and step >= args.max_steps) or (sched.max_steps and step >= sched.max_steps):
            break

    merge_lora(model)
    after = {"probe": passkey_probe(model, tok, lengths, args.probe_trials, t["precision"]) if lengths else [],
             **validation(model, val_docs, eos, cfg)}
    steady = float(np.median(times[3:])) if len(times) > 3 else float(np.mean(times))
    rate = t["batch"] * t["seq_len"] / steady
    results = {"checkpoint": args.shape or str(folder), "random_weights": bool(args.shape),
               "family": model.cfg.model_type, "parameters": n_all, "trainable": n_train,
               "layout": {k: getattr(model.cfg, k) for k in cfg.layout}, "steps": step, "tokens": tokens,
               "train_seconds": round(seconds, 1), "first_logged_lm_loss": first_loss, "tok_per_s": round(rate),
               "gpu_hours_per_billion_tokens": round(1e9 / rate / 3600, 2),
               "peak_gib": round(torch.cuda.max_memory_allocated() / 2 ** 30, 1) if dev.type == "cuda" else None,
               "before": before, "after": after}
    if args.out:
        results["files"] = export_folder(model, folder, Path(args.out), stored, tok, t["seed"])
    say({"results": results})
    (run / "results.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
