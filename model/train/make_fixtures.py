"""Golden fixtures for the TypeScript engine's parity tests, made with the PyTorch reference model (fam.py).

Everything runs on the CPU in float32 with fixed seeds, so a rerun with the same library versions gives the same
files. Usage (on a machine with torch, transformers, tokenizers and safetensors):

    python3 model/train/make_fixtures.py --out test/fixtures

It writes two model directories in the engine's format (config.json, model.safetensors, tokenizer.json,
tokenizer_config.json) plus what the reference computed on them (expected.safetensors):

- tiny/: a tiny random FAM model (F = 4, B = 16, m = 2, GQA) and, for 5 full blocks and a 7-token tail, the
  logits and the whole working memory after every block (docs/fam.md "One block step"), the state right after FAM
  initialisation (docs/fam.md App. B.1), and the ids the Python tokenizer gives a few sample strings.
  expected-before-block.safetensors, expected-no-fam-residual.safetensors: the same for other memory layouts
  (TINY_VARIANTS: fam_positions = "before_block", and with it fam_residual = "none").
- tiny-llama/: the same weights (less the FAM tensor) with F = 0 and m = 0, where one block step is a plain causal
  decoder, and the logits Hugging Face's LlamaForCausalLM gives for one block (the anchor that ties fam.py to a
  known model).

- families/<name>/: tiny random checkpoints of today's open families (Llama 3.x, Qwen2.5, Qwen3, SmolLM2, Mistral)
  in their own file formats, with tokenizers and chat templates written in family_fixtures.py, and fam.py's logits
  for them with FAM length 0. `--only families` makes just these (the others need the repo corpus as it was).

Each folder's README.md documents every tensor name. The math is that of docs/fam.md (section names are
quoted where the code follows one); the tests of fam.py itself are in tests/test_fam.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Dict, List

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from fam import FamConfig, FamForCausalLM, FamState, RMSNorm
from family_fixtures import make_families

REPO = Path(__file__).resolve().parents[2]
SEED = 20240417  # the paper's arXiv month, nothing more

# The tiny model. B, F and m are small but not degenerate: F < B, m = 2 so the ring wraps after block 2,
# G < H so grouped-query attention is exercised, untied lm_head so both matrices are checked.
TINY = FamConfig(
    vocab_size=512, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    intermediate_size=128, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
    fam_length=4, block_size=16, memory_segments=2, eos_token_id=0)
FULL_BLOCKS = 5
TAIL = 7  # tokens of the partial 6th block: what decode sees before a block fills (docs/fam.md "Inference modes")

# docs/prompt-format.md: ids 0-3 of every Famulus tokenizer, in this order.
SPECIAL_TOKENS = ["<|endoftext|>", "<|file|>", "<|question|>", "<|answer|>"]
TOKENIZER_CONFIG = {  # the fields model/train/tokenizer.py writes for the real model
    "tokenizer_class": "PreTrainedTokenizerFast",
    "model_max_length": 1000000000,  # FAM has no context limit
    "bos_token": None,
    "eos_token": "<|endoftext|>",
    "unk_token": None,
    "pad_token": "<|endoftext|>",
    "add_bos_token": False,
    "add_eos_token": False,
    # @huggingface/tokenizers (JS) cleans up spaces before punctuation on decode unless told not to (its default
    # is true); the Rust library never does. Code needs " ." kept, and decode(encode(x)) == x.
    "clean_up_tokenization_spaces": False,
    "additional_special_tokens": SPECIAL_TOKENS[1:],
}
TOKENIZER_SAMPLES = [
    "def block_step(self, state, input_ids):\n    return self.lm_head(x)  # [b, V]\n",
    "const fam = new Float32Array(F * D); // état naïve, Grüße, 日本語のテキスト",
    "emoji 🦀🚀 👍🏽 and a family 👨\u200d👩\u200d👧 done.",
    "<|file|>a.ts\n",
    "<|file|>src/app.ts\nexport const x = 1;\n<|question|>Where is `x` defined?<|answer|>src/app.ts:1<|endoftext|>",
    "  indented\n\n\ttabs\r\nand   spaces  ",
]
# Tokenizer training text: the repo's own docs and sources, in sorted path order.
CORPUS_GLOBS = ["*.md", "docs/**/*.md", "model/**/*.py", "model/**/*.ts", "extension/**/*.ts", "webview/**/*.ts",
                "test/**/*.ts"]


def random_weights_(model: FamForCausalLM, seed: int) -> None:
    """Overwrite the training init (std 0.02, which gives near-uniform logits) with larger random weights, so that
    parity tests compare outputs that actually vary: linear std 0.1, embeddings and FAM std 0.5, RMSNorm 1 +- 0.2."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.Linear):
                mod.weight.copy_(0.1 * torch.randn(mod.weight.shape, generator=g))
            elif isinstance(mod, torch.nn.Embedding):
                mod.weight.copy_(0.5 * torch.randn(mod.weight.shape, generator=g))
            elif isinstance(mod, RMSNorm):
                mod.weight.copy_(1.0 + 0.4 * (torch.rand(mod.weight.shape, generator=g) - 0.5))
        fe = model.model.fam_embeddings
        fe.copy_(0.5 * torch.randn(fe.shape, generator=g))


def weights_of(model: FamForCausalLM) -> Dict[str, torch.Tensor]:
    """The state dict as it goes into model.safetensors: Hugging Face Llama names plus model.fam_embeddings;
    lm_head.weight is left out when tied (it is the same tensor as model.embed_tokens.weight)."""
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if model.cfg.tie_word_embeddings:
        del sd["lm_head.weight"]
    return sd


def write_model_dir(out: Path, cfg: FamConfig, weights: Dict[str, torch.Tensor], tokenizer: Tokenizer) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.to_json(), indent=2) + "\n")
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    tokenizer.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2) + "\n")
    back = load_file(str(out / "model.safetensors"))
    assert back.keys() == weights.keys(), f"safetensors round trip changed names: {sorted(back)} vs {sorted(weights)}"
    for k, v in weights.items():
        assert back[k].shape == v.shape and torch.equal(back[k], v), f"safetensors round trip changed {k}"


# ----------------------------------------------------------------------------------------------------------------
# Tokenizer: byte-level BPE, 512 tokens, the four special tokens first.

def corpus_files() -> List[Path]:
    found = set()
    for pattern in CORPUS_GLOBS:
        for p in REPO.glob(pattern):
            rel = p.relative_to(REPO).as_posix()
            if p.is_file() and not rel.startswith(("node_modules/", "test/fixtures/")):
                found.add(p)
    return sorted(found, key=lambda p: p.relative_to(REPO).as_posix())


def train_tokenizer(vocab_size: int) -> tuple:
    files = corpus_files()
    texts = [p.read_text(encoding="utf-8") for p in files]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    assert tok.get_vocab_size() == vocab_size, (
        f"BPE stopped at {tok.get_vocab_size()} tokens, wanted {vocab_size}: too little training text "
        f"({sum(map(len, texts))} characters in {len(files)} files)")
    for i, s in enumerate(SPECIAL_TOKENS):
        assert tok.token_to_id(s) == i, f"special token {s} has id {tok.token_to_id(s)}, wanted {i}"
    corpus = [{"path": p.relative_to(REPO).as_posix(), "chars": len(t)} for p, t in zip(files, texts)]
    return tok, corpus


def tokenizer_samples(tok: Tokenizer) -> tuple:
    """Python ids of TOKENIZER_SAMPLES; each must decode back to its string (byte-level BPE is lossless)."""
    samples, flat = [], []
    for s in TOKENIZER_SAMPLES:
        ids = tok.encode(s).ids
        back = tok.decode(ids, skip_special_tokens=False)
        assert back == s, f"decode(encode({s!r})) = {back!r}"
        samples.append({"text": s, "ids": ids, "offset": len(flat)})
        flat.extend(ids)
    return samples, torch.tensor(flat, dtype=torch.int64)


# ----------------------------------------------------------------------------------------------------------------
# State in the fixture layout (batch 0, row-major, token-major memory).

def ring_rows(t: torch.Tensor, cfg: FamConfig) -> tuple:
    """Memory ring K or V [1, G, n, d] (n = valid rows, oldest block first) -> ([m*B, G*d], n).

    Token-major: row j holds all G heads of ring token j. Fewer than m blocks so far: zero rows at the front,
    so the newest block is always the last B rows (the empty slots block_mask leaves out come first)."""
    _, G, n, d = t.shape
    rows = t[0].transpose(0, 1).reshape(n, G * d)  # [n, G*d]
    pad = torch.zeros(cfg.memory_segments * cfg.block_size - n, G * d)
    return torch.cat([pad, rows], dim=0).contiguous(), n


def state_tensors(prefix: str, state: FamState, cfg: FamConfig) -> Dict[str, torch.Tensor]:
    out = {}
    for l in range(cfg.num_hidden_layers):
        out[f"{prefix}.fam.{l}"] = state.fam[l][0].contiguous()  # [F, D]
        if cfg.memory_segments > 0:
            out[f"{prefix}.mem_k.{l}"], valid = ring_rows(state.mem_k[l], cfg)
            out[f"{prefix}.mem_v.{l}"], _ = ring_rows(state.mem_v[l], cfg)
    if cfg.memory_segments > 0:
        out[f"{prefix}.mem_valid"] = torch.tensor([valid], dtype=torch.int64)
    return out


def describe(name: str, logits: torch.Tensor) -> None:
    p = logits.softmax(-1)
    print(f"  {name}: logits std {logits.std().item():.3f}, mean max prob {p.max(-1).values.mean().item():.3f} "
          f"(uniform would be {1 / logits.shape[-1]:.4f})")


# ----------------------------------------------------------------------------------------------------------------
# Fixture 1: tiny FAM model, 5 blocks + a 7-token tail.

def fold_blocks(model: FamForCausalLM, state: FamState, ids: torch.Tensor, t: Dict[str, torch.Tensor],
                label: str) -> FamState:
    """docs/fam.md "One block step": folds in each of the FULL_BLOCKS full blocks of ids, keeping in t its logits (all
    rows) and the new state as block{i}.*. Returns the state after the last one."""
    B = model.cfg.block_size
    for i in range(FULL_BLOCKS):
        state, logits = model.block_step(state, ids[None, i * B:(i + 1) * B], logits="all")
        t[f"block{i}.logits"] = logits[0].contiguous()
        t.update(state_tensors(f"block{i}", state, model.cfg))
        describe(f"{label}block{i}.logits", logits[0])
    return state


def make_tiny(out: Path, tok: Tokenizer, corpus: list) -> Dict[str, torch.Tensor]:
    cfg, B = TINY, TINY.block_size
    torch.manual_seed(SEED)
    model = FamForCausalLM(cfg).eval()
    random_weights_(model, SEED)
    weights = weights_of(model)
    write_model_dir(out, cfg, weights, tok)

    g = torch.Generator().manual_seed(SEED + 1)
    ids = torch.randint(len(SPECIAL_TOKENS), cfg.vocab_size, (FULL_BLOCKS * B + TAIL,), generator=g)
    t: Dict[str, torch.Tensor] = {"input_ids": ids}
    with torch.no_grad():
        # docs/fam.md App. B.1: the F learned embeddings go up through all layers; fam[l] is their input to layer l.
        state = model.init_state(1)
        for l in range(cfg.num_hidden_layers):
            t[f"fam_init.{l}"] = state.fam[l][0].contiguous()
        state = fold_blocks(model, state, ids, t, "")
        # The tail: block rows are causal (X[0..t]) and never see this block's own new FAM, so rows 0..TAIL-1 of a
        # full block that starts with the tail do not depend on what fills the rest. Check that with two fillings.
        tail = ids[FULL_BLOCKS * B:]
        fillings = [torch.randint(len(SPECIAL_TOKENS), cfg.vocab_size, (B - TAIL,), generator=g),
                    torch.zeros(B - TAIL, dtype=torch.int64)]
        rows = [model.block_step(state, torch.cat([tail, f])[None], logits="all")[1][0, :TAIL] for f in fillings]
        gap = (rows[0] - rows[1]).abs().max().item()
        print(f"  tail rows 0..{TAIL - 1} under two fillings of the block differ by at most {gap:.3g}")
        assert gap <= 1e-6, f"tail logits depend on the tokens after them: {gap}"
        t["tail.logits"] = rows[0].contiguous()

    samples, sample_ids = tokenizer_samples(tok)
    t["tokenizer.sample_ids"] = sample_ids
    save_file(t, str(out / "expected.safetensors"), metadata={"format": "pt"})
    (out / "tokenizer_samples.json").write_text(json.dumps(
        {"samples": samples, "tokenizer_trained_on": corpus}, indent=2, ensure_ascii=False) + "\n")
    return weights


# Memory layouts other than tiny's own config, each run on tiny's weights and input ids: file -> the config fields it
# changes. The changes go into the file's metadata ("config", JSON), where the parity test reads them.
TINY_VARIANTS = {
    "expected-before-block.safetensors": {"fam_positions": "before_block"},
    "expected-no-fam-residual.safetensors": {"fam_positions": "before_block", "fam_residual": "none"},
}


def make_tiny_variants(out: Path) -> None:
    """tiny/expected-*.safetensors (TINY_VARIANTS): logits and state after every full block."""
    weights = load_file(str(out / "model.safetensors"))
    ids = load_file(str(out / "expected.safetensors"))["input_ids"]
    for name, changes in TINY_VARIANTS.items():
        cfg = dataclasses.replace(TINY, **changes)
        model = FamForCausalLM(cfg).eval()
        model.load_state_dict(weights, strict=not cfg.tie_word_embeddings)
        t: Dict[str, torch.Tensor] = {}
        with torch.no_grad():
            fold_blocks(model, model.init_state(1), ids, t, f"{name} ")
        save_file(t, str(out / name), metadata={"format": "pt", "config": json.dumps(changes, sort_keys=True)})


# ----------------------------------------------------------------------------------------------------------------
# Fixture 2: the same weights with F = 0, m = 0 against Hugging Face LlamaForCausalLM on one block.

def hf_llama(cfg: FamConfig):
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM

    rope = {"rope_theta": cfg.rope_theta}
    if int(transformers.__version__.split(".")[0]) >= 5:  # 5.x keeps RoPE settings in rope_parameters
        rope = {"rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta}}
    hf_cfg = LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads, head_dim=cfg.head_dim, hidden_act="silu",
        max_position_embeddings=4 * cfg.block_size, rms_norm_eps=cfg.rms_norm_eps, attention_bias=False,
        mlp_bias=False, tie_word_embeddings=cfg.tie_word_embeddings, bos_token_id=None,
        eos_token_id=cfg.eos_token_id, pad_token_id=None, attn_implementation="eager", **rope)
    print(f"  transformers {transformers.__version__}, attention {hf_cfg._attn_implementation}, "
          f"rope {getattr(hf_cfg, 'rope_parameters', None) or getattr(hf_cfg, 'rope_theta', None)}")
    return LlamaForCausalLM(hf_cfg).float().eval()


def make_tiny_llama(out: Path, tok: Tokenizer, tiny_weights: Dict[str, torch.Tensor]) -> None:
    """With F = 0 there is no FAM tensor: model.safetensors is tiny's minus model.fam_embeddings, i.e. a plain
    Llama checkpoint (docs/fam.md: any pretrained decoder can be turned into a FAM model)."""
    cfg = dataclasses.replace(TINY, fam_length=0, memory_segments=0)
    llama_weights = {k: v for k, v in tiny_weights.items() if k != "model.fam_embeddings"}
    write_model_dir(out, cfg, llama_weights, tok)

    g = torch.Generator().manual_seed(SEED + 2)
    ids = torch.randint(len(SPECIAL_TOKENS), cfg.vocab_size, (cfg.block_size,), generator=g)
    fam = FamForCausalLM(cfg).eval()  # its fam_embeddings parameter is [0, D]
    fam.load_state_dict({**llama_weights, "model.fam_embeddings": torch.zeros(0, cfg.hidden_size)}, strict=True)
    hf = hf_llama(cfg)
    res = hf.load_state_dict(tiny_weights, strict=False)
    print(f"  HF load of tiny's tensors: missing {res.missing_keys}, unexpected {res.unexpected_keys}")
    assert not res.missing_keys and res.unexpected_keys == ["model.fam_embeddings"], res
    hf.load_state_dict(llama_weights, strict=True)
    assert all(p.dtype == torch.float32 for p in hf.parameters()), "HF model is not float32"
    with torch.no_grad():
        hf_logits = hf(input_ids=ids[None], use_cache=False).logits[0].float()
        _, fam_logits = fam.block_step(fam.init_state(1), ids[None], logits="all")
        fam_logits = fam_logits[0]
    describe("hf.logits", hf_logits)
    abs_err = (fam_logits - hf_logits).abs().max().item()
    rel_err = abs_err / hf_logits.abs().max().item()
    print(f"  fam.py block_step (F=0, m=0) vs HF LlamaForCausalLM: max abs {abs_err:.3g}, "
          f"max rel (to max |logit|) {rel_err:.3g}")
    assert rel_err <= 1e-5, f"fam.py differs from Hugging Face Llama: rel {rel_err}"
    save_file({"input_ids": ids, "hf.logits": hf_logits.contiguous()}, str(out / "expected.safetensors"),
              metadata={"format": "pt"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(REPO / "test" / "fixtures"), help="folder that gets tiny/ and tiny-llama/")
    ap.add_argument("--only", choices=["all", "families"], default="all",
                    help="families: only families/ (needs no transformers)")
    args = ap.parse_args()
    torch.set_default_dtype(torch.float32)
    torch.use_deterministic_algorithms(True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, fixtures into {args.out}")
    print("families/")
    make_families(Path(args.out) / "families")
    if args.only == "families":
        return

    tok, corpus = train_tokenizer(TINY.vocab_size)
    print(f"tokenizer: {tok.get_vocab_size()} tokens, trained on {len(corpus)} files "
          f"({sum(c['chars'] for c in corpus)} characters)")
    print("tiny/")
    tiny_weights = make_tiny(Path(args.out) / "tiny", tok, corpus)
    make_tiny_variants(Path(args.out) / "tiny")
    print("tiny-llama/")
    make_tiny_llama(Path(args.out) / "tiny-llama", tok, tiny_weights)
    for sub in ("tiny", "tiny-llama"):
        d = Path(args.out) / sub
        sizes = {p.name: p.stat().st_size for p in sorted(d.iterdir())}
        print(f"{sub}/: {sum(sizes.values())} bytes: {sizes}")


if __name__ == "__main__":
    main()
