"""PyTorch on the GPU, same config and tokens as the TypeScript benchmark (test/bench/bench.ts --torch).

Runs the reference FAM model (model/train/fam.py, random weights of the given config.json) at batch 1 in
float16: block_step over the same LCG tokens as bench.ts, eager and with torch.compile (each layer's
forward_block compiled), and the model's matrix products alone through torch.matmul (cuBLAS) as the card's
product ceiling for these shapes. Timing: warm-up blocks first (compilation included there), CUDA
synchronisation around each timed span. The JSON is rewritten after each mode, so a run cut short keeps what
it measured.

Usage: python3 test/bench/torch_ceiling.py <config.json> <out.json> [--blocks 128] [--skip-compile]
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "model", "train"))
from fam import FamConfig, FamForCausalLM  # noqa: E402


def lcg_tokens(n: int, vocab: int, seed: int) -> torch.Tensor:
    """bench.ts lcgTokens: x = x * 1664525 + 1013904223 mod 2^32, id = 4 + x % (V - 4)."""
    x = seed & 0xFFFFFFFF
    out = []
    for _ in range(n):
        x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
        out.append(4 + x % (vocab - 4))
    return torch.tensor(out, dtype=torch.long)


def products(cfg: FamConfig):
    """bench.ts blockProducts: (what, batch, rows, k, cols) of one layer of one block step."""
    D, H, G, d, I = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.intermediate_size
    n = cfg.fam_length + cfg.block_size
    S = cfg.memory_segments * cfg.block_size + n
    return [("qkv", 1, n, D, (H + 2 * G) * d), ("scores", H, n, d, S), ("probs x V", H, n, S, d),
            ("o_proj", 1, n, H * d, D), ("gate/up", 1, n, D, 2 * I), ("down", 1, n, I, D)]


def flops_per_token(cfg: FamConfig) -> float:
    per_layer = sum(2 * b * r * k * c for _, b, r, k, c in products(cfg))
    return per_layer * cfg.num_hidden_layers / cfg.block_size


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def ingest_rate(model, cfg, tokens, blocks: int, warm: int):
    B = cfg.block_size
    with torch.inference_mode():
        state = model.init_state(1)
        for i in range(warm):
            state, _ = model.block_step(state, tokens[:, i * B:(i + 1) * B], logits="none")
        sync()
        t0 = time.perf_counter()
        for i in range(warm, warm + blocks):
            state, _ = model.block_step(state, tokens[:, i * B:(i + 1) * B], logits="none")
        sync()
        dt = time.perf_counter() - t0
    return dt


def main() -> None:
    args = sys.argv[1:]
    cfg_path, out_path = args[0], args[1]
    blocks = int(args[args.index("--blocks") + 1]) if "--blocks" in args else 128
    cfg = FamConfig.load(cfg_path)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # CPU: only to check the script
    torch.manual_seed(0)
    model = FamForCausalLM(cfg).to(dev).half().eval()
    B = cfg.block_size
    warm = 4
    tokens = lcg_tokens((blocks + warm) * B, cfg.vocab_size, 11).view(1, -1).to(dev)
    fpt = flops_per_token(cfg)
    result = {
        "card": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "config": cfg_path,
        "flopsPerToken": fpt,
        "blocks": blocks,
        "modes": [],
    }

    def save():
        with open(out_path, "w") as f:
            json.dump(result, f, indent=1)

    def record(mode, dt, note, compile_s=None):
        ms = dt / blocks * 1000
        row = {"mode": mode, "dtype": "float16", "tokPerSec": blocks * B / dt, "msPerBlock": ms,
               "tflops": fpt * blocks * B / dt / 1e12, "note": note}
        if compile_s is not None:
            row["warmupSeconds"] = compile_s
        result["modes"].append(row)
        save()
        print(f"torch {mode}: {row['tokPerSec']:.0f} tok/s, {ms:.2f} ms/block, {row['tflops']:.1f} TFLOP/s", flush=True)

    # Products alone (cuBLAS), the same shapes and count as one block step.
    ops = []
    for _ in range(cfg.num_hidden_layers):
        for what, b, r, k, c in products(cfg):
            a = torch.randn(b, r, k, device=dev, dtype=torch.float16) * 0.1
            w = torch.randn(b, k, c, device=dev, dtype=torch.float16) * 0.1
            ops.append((a, w))
    for _ in range(5):
        for a, w in ops:
            torch.matmul(a, w)
    sync()
    reps = 200
    t0 = time.perf_counter()
    for _ in range(reps):
        for a, w in ops:
            torch.matmul(a, w)
    sync()
    ms = (time.perf_counter() - t0) / reps * 1000
    result["products"] = {"dtype": "float16", "msPerBlock": ms, "tokPerSec": B / (ms / 1000),
                          "tflops": fpt * B / (ms / 1000) / 1e12}
    save()
    print(f"torch products: {B / (ms / 1000):.0f} tok/s, {ms:.3f} ms/block, {result['products']['tflops']:.1f} TFLOP/s",
          flush=True)

    try:
        dt = ingest_rate(model, cfg, tokens, blocks, warm)
        record("eager", dt, "block_step, SDPA with a boolean FAM mask, Python loop over layers")
    except Exception as e:  # keep the products number; say what failed
        result["modes"].append({"mode": "eager", "error": repr(e)})
        save()
        print(f"torch eager failed: {e!r}", flush=True)

    if "--skip-compile" not in args:
        torch._dynamo.config.cache_size_limit = 64
        for layer in model.model.layers:
            layer.forward_block = torch.compile(layer.forward_block)
        t0 = time.perf_counter()
        try:
            dt = ingest_rate(model, cfg, tokens, blocks, warm)
            record("torch.compile", dt, "each layer's forward_block compiled (default mode)", time.perf_counter() - t0 - dt)
        except Exception as e:
            result["modes"].append({"mode": "torch.compile", "error": repr(e)})
            save()
            print(f"torch.compile failed: {e!r}", flush=True)


if __name__ == "__main__":
    main()
