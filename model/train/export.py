"""Export a training checkpoint to the engine's format (model/weights/default/ holds the shipped one).

    python model/train/export.py --ckpt /tmp/famulus/run/ckpt.pt --tokenizer /tmp/famulus/data --out DIR

Writes, reading the model config from the checkpoint (never from the command line):
- config.json: FamConfig.to_json()
- model.safetensors in fp16, or, when the tensors need more than one file of at most MAX_SHARD_BYTES,
  model-0000i-of-0000n.safetensors plus model.safetensors.index.json (Hugging Face's sharded layout).
  Tensor names are fam.py's state_dict names (Hugging Face Llama's, plus model.fam_embeddings); lm_head.weight
  is left out when the embeddings are tied.
- tokenizer.json and tokenizer_config.json, copied from the tokenizer folder.
Then it loads the files back into a fresh FamForCausalLM (strict) and checks every tensor.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from fam import FamConfig, FamForCausalLM

MAX_SHARD_BYTES = 16 * 2 ** 20 - 64 * 2 ** 10  # 16 MiB per file, less room for the safetensors header


def export_tensors(model: FamForCausalLM, dtype: torch.dtype = torch.float16) -> dict:
    sd = model.state_dict()
    if model.cfg.tie_word_embeddings:
        sd.pop("lm_head.weight")
    return {k: v.detach().to(dtype).contiguous().cpu() for k, v in sd.items()}


def shard(tensors: dict, max_bytes: int = MAX_SHARD_BYTES) -> list:
    shards, cur, size = [], {}, 0
    for name, t in tensors.items():
        n = t.numel() * t.element_size()
        assert n <= max_bytes, f"tensor {name} has {n} bytes, more than a shard's {max_bytes}"
        if cur and size + n > max_bytes:
            shards.append(cur)
            cur, size = {}, 0
        cur[name] = t
        size += n
    shards.append(cur)
    return shards


def write(model: FamForCausalLM, tokenizer_dir: Path, out: Path, dtype: torch.dtype = torch.float16,
          max_shard_bytes: int = MAX_SHARD_BYTES, tokenizer_files=("tokenizer.json", "tokenizer_config.json"),
          base_config: dict | None = None) -> list:
    """The folder `out`: config.json (base_config's fields, e.g. a family checkpoint's own, updated with the
    model's), the weights in `dtype`, and tokenizer_files copied from tokenizer_dir. Returns the file names."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "config.json", "w") as f:
        json.dump({**(base_config or {}), **model.cfg.to_json()}, f, indent=2)
    tensors = export_tensors(model, dtype)
    shards = shard(tensors, max_shard_bytes)
    if len(shards) == 1:
        save_file(shards[0], str(out / "model.safetensors"), metadata={"format": "pt"})
    else:
        weight_map = {}
        for i, part in enumerate(shards):
            name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
            save_file(part, str(out / name), metadata={"format": "pt"})
            weight_map.update({k: name for k in part})
        total = sum(t.numel() * t.element_size() for t in tensors.values())
        with open(out / "model.safetensors.index.json", "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    for name in tokenizer_files:
        shutil.copy(tokenizer_dir / name, out / name)
    return sorted(p.name for p in out.iterdir())


def weight_files(folder: Path) -> list:
    """A model folder's weight files, as the engine finds them (model/loader/safetensors.ts checkpointOf): the
    shards its model.safetensors.index.json maps, else model.safetensors."""
    index = folder / "model.safetensors.index.json"
    if index.exists():
        return [folder / f for f in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    return [folder / "model.safetensors"]


def load(folder: Path) -> FamForCausalLM:
    """A float32 FamForCausalLM from an exported folder (strict: every tensor present, none unexpected)."""
    cfg = FamConfig.load(str(folder / "config.json"))
    sd = {}
    for f in weight_files(folder):
        sd.update(load_file(str(f)))
    model = FamForCausalLM(cfg)
    if cfg.tie_word_embeddings:
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--tokenizer", required=True, help="folder with tokenizer.json and tokenizer_config.json")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    ck = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    model = FamForCausalLM(FamConfig(**ck["config"]["model"]))
    model.load_state_dict(ck["model"])
    out = Path(args.out)
    names = write(model, Path(args.tokenizer), out)
    back = load(out)
    for k, v in model.state_dict().items():
        got = back.state_dict()[k]
        assert torch.equal(got, v.to(torch.float16).float()), f"tensor {k} differs after export"
    sizes = {n: (out / n).stat().st_size for n in names}
    assert all(s <= 16 * 2 ** 20 for s in sizes.values()), f"a file is over 16 MiB: {sizes}"
    print(json.dumps({"step": ck["step"], "tokens": ck["tokens"], "files": sizes,
                      "total_mib": round(sum(sizes.values()) / 2 ** 20, 2)}))


if __name__ == "__main__":
    main()
