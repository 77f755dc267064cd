"""precision.py: each name sets the TF32 switch and the autocast it stands for; an unknown name is refused."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import precision  # noqa: E402


@pytest.mark.parametrize("name, tf32, bf16", [("bf16", True, True), ("tf32", True, False), ("fp32", False, False)])
def test_each_precision_sets_tf32_and_autocast(name, tf32, bf16):
    before = torch.backends.cuda.matmul.allow_tf32
    try:
        ctx = precision.autocast("cpu", name)
        assert torch.backends.cuda.matmul.allow_tf32 is tf32
        with ctx:
            y = torch.ones(2, 2) @ torch.ones(2, 2)
        assert y.dtype == (torch.bfloat16 if bf16 else torch.float32)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def test_an_unknown_precision_is_refused():
    with pytest.raises(AssertionError, match="expected one of bf16, tf32, fp32"):
        precision.autocast("cpu", "fp16")
