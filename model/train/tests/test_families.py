"""Tests of fam.py's open-family layouts (MODEL_FAMILIES, Llama 3 RoPE scaling) against the published architectures,
written out independently here: a naive attention layer per family, frequencies computed by hand.

    python3 -m pytest model/train/tests/test_families.py -q
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fam import FamConfig, FamForCausalLM, rope_cos_sin, rope_inv_freq  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "families"


def cfg(**over) -> FamConfig:
    base = dict(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                intermediate_size=48, fam_length=0, block_size=8, memory_segments=0)
    return FamConfig(**{**base, **over})


@pytest.mark.parametrize("model_type, extra, qkv, o, norm", [
    ("llama", {}, False, False, False),
    ("llama", {"attention_bias": True}, True, True, False),
    ("mistral", {"attention_bias": True}, False, False, False),
    ("qwen2", {}, True, False, False),
    ("qwen3", {"head_dim": 16}, False, False, True),
])
def test_family_parameters(model_type, extra, qkv, o, norm):
    names = set(FamForCausalLM(cfg(model_type=model_type, **extra)).state_dict())
    p = "model.layers.0.self_attn."
    assert (p + "q_proj.bias" in names) == qkv and (p + "v_proj.bias" in names) == qkv
    assert (p + "o_proj.bias" in names) == o
    assert (p + "q_norm.weight" in names) == norm and (p + "k_norm.weight" in names) == norm


def test_qwen3_layer_against_naive_math():
    """One Qwen3 layer by hand: q/k projections, each head RMS-normed over d with its weight, RoPE, GQA softmax."""
    c = cfg(model_type="qwen3", head_dim=16)
    torch.manual_seed(0)
    model = FamForCausalLM(c).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape) * 0.3)
    layer = model.model.layers[0]
    at = layer.self_attn
    n, H, G, d = 5, 4, 2, 16
    x = torch.randn(1, n, 32)
    cos, sin = rope_cos_sin(torch.arange(n), d, c.rope_theta)
    with torch.no_grad():
        got = layer.forward_full(x, cos, sin, torch.tril(torch.ones(n, n, dtype=torch.bool)))
        h = layer.input_layernorm(x)[0].double()

        def norm(v, w):
            return v / torch.sqrt(v.pow(2).mean(-1, keepdim=True) + c.rms_norm_eps) * w.double()

        def rope(v):
            half = d // 2
            rot = torch.cat([-v[..., half:], v[..., :half]], -1)
            return v * cos.double()[:, None] + rot * sin.double()[:, None]

        q = rope(norm((h @ at.q_proj.weight.double().T).view(n, H, d), at.q_norm.weight))
        k = rope(norm((h @ at.k_proj.weight.double().T).view(n, G, d), at.k_norm.weight))
        v = (h @ at.v_proj.weight.double().T).view(n, G, d)
        out = torch.zeros(n, H, d, dtype=torch.float64)
        for hh in range(H):
            g = hh // (H // G)
            for i in range(n):
                s = torch.stack([q[i, hh] @ k[j, g] / math.sqrt(d) for j in range(i + 1)])
                out[i, hh] = (s.softmax(0)[:, None] * v[: i + 1, g]).sum(0)
        attn = out.reshape(n, H * d) @ at.o_proj.weight.double().T
        h2 = x[0].double() + attn
        want = h2 + layer.mlp(layer.post_attention_layernorm(h2.float())).double()
    assert (got[0].double() - want).abs().max().item() < 1e-4


def test_llama3_rope_scaling_by_hand():
    # theta 10000, d 8: frequencies 1, 0.1, 0.01, 0.001 (wavelengths 6.3, 63, 628, 6283).
    s = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
         "original_max_position_embeddings": 256}
    assert torch.allclose(rope_inv_freq(8, 10000.0, s), torch.tensor([1, 0.1, 0.01 / 8, 0.001 / 8], dtype=torch.float64))
    band = rope_inv_freq(8, 10000.0, {**s, "original_max_position_embeddings": 1024})
    smooth = (1024 / (2 * math.pi / 0.01) - 1) / 3
    assert abs(band[2].item() - ((1 - smooth) * 0.01 / 8 + smooth * 0.01)) < 1e-12


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if p.is_dir()) if FIXTURES.exists() else [])
def test_fixture_configs_load(name):
    c = FamConfig.load(str(FIXTURES / name / "config.json"))
    assert c.model_type in ("llama", "mistral", "qwen2", "qwen3")
    assert c.head_dim * c.num_attention_heads in (c.hidden_size, 64)
