"""The numeric precision a model is trained or evaluated in: one name, used by train.py, eval/ and the toy.

- "bf16": bf16 autocast; what stays float32 multiplies in TF32. Fastest; the training default.
- "tf32": float32 weights and activations, matrix products in TF32 (10-bit mantissa) on the GPU.
- "fp32": float32 throughout, TF32 off. Slower: at B = 128 on one H200, two fp32 fine-tunes side by side ran
  80k tokens/s each, one tf32 fine-tune alone 373k.
Why a choice at all: fine-tuned on the toy task, the shipped weights learn the FAM read-out in fp32 and diverge in
bf16 (docs/results/default-model/fam-ablation.md, section 4). On the CPU all three run float32 matrix products;
"bf16" autocasts there too.
"""

from __future__ import annotations

import torch

PRECISIONS = ("bf16", "tf32", "fp32")


def autocast(device_type: str, precision: str):
    """Sets the TF32 switch for `precision` and returns the autocast context to run the model's forward in."""
    assert precision in PRECISIONS, f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}"
    torch.backends.cuda.matmul.allow_tf32 = precision != "fp32"
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")
