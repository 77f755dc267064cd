"""Tests of the reference model itself (model/train/fam.py) against the rules of docs/fam.md.

Each test would fail if the math broke: the mask rule by rule, causality and what the FAM carries (perturbation),
an independent naive implementation (explicit loops and einsum per head, explicit softmax, float64), Hugging Face
Llama for F = 0, the memory ring's reach, and the zero residual of the first FAM update (App. B.1).

    python3 -m pytest model/train/tests -q

Runs on the CPU in a few seconds; the Hugging Face test is skipped where transformers is missing.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fam  # noqa: E402
from fam import FamConfig, FamForCausalLM, RMSNorm, block_mask, rope_cos_sin  # noqa: E402

torch.set_default_dtype(torch.float32)

# Small but complete: GQA (G < H), F < B, untied head, two layers so that layer-to-layer plumbing is exercised.
SMALL = FamConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=64, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                  fam_length=4, block_size=8, memory_segments=1, eos_token_id=0)

CHANGED = 1e-4  # a difference above this means "depends on"
SAME = 1e-6  # a difference at most this means "does not depend on" (in practice it is exactly 0)


def make_model(seed: int = 0, **overrides) -> FamForCausalLM:
    """Random weights large enough that outputs vary (the training init, std 0.02, is close to uniform)."""
    cfg = dataclasses.replace(SMALL, **overrides)
    torch.manual_seed(seed)
    model = FamForCausalLM(cfg).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.Linear):
                mod.weight.copy_(0.1 * torch.randn(mod.weight.shape, generator=g))
            elif isinstance(mod, torch.nn.Embedding):
                mod.weight.copy_(0.5 * torch.randn(mod.weight.shape, generator=g))
            elif isinstance(mod, RMSNorm):
                mod.weight.copy_(1.0 + 0.4 * (torch.rand(mod.weight.shape, generator=g) - 0.5))
        model.model.fam_embeddings.copy_(0.5 * torch.randn(model.model.fam_embeddings.shape, generator=g))
    return model


def random_ids(cfg: FamConfig, n: int, seed: int) -> torch.Tensor:
    return torch.randint(4, cfg.vocab_size, (1, n), generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def run_blocks(model: FamForCausalLM, ids: torch.Tensor):
    """Block steps over ids [1, n*B]; returns (list of per-block logits [B, V], list of states after each block)."""
    B = model.cfg.block_size
    state, logits, states = model.init_state(1), [], []
    for i in range(0, ids.shape[1], B):
        state, lg = model.block_step(state, ids[:, i:i + B], logits="all")
        logits.append(lg[0])
        states.append(state)
    return logits, states


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


# ----------------------------------------------------------------------------------------------------------------
# A naive, independent implementation (float64, explicit loops and einsum per head).

def naive_allowed(F: int, B: int, mem_slots: int, mem_valid: int) -> torch.Tensor:
    """docs/fam.md "One block step", step 2, written as one rule per key column, cell by cell."""
    S = mem_slots + F + B
    allowed = torch.zeros(F + B, S, dtype=torch.bool)
    for r in range(F + B):
        fam_row, t = r < F, r - F
        for c in range(S):
            if c < mem_slots:  # memory: block rows only, and only slots that hold a block
                allowed[r, c] = (not fam_row) and c >= mem_slots - mem_valid
            elif c < mem_slots + F:  # P: every row
                allowed[r, c] = True
            else:  # X[j]: FAM rows see all of X, block row t sees X[0..t]
                j = c - mem_slots - F
                allowed[r, c] = fam_row or j <= t
    return allowed


def naive_rope(x: torch.Tensor, positions, theta: float) -> torch.Tensor:
    """x [n, heads, d]: rotate each pair (i, i + d/2) by the angle p * theta^(-2i/d) (Llama's rotate_half layout)."""
    n, _, d = x.shape
    half = d // 2
    out = torch.empty_like(x)
    for r in range(n):
        for i in range(half):
            a = positions[r] * theta ** (-2.0 * i / d)
            c, s = math.cos(a), math.sin(a)
            x1, x2 = x[r, :, i], x[r, :, i + half]
            out[r, :, i] = x1 * c - x2 * s
            out[r, :, i + half] = x2 * c + x1 * s
    return out


def naive_rms(x: torch.Tensor, norm: RMSNorm) -> torch.Tensor:
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + norm.eps) * norm.weight.detach().double()


def naive_layer(layer, cfg: FamConfig, rows, positions, mem_k, mem_v, allowed, res_scale):
    """One decoder layer over rows [n, D] whose keys are [memory (given, RoPE applied) | rows].

    mem_k/mem_v [s, G, d] or None; allowed bool [n, s+n]; res_scale [n] multiplies each row's attention residual.
    Returns (rows out [n, D], k [n, G, d], v [n, G, d]), all float64.
    """
    H, G, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
    W = lambda lin: lin.weight.detach().double()  # noqa: E731
    x = rows.double()
    n = x.shape[0]
    h = naive_rms(x, layer.input_layernorm)
    q = naive_rope((h @ W(layer.self_attn.q_proj).T).view(n, H, d), positions, cfg.rope_theta)
    k = naive_rope((h @ W(layer.self_attn.k_proj).T).view(n, G, d), positions, cfg.rope_theta)
    v = (h @ W(layer.self_attn.v_proj).T).view(n, G, d)
    keys = k if mem_k is None else torch.cat([mem_k.double(), k], dim=0)  # [S, G, d]
    values = v if mem_v is None else torch.cat([mem_v.double(), v], dim=0)
    heads = []
    for hh in range(H):
        g = hh // (H // G)  # query head hh reads key/value head g
        scores = torch.einsum("nd,sd->ns", q[:, hh], keys[:, g]) / math.sqrt(d)
        scores = scores.masked_fill(~allowed, float("-inf"))
        w = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
        w = w / w.sum(dim=-1, keepdim=True)
        heads.append(torch.einsum("ns,sd->nd", w, values[:, g]))
    o = torch.cat(heads, dim=-1) @ W(layer.self_attn.o_proj).T
    h2 = x * torch.as_tensor(res_scale, dtype=torch.float64)[:, None] + o
    z = naive_rms(h2, layer.post_attention_layernorm)
    gate = z @ W(layer.mlp.gate_proj).T
    mlp = (gate * torch.sigmoid(gate) * (z @ W(layer.mlp.up_proj).T)) @ W(layer.mlp.down_proj).T
    return h2 + mlp, k, v


def naive_model(model: FamForCausalLM, ids: torch.Tensor):
    """The whole model from docs/fam.md alone: init (App. B.1), then block steps with positions (App. B.2), the ring of
    the last m blocks' K/V and the zero first-update residual. Returns per-block logits, fam and ring K/V."""
    cfg = model.cfg
    F, B, m, L = cfg.fam_length, cfg.block_size, cfg.memory_segments, cfg.num_hidden_layers
    layers = model.model.layers
    # FAM initialisation: the F embeddings go up through all layers with full attention; fam[l] = input to layer l.
    x = model.model.fam_embeddings.detach().double()
    fam_l = []
    for layer in layers:
        fam_l.append(x)
        if F > 0:
            x, _, _ = naive_layer(layer, cfg, x, list(range(F)), None, None, torch.ones(F, F, dtype=torch.bool),
                                  [1.0] * F)
    rings = [[] for _ in range(L)]  # per layer: list of (k, v) [B, G, d] per block, oldest first
    out = []
    for i in range(ids.shape[1] // B):
        p0 = i * B
        positions = [p0 + B - F + j for j in range(F)] + [p0 + t for t in range(B)]
        x = model.model.embed_tokens.weight.detach().double()[ids[0, p0:p0 + B]]
        res = [0.0 if i == 0 else 1.0] * F + [1.0] * B
        for l, layer in enumerate(layers):
            mem = rings[l][-m:] if m > 0 else []
            mem_k = torch.cat([k for k, _ in mem]) if mem else None
            mem_v = torch.cat([v for _, v in mem]) if mem else None
            allowed = naive_allowed(F, B, len(mem) * B, len(mem) * B)
            y, k, v = naive_layer(layer, cfg, torch.cat([fam_l[l], x]), positions, mem_k, mem_v, allowed, res)
            fam_l[l], x = y[:F], y[F:]
            rings[l].append((k[F:], v[F:]))
        logits = naive_rms(x, model.model.norm) @ model.lm_head.weight.detach().double().T
        ring_kv = [(torch.cat([k for k, _ in r[-m:]]), torch.cat([v for _, v in r[-m:]])) if m > 0 else None
                   for r in rings]
        out.append((logits, [f.clone() for f in fam_l], ring_kv))
    return out


# ----------------------------------------------------------------------------------------------------------------
# (a) The block mask, rule by rule.

@pytest.mark.parametrize("F,B,mem_slots,mem_valid", [(4, 8, 0, 0), (4, 8, 16, 16), (4, 8, 16, 8), (0, 8, 8, 8),
                                                      (3, 5, 10, 5), (8, 8, 24, 0)])
def test_block_mask_rules(F, B, mem_slots, mem_valid):
    mask = block_mask(F, B, mem_slots, mem_valid)
    assert mask.shape == (F + B, mem_slots + F + B) and mask.dtype == torch.bool
    P = slice(mem_slots, mem_slots + F)
    X = slice(mem_slots + F, mem_slots + F + B)
    empty = slice(0, mem_slots - mem_valid)
    valid = slice(mem_slots - mem_valid, mem_slots)
    # FAM rows: no memory blocks; all of P; all of X (not causal).
    assert not mask[:F, :mem_slots].any()
    assert mask[:F, P].all() and mask[:F, X].all()
    # Block row t: all valid memory (never the empty slots); all of P; X[0..t].
    assert mask[F:, valid].all() and not mask[F:, empty].any()
    assert mask[F:, P].all()
    for t in range(B):
        assert mask[F + t, mem_slots + F:mem_slots + F + t + 1].all(), f"row {t} must see X[0..{t}]"
        assert not mask[F + t, mem_slots + F + t + 1:].any(), f"row {t} must not see X[{t + 1}..]"
    assert torch.equal(mask, naive_allowed(F, B, mem_slots, mem_valid))


# ----------------------------------------------------------------------------------------------------------------
# (b) Causality inside a block, and what the FAM made from a block depends on (perturbation).

@pytest.mark.parametrize("block", [0, 2])
def test_block_rows_causal_and_blind_to_own_fam(block):
    """Changing X[t+1..] changes this block's new FAM (it sees the whole block) but not rows 0..t: so block rows
    never see the FAM made from their own block (docs/fam.md "Block rows never see the FAM made from their own
    block")."""
    model = make_model()
    cfg, B = model.cfg, model.cfg.block_size
    ids = random_ids(cfg, (block + 1) * B, seed=1)
    logits, states = run_blocks(model, ids)
    for t in [0, 3, B - 2]:
        alt = ids.clone()
        alt[0, block * B + t + 1:] = (alt[0, block * B + t + 1:] + 7) % (cfg.vocab_size - 4) + 4
        logits2, states2 = run_blocks(model, alt)
        assert maxdiff(logits[block][:t + 1], logits2[block][:t + 1]) <= SAME, f"rows 0..{t} saw later tokens"
        assert maxdiff(logits[block][t + 1:], logits2[block][t + 1:]) > CHANGED
        for l in range(cfg.num_hidden_layers):
            assert maxdiff(states[block].fam[l], states2[block].fam[l]) > CHANGED, f"own FAM of layer {l} unchanged"


def test_fam_depends_on_every_token_of_its_block():
    model = make_model()
    cfg, B = model.cfg, model.cfg.block_size
    ids = random_ids(cfg, 2 * B, seed=2)
    _, states = run_blocks(model, ids)
    for j in range(B):
        alt = ids.clone()
        alt[0, B + j] = (alt[0, B + j] + 1 - 4) % (cfg.vocab_size - 4) + 4
        _, states2 = run_blocks(model, alt)
        for l in range(cfg.num_hidden_layers):
            assert maxdiff(states[1].fam[l], states2[1].fam[l]) > CHANGED, f"fam[{l}] of block 1 ignores token {j}"


@pytest.mark.parametrize("F,expect_change", [(4, True), (0, False)])
def test_fam_is_the_only_carrier_when_m_is_0(F, expect_change):
    model = make_model(fam_length=F, memory_segments=0)
    cfg, B = model.cfg, model.cfg.block_size
    ids = random_ids(cfg, 2 * B, seed=3)
    alt = ids.clone()
    alt[0, :B] = (alt[0, :B] + 5 - 4) % (cfg.vocab_size - 4) + 4
    d = maxdiff(run_blocks(model, ids)[0][1], run_blocks(model, alt)[0][1])
    assert (d > CHANGED) if expect_change else (d <= SAME), f"F={F}: block 1 logits moved by {d}"


# ----------------------------------------------------------------------------------------------------------------
# (c) A naive independent implementation agrees with Layer.forward_block and with the whole model.

@pytest.mark.parametrize("mem_blocks,mem_valid_blocks,fam_residual", [(0, 0, 0.0), (0, 0, 1.0), (2, 2, 1.0),
                                                                        (2, 1, 1.0), (1, 1, 0.0)])
def test_forward_block_equals_naive_layer(mem_blocks, mem_valid_blocks, fam_residual):
    model = make_model()
    cfg = model.cfg
    F, B, D, G, d = cfg.fam_length, cfg.block_size, cfg.hidden_size, cfg.num_key_value_heads, cfg.head_dim
    layer = model.model.layers[1]
    g = torch.Generator().manual_seed(4)
    P, X = torch.randn(1, F, D, generator=g), torch.randn(1, B, D, generator=g)
    S = mem_blocks * B
    mem_k = torch.randn(1, G, S, d, generator=g) if S else None  # empty slots hold garbage: the mask must hide it
    mem_v = torch.randn(1, G, S, d, generator=g) if S else None
    p0 = 3 * B
    positions = [p0 + B - F + j for j in range(F)] + [p0 + t for t in range(B)]
    cos, sin = rope_cos_sin(torch.tensor(positions), d, cfg.rope_theta)
    mask = block_mask(F, B, S, mem_valid_blocks * B)
    with torch.no_grad():
        new_fam, out, k, v = layer.forward_block(P, X, mem_k, mem_v, cos, sin, mask, fam_residual)
    ref, rk, rv = naive_layer(layer, cfg, torch.cat([P[0], X[0]]), positions,
                              None if mem_k is None else mem_k[0].transpose(0, 1),
                              None if mem_v is None else mem_v[0].transpose(0, 1),
                              naive_allowed(F, B, S, mem_valid_blocks * B), [fam_residual] * F + [1.0] * B)
    close = dict(atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(new_fam[0].double(), ref[:F], **close)
    torch.testing.assert_close(out[0].double(), ref[F:], **close)
    torch.testing.assert_close(k[0].transpose(0, 1).double(), rk[F:], **close)
    torch.testing.assert_close(v[0].transpose(0, 1).double(), rv[F:], **close)


@pytest.mark.parametrize("F,m", [(4, 2), (4, 0), (0, 2)])
def test_block_steps_equal_naive_model(F, m):
    """Four blocks through fam.py and through naive_model: logits, every layer's FAM and the ring after each."""
    model = make_model(fam_length=F, memory_segments=m)
    cfg = model.cfg
    ids = random_ids(cfg, 4 * cfg.block_size, seed=5)
    logits, states = run_blocks(model, ids)
    init = model.init_state(1)
    naive = naive_model(model, ids)
    close = dict(atol=1e-5, rtol=1e-5)
    for i, (n_logits, n_fam, n_ring) in enumerate(naive):
        torch.testing.assert_close(logits[i].double(), n_logits, **close)
        for l in range(cfg.num_hidden_layers):
            torch.testing.assert_close(states[i].fam[l][0].double(), n_fam[l], **close)
            if m > 0:
                torch.testing.assert_close(states[i].mem_k[l][0].transpose(0, 1).double(), n_ring[l][0], **close)
                torch.testing.assert_close(states[i].mem_v[l][0].transpose(0, 1).double(), n_ring[l][1], **close)
            else:
                assert states[i].mem_k[l] is None and states[i].mem_v[l] is None
    assert init.blocks == 0 and states[-1].blocks == 4


# ----------------------------------------------------------------------------------------------------------------
# (d) F = 0, m = 0, one block: fam.py is Hugging Face LlamaForCausalLM.

def test_one_block_without_fam_equals_hf_llama():
    transformers = pytest.importorskip("transformers")
    model = make_model(seed=6, fam_length=0, memory_segments=0, block_size=16)
    cfg = model.cfg
    rope = ({"rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta}}
            if int(transformers.__version__.split(".")[0]) >= 5 else {"rope_theta": cfg.rope_theta})
    hf_cfg = transformers.LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads, head_dim=cfg.head_dim, hidden_act="silu",
        max_position_embeddings=64, rms_norm_eps=cfg.rms_norm_eps, attention_bias=False, mlp_bias=False,
        tie_word_embeddings=False, attn_implementation="eager", **rope)
    hf = transformers.LlamaForCausalLM(hf_cfg).float().eval()
    sd = model.state_dict()
    res = hf.load_state_dict(sd, strict=False)
    assert res.missing_keys == [] and res.unexpected_keys == ["model.fam_embeddings"], res
    ids = random_ids(cfg, cfg.block_size, seed=7)
    with torch.no_grad():
        want = hf(input_ids=ids, use_cache=False).logits[0]
        _, got = model.block_step(model.init_state(1), ids, logits="all")
    rel = maxdiff(got[0], want) / want.abs().max().item()
    assert rel <= 1e-5, f"fam.py vs HF Llama: max rel error {rel}"


# ----------------------------------------------------------------------------------------------------------------
# (e) The memory ring holds the last m blocks' K/V and nothing older.

@pytest.mark.parametrize("L,F,probe,expect_change", [
    (1, 0, 3, False),  # one layer, m = 2: block 3 reads blocks 1 and 2 only
    (1, 0, 2, True),  # ...while block 2 reads block 0 directly
    (2, 0, 5, False),  # L layers: each layer reaches m blocks further back, so block 0 reaches block m*L = 4 ...
    (2, 0, 4, True),  # ... but not block 5
    (1, 4, 3, True),  # with a FAM, block 0 reaches every later block
    (2, 4, 5, True),
])
def test_memory_ring_reach(L, F, probe, expect_change):
    model = make_model(num_hidden_layers=L, fam_length=F, memory_segments=2)
    cfg, B = model.cfg, model.cfg.block_size
    ids = random_ids(cfg, (probe + 1) * B, seed=8)
    alt = ids.clone()
    alt[0, :B] = (alt[0, :B] + 11 - 4) % (cfg.vocab_size - 4) + 4  # perturb block 0 only
    logits, states = run_blocks(model, ids)
    d = maxdiff(logits[probe], run_blocks(model, alt)[0][probe])
    assert (d > CHANGED) if expect_change else (d <= SAME), f"L={L} F={F}: block {probe} moved by {d}"
    assert states[probe].mem_k[0].shape[2] == 2 * B, "the ring keeps exactly m blocks once full"


def test_ring_holds_the_newest_m_blocks_k():
    """After block i, the ring is the K of blocks i-m+1..i, oldest first, as each block step produced them."""
    model = make_model(memory_segments=2)
    cfg, B = model.cfg, model.cfg.block_size
    ids = random_ids(cfg, 4 * B, seed=9)
    _, states = run_blocks(model, ids)
    # Block i's own K/V at layer l are the newest B rows of the ring after block i.
    own = [[s.mem_k[l][:, :, -B:] for l in range(cfg.num_hidden_layers)] for s in states]
    for i in range(1, 4):
        for l in range(cfg.num_hidden_layers):
            assert torch.equal(states[i].mem_k[l], torch.cat([own[i - 1][l], own[i][l]], dim=2))
    assert states[0].mem_k[0].shape[2] == B


# ----------------------------------------------------------------------------------------------------------------
# (f) First update: the FAM rows' residual is zero while state.blocks == 0 (App. B.1).

def record_fam_residuals(monkeypatch) -> list:
    """From now on, each layer's block step appends the FAM residual factor it was given to the returned list."""
    seen = []
    original = fam.Layer.forward_block

    def spy(self, P, X, mem_k, mem_v, cos, sin, mask, fam_residual):
        seen.append(fam_residual)
        return original(self, P, X, mem_k, mem_v, cos, sin, mask, fam_residual)

    monkeypatch.setattr(fam.Layer, "forward_block", spy)
    return seen


def test_first_update_uses_zero_residual(monkeypatch):
    model = make_model(memory_segments=0)
    cfg, F, B = model.cfg, model.cfg.fam_length, model.cfg.block_size
    seen = record_fam_residuals(monkeypatch)
    ids = random_ids(cfg, 2 * B, seed=10)
    _, states = run_blocks(model, ids)
    L = cfg.num_hidden_layers
    assert seen == [0.0] * L + [1.0] * L, seen

    # And numerically: layer 0's new FAM after block 0 is the zero-residual one, not the one with P added back.
    init = model.init_state(1)
    positions = [B - F + j for j in range(F)] + list(range(B))
    x = model.model.embed_tokens.weight.detach()[ids[0, :B]]
    rows = torch.cat([init.fam[0][0], x])
    allowed = naive_allowed(F, B, 0, 0)
    zero, _, _ = naive_layer(model.model.layers[0], cfg, rows, positions, None, None, allowed, [0.0] * F + [1.0] * B)
    one, _, _ = naive_layer(model.model.layers[0], cfg, rows, positions, None, None, allowed, [1.0] * (F + B))
    got = states[0].fam[0][0].double()
    torch.testing.assert_close(got, zero[:F], atol=1e-5, rtol=1e-5)
    assert maxdiff(got, one[:F]) > CHANGED


def test_fam_residual_none_never_adds_the_previous_fam(monkeypatch):
    """fam_residual = "none": every update gets the zero residual of the first one, so the new FAM depends on the
    previous FAM only through the FAM rows' attention (and the runs differ from "after_first" after block 0)."""
    model = make_model(memory_segments=0)
    B = model.cfg.block_size
    ids = random_ids(model.cfg, 3 * B, seed=11)
    _, with_residual = run_blocks(model, ids)
    model.cfg = dataclasses.replace(model.cfg, fam_residual="none")
    seen = record_fam_residuals(monkeypatch)
    _, without = run_blocks(model, ids)
    assert seen == [0.0] * (3 * model.cfg.num_hidden_layers), seen
    torch.testing.assert_close(without[0].fam[0], with_residual[0].fam[0], atol=0, rtol=0)
    assert maxdiff(without[2].fam[0], with_residual[2].fam[0]) > CHANGED
