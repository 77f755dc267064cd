"""TransformerFAM reference model: a Llama-style decoder with feedback attention memory.

Source: Hwang et al., "TransformerFAM: Feedback attention is working memory", arXiv 2404.09173 (v3),
Alg. 2 (§2.2), App. B.1 (FAM initialisation, first update) and App. B.2 (positions).
The exact math this project implements is written down in docs/fam.md; the TypeScript engine
(model/onnx/fam-graphs.ts) builds the same computation as ONNX graphs, and test/parity checks the two agree
on golden fixtures made by model/train/make_fixtures.py.

This one file serves both training (batched, differentiable, gradients flow through the memory) and the
fixtures (batch 1, float32). Parameter names follow Hugging Face's LlamaForCausalLM, plus one FAM tensor:
`model.fam_embeddings` [F, D], the learned initial FAM (the soft prompt of App. B.1).

The decoder itself may be any of the Llama-family layouts of MODEL_FAMILIES (Llama 2/3.x, SmolLM2, Mistral,
Qwen2/2.5, Qwen3): q/k/v and o_proj biases, Qwen3's per-head q/k RMSNorm, an explicit head_dim and Llama 3 RoPE
scaling, each written here from the published architecture (model/loader/config.ts is the TypeScript twin).

Letters used in shape comments: b batch, B block size, F FAM length, m memory segments, D model width,
H query heads, G key/value heads, d head size, V vocabulary.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F_


FAM_POSITIONS = ("block_end", "before_block")
FAM_RESIDUALS = ("after_first", "none")

# What each model_type adds to the plain Llama layer (config.ts MODEL_FAMILIES is the twin). Biases: "attention_bias"
# follows that config field, "always"/"never" are fixed by the family. qk_norm: Qwen3's per-head RMSNorm of q and k
# (weights [d]) before RoPE.
MODEL_FAMILIES = {
    "llama": {"qkv_bias": "attention_bias", "o_bias": "attention_bias", "qk_norm": False},
    "mistral": {"qkv_bias": "never", "o_bias": "never", "qk_norm": False},
    "qwen2": {"qkv_bias": "always", "o_bias": "never", "qk_norm": False},
    "qwen3": {"qkv_bias": "attention_bias", "o_bias": "attention_bias", "qk_norm": True},
}


@dataclass
class FamConfig:
    """The fields of config.json. B, F and m are model-config values, never constants in code."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = True
    fam_length: int = 64  # F; 0 turns the model into plain block sliding-window attention (BSWA)
    block_size: int = 1024  # B
    memory_segments: int = 0  # m: how many past blocks' K/V each layer keeps
    # Where the previous FAM sits in a block step: "block_end", the positions of the last F tokens of this block
    # (App. B.2, docs/fam.md), or "before_block", the F positions just before it (ours), which keeps the FAM apart
    # from the block's own last F tokens (docs/results/fig3a/README.md, "Positions").
    fam_positions: str = "block_end"
    # Whether the previous FAM is added back to a FAM update (the residual of the FAM rows): "after_first", on every
    # update but the first (App. B.1, docs/fam.md), or "none", never (ours): the previous FAM then reaches the new
    # one only through the FAM rows' attention over it, so the FAM stays bounded however many blocks it has read
    # (docs/results/toy-recall.md).
    fam_residual: str = "after_first"
    bos_token_id: Optional[int] = None
    eos_token_id: Optional[int] = 0
    architectures: tuple = ("FamForCausalLM",)
    model_type: str = "llama"  # a key of MODEL_FAMILIES
    attention_bias: bool = False
    head_dim: int = 0  # d; 0 means hidden_size // num_attention_heads (Qwen3 states its own)
    # None, or Llama 3's {"rope_type": "llama3", "factor", "low_freq_factor", "high_freq_factor",
    # "original_max_position_embeddings"} (rope_inv_freq).
    rope_scaling: Optional[dict] = None

    def _bias(self, key: str) -> bool:
        rule = MODEL_FAMILIES[self.model_type][key]
        return self.attention_bias if rule == "attention_bias" else rule == "always"

    @property
    def qkv_bias(self) -> bool:
        return self._bias("qkv_bias")

    @property
    def o_bias(self) -> bool:
        return self._bias("o_bias")

    @property
    def qk_norm(self) -> bool:
        return MODEL_FAMILIES[self.model_type]["qk_norm"]

    def __post_init__(self):
        assert self.model_type in MODEL_FAMILIES, (
            f"model_type {self.model_type!r}: expected one of {', '.join(MODEL_FAMILIES)}")
        if self.rope_scaling is not None and self.rope_scaling.get("rope_type", self.rope_scaling.get("type")) == "default":
            self.rope_scaling = None
        assert self.rope_scaling is None or self.rope_scaling.get("rope_type", self.rope_scaling.get("type")) == "llama3", (
            f"rope_scaling {self.rope_scaling!r}: only llama3 scaling is implemented")
        if not self.head_dim:
            assert self.hidden_size % self.num_attention_heads == 0, (
                f"hidden_size {self.hidden_size} not divisible by num_attention_heads {self.num_attention_heads}")
            self.head_dim = self.hidden_size // self.num_attention_heads
        assert self.num_attention_heads % self.num_key_value_heads == 0, (
            f"num_attention_heads {self.num_attention_heads} not divisible by "
            f"num_key_value_heads {self.num_key_value_heads}")
        assert self.head_dim % 2 == 0, f"head size {self.head_dim} must be even for RoPE"
        assert self.fam_positions in FAM_POSITIONS, (
            f"fam_positions {self.fam_positions!r}: expected one of {', '.join(FAM_POSITIONS)}")
        assert self.fam_residual in FAM_RESIDUALS, (
            f"fam_residual {self.fam_residual!r}: expected one of {', '.join(FAM_RESIDUALS)}")
        assert self.fam_length <= self.block_size, (
            f"fam_length {self.fam_length} > block_size {self.block_size}: the FAM may not be longer than the block it "
            f"compresses (with fam_positions 'block_end' it takes the positions of the block's last F tokens)")

    @classmethod
    def load(cls, path: str) -> "FamConfig":
        with open(path) as f:
            raw = json.load(f)
        names = {f.name for f in fields(cls)}
        return cls(**{k: (tuple(v) if k == "architectures" else v) for k, v in raw.items() if k in names})

    def to_json(self) -> dict:
        d = asdict(self)
        d["architectures"] = list(self.architectures)
        return d


def rope_inv_freq(head_dim: int, theta: float, scaling: Optional[dict] = None) -> torch.Tensor:
    """The d/2 rotation frequencies theta^(-2i/d), float64. Llama 3 scaling: wavelengths longer than
    original_max_position_embeddings / low_freq_factor are slowed by `factor`, shorter than
    original / high_freq_factor kept, and the band between blended linearly in original / wavelength."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))  # [d/2]
    if scaling is None:
        return inv_freq
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    original = scaling["original_max_position_embeddings"]
    wavelength = 2 * math.pi / inv_freq
    smooth = (original / wavelength - low) / (high - low)
    blended = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    out = torch.where(wavelength > original / low, inv_freq / factor, blended)
    return torch.where(wavelength < original / high, inv_freq, out)


def rope_cos_sin(positions: torch.Tensor, head_dim: int, theta: float, device=None, scaling: Optional[dict] = None):
    """cos/sin tables [n, d] for integer positions [n]; angles computed in float64 (ours), then cast to float32.

    Float64 keeps angles exact up to millions of tokens; the TypeScript engine computes them the same way.
    Layout is Hugging Face Llama's (rotate_half): the d/2 frequencies repeated twice.
    """
    inv_freq = rope_inv_freq(head_dim, theta, scaling)  # [d/2]
    angles = positions.to(torch.float64).cpu()[:, None] * inv_freq[None, :]  # [n, d/2]
    emb = torch.cat([angles, angles], dim=-1)  # [n, d]
    return emb.cos().to(torch.float32).to(device), emb.sin().to(torch.float32).to(device)


def fam_positions(cfg: FamConfig, p0: int) -> torch.Tensor:
    """Positions of the FAM rows in the block step of the block starting at p0 (cfg.fam_positions)."""
    if cfg.fam_positions == "before_block":
        return torch.arange(p0 - cfg.fam_length, p0)
    # App. B.2: the positions of the last F tokens of the block the FAM compresses (this block).
    return torch.arange(p0 + cfg.block_size - cfg.fam_length, p0 + cfg.block_size)


def fam_residual_scale(cfg: FamConfig, blocks: int) -> float:
    """What the previous FAM is multiplied by before it is added to the FAM rows' update, when `blocks` blocks have
    been folded in so far (cfg.fam_residual). App. B.1: zero on the first update, not the initial FAM."""
    return 0.0 if blocks == 0 or cfg.fam_residual == "none" else 1.0


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x [b, heads, n, d]; cos/sin [n, d]
    return (x * cos.to(x.dtype)) + (rotate_half(x) * sin.to(x.dtype))


class RMSNorm(nn.Module):
    """Llama RMSNorm: statistics in float32, scale applied in the input dtype (as Hugging Face does)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(dtype)


class Attention(nn.Module):
    def __init__(self, cfg: FamConfig):
        super().__init__()
        D, H, G, d = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        self.H, self.G, self.d = H, G, d
        self.q_proj = nn.Linear(D, H * d, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(D, G * d, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(D, G * d, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(H * d, D, bias=cfg.o_bias)
        # Qwen3: each head's q and k RMS-normed over d before RoPE.
        self.q_norm = RMSNorm(d, cfg.rms_norm_eps) if cfg.qk_norm else nn.Identity()
        self.k_norm = RMSNorm(d, cfg.rms_norm_eps) if cfg.qk_norm else nn.Identity()

    def qkv(self, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """h [b, n, D] (already normed) -> q [b, H, n, d], k/v [b, G, n, d], RoPE applied to q and k."""
        b, n, _ = h.shape
        q = self.q_norm(self.q_proj(h).view(b, n, self.H, self.d)).transpose(1, 2)
        k = self.k_norm(self.k_proj(h).view(b, n, self.G, self.d)).transpose(1, 2)
        v = self.v_proj(h).view(b, n, self.G, self.d).transpose(1, 2)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def attend(self, q, k, v, mask: Optional[torch.Tensor]) -> torch.Tensor:
        """q [b, H, n, d], k/v [b, G, s, d], mask bool [n, s] (True = may attend) -> [b, n, H*d]."""
        rep = self.H // self.G
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        out = F_.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0 / math.sqrt(self.d))
        b, _, n, _ = out.shape
        return self.o_proj(out.transpose(1, 2).reshape(b, n, self.H * self.d))


class MLP(nn.Module):
    def __init__(self, cfg: FamConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F_.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg: FamConfig):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward_full(self, x, cos, sin, mask=None):
        """Plain decoder layer over rows x [b, n, D] (used for FAM initialisation: full attention, mask None)."""
        q, k, v = self.self_attn.qkv(self.input_layernorm(x), cos, sin)
        h = x + self.self_attn.attend(q, k, v, mask)
        return h + self.mlp(self.post_attention_layernorm(h))

    def forward_block(self, P, X, mem_k, mem_v, cos, sin, mask, fam_residual: float):
        """One FAM block step for this layer (Alg. 2).

        P [b, F, D] previous FAM of this layer, X [b, B, D] block rows, mem_k/mem_v [b, G, m*B, d] or None,
        cos/sin [F+B, d] for the rows [P; X], mask bool [F+B, m*B+F+B].
        Returns new FAM [b, F, D], block output [b, B, D], and this block's K/V [b, G, B, d] for the ring.
        """
        Fn = P.shape[1]
        h = torch.cat([P, X], dim=1)  # [b, F+B, D]
        q, k, v = self.self_attn.qkv(self.input_layernorm(h), cos, sin)  # k/v [b, G, F+B, d]
        keys = k if mem_k is None else torch.cat([mem_k, k], dim=2)  # [b, G, m*B+F+B, d]
        values = v if mem_v is None else torch.cat([mem_v, v], dim=2)
        o = self.self_attn.attend(q, keys, values, mask)  # [b, F+B, D]
        # App. B.1: on the first update the FAM rows get no residual (zero, not the initial FAM).
        residual = torch.cat([P * fam_residual, X], dim=1)
        h2 = residual + o
        out = h2 + self.mlp(self.post_attention_layernorm(h2))
        return out[:, :Fn], out[:, Fn:], k[:, :, Fn:], v[:, :, Fn:]


def block_mask(F: int, B: int, mem_slots: int, mem_valid: int, device=None) -> torch.Tensor:
    """bool [F+B, m*B+F+B], True where a query row may attend a key (docs/fam.md "One block step", step 2).

    Key order: memory (oldest block first; the first m*B - mem_valid slots are still empty), P, X.
    FAM rows: no memory, all of P, all of X. Block row t: valid memory, all of P, X[0..t].
    """
    S = mem_slots + F + B
    mask = torch.zeros(F + B, S, dtype=torch.bool, device=device)
    mask[:F, mem_slots:] = True
    mask[F:, mem_slots - mem_valid: mem_slots + F] = True
    mask[F:, mem_slots + F:] = torch.tril(torch.ones(B, B, dtype=torch.bool, device=device))
    return mask


@dataclass
class FamState:
    """The working memory after some blocks: per layer FAM and memory ring; positions are blocks * B."""

    fam: List[torch.Tensor]  # L x [b, F, D], the input FAM of each layer for the next block
    mem_k: List[Optional[torch.Tensor]]  # L x [b, G, <=m*B, d] (RoPE applied), None when m = 0
    mem_v: List[Optional[torch.Tensor]]
    blocks: int  # blocks folded in so far

    def detach(self) -> "FamState":
        det = lambda t: None if t is None else t.detach()  # noqa: E731
        return FamState([t.detach() for t in self.fam], [det(t) for t in self.mem_k],
                        [det(t) for t in self.mem_v], self.blocks)

    def fam_rms(self) -> List[float]:
        """Each layer's FAM RMS, over batch, rows and width: whether the FAM stays bounded as it reads."""
        return [t.detach().float().pow(2).mean().sqrt().item() for t in self.fam]


class FamModel(nn.Module):
    def __init__(self, cfg: FamConfig):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([Layer(cfg) for _ in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.fam_embeddings = nn.Parameter(torch.zeros(cfg.fam_length, cfg.hidden_size))


class FamForCausalLM(nn.Module):
    def __init__(self, cfg: FamConfig):
        super().__init__()
        self.cfg = cfg
        self.model = FamModel(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(mod):
        if isinstance(mod, nn.Linear):
            nn.init.normal_(mod.weight, std=0.02)
        elif isinstance(mod, nn.Embedding):
            nn.init.normal_(mod.weight, std=0.02)
        elif isinstance(mod, FamModel):
            nn.init.normal_(mod.fam_embeddings, std=0.02)

    def device(self):
        return self.lm_head.weight.device

    def init_state(self, batch: int = 1) -> FamState:
        """FAM initialisation (App. B.1): the F learned embeddings go up through all layers with full attention
        among themselves; fam[l] is the FAM rows' input to layer l. Positions 0..F-1 (ours; RoPE is relative, so
        any shift gives the same result)."""
        cfg, dev = self.cfg, self.device()
        x = self.model.fam_embeddings.unsqueeze(0).expand(batch, -1, -1)  # [b, F, D]
        cos, sin = rope_cos_sin(torch.arange(cfg.fam_length), cfg.head_dim, cfg.rope_theta, dev, cfg.rope_scaling)
        fam = []
        for layer in self.model.layers:
            fam.append(x)
            if cfg.fam_length > 0:
                x = layer.forward_full(x, cos, sin)
        L = cfg.num_hidden_layers
        return FamState(fam, [None] * L, [None] * L, 0)

    def block_step(self, state: FamState, input_ids: torch.Tensor, logits: str = "last", position_offset: int = 0):
        """Fold one block input_ids [b, B] into the state. Returns (new state, logits).

        logits: "all" -> [b, B, V], "last" -> [b, V], "none" -> None.
        position_offset: training only (random position offset, App. B.2); inference always uses 0.
        """
        cfg, dev = self.cfg, self.device()
        Fn, B, m = cfg.fam_length, cfg.block_size, cfg.memory_segments
        assert input_ids.shape[1] == B, f"block step needs exactly B={B} tokens, got {input_ids.shape[1]}"
        p0 = state.blocks * B + position_offset
        pos = torch.arange(p0, p0 + B)
        positions = torch.cat([fam_positions(cfg, p0), pos])
        cos, sin = rope_cos_sin(positions, cfg.head_dim, cfg.rope_theta, dev, cfg.rope_scaling)
        mem_valid = min(state.blocks, m) * B
        mask = block_mask(Fn, B, mem_valid, mem_valid, dev)  # the ring holds only the valid blocks
        x = self.model.embed_tokens(input_ids)
        new_fam, new_k, new_v = [], [], []
        fam_residual = fam_residual_scale(cfg, state.blocks)
        for l, layer in enumerate(self.model.layers):
            fam_l, x, k, v = layer.forward_block(state.fam[l], x, state.mem_k[l], state.mem_v[l], cos, sin,
                                                 mask, fam_residual)
            new_fam.append(fam_l)
            if m > 0:
                mk = k if state.mem_k[l] is None else torch.cat([state.mem_k[l], k], dim=2)
                mv = v if state.mem_v[l] is None else torch.cat([state.mem_v[l], v], dim=2)
                new_k.append(mk[:, :, -m * B:])  # keep the newest m blocks
                new_v.append(mv[:, :, -m * B:])
            else:
                new_k.append(None)
                new_v.append(None)
        out = None
        if logits == "all":
            out = self.lm_head(self.model.norm(x))
        elif logits == "last":
            out = self.lm_head(self.model.norm(x[:, -1]))
        return FamState(new_fam, new_k, new_v, state.blocks + 1), out

    def forward_blocks(self, state: FamState, input_ids: torch.Tensor, position_offset: int = 0):
        """Run whole blocks input_ids [b, n*B]; returns (state, logits [b, n*B, V]). Used by training."""
        B = self.cfg.block_size
        assert input_ids.shape[1] % B == 0, f"length {input_ids.shape[1]} is not a multiple of B={B}"
        outs = []
        for i in range(0, input_ids.shape[1], B):
            state, lg = self.block_step(state, input_ids[:, i:i + B], logits="all", position_offset=position_offset)
            outs.append(lg)
        return state, torch.cat(outs, dim=1)
