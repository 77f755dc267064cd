"""Tiny random checkpoints of today's open model families, in each family's own files, for the engine's tests.

Each FAMILIES entry becomes test/fixtures/families/<name>/: a config.json with the family's real fields (model_type,
biases, head_dim, rope_scaling, sliding_window, tied or not), weights in the family's usual 16-bit type, a tokenizer
of the family's kind (byte-level BPE with the family's pre-tokenizer split, or SentencePiece-style BPE with byte
fallback) with its special tokens, a tokenizer_config.json with a chat template written here in the family's turn
format, and expected.safetensors: what model/train/fam.py computes for them with FAM length 0 (BSWA) block by block.

No weights, tokenizers or templates come from a model hub: everything is made here from seeds. Run through
make_fixtures.py (`--only families`); test/parity/family-parity.test.ts and test/unit/chat-template.test.ts use them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Dict, List

import torch
from safetensors.torch import save_file
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from fam import FamConfig, FamForCausalLM, RMSNorm

SEED = 20240417
# The parity layout: FAM length 0 (a checkpoint without trained FAM), blocks of 16 with one past block in memory,
# so blocks 1 and 2 also check the memory ring. The files' config.json keeps the family's own fields; these go into
# expected.safetensors' metadata, where the parity test reads them.
PARITY = {"fam_length": 0, "block_size": 16, "memory_segments": 1}
BLOCKS = 3
CHECKED_ROWS = (0, 7, 15)  # logits rows kept per block (all rows would triple the fixture size)

# Byte-level BPE pre-tokenizer splits, as the families publish them: Llama 3 groups up to three digits, Qwen one.
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
              r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# Chat templates in each family's turn format, written for these fixtures.
LLAMA3_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}")
QWEN25_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}"
    "{%- if not (loop.first and message['role'] == 'system') %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
QWEN3_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' and '</think>' in message['content'] %}"
    "{%- set content = message['content'].split('</think>')[-1].lstrip('\\n') %}"
    "{%- else %}{%- set content = message['content'] %}{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + content + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}")
SMOLLM2_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{- '<|im_start|>system\\nYou are a helpful AI assistant.<|im_end|>\\n' }}{%- endif %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
MISTRAL_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif %}"
    "{%- if message['role'] == 'user' %}{{- '[INST] ' + message['content'] + ' [/INST]' }}"
    "{%- elif message['role'] == 'assistant' %}{{- message['content'] + eos_token }}"
    "{%- else %}{{- raise_exception('Only user and assistant roles are supported') }}{%- endif %}"
    "{%- endfor %}")

# name -> the family's config.json fields (real field names and kinds of values, tiny sizes), tokenizer kind,
# special tokens (first = where they go: "front" ids 0.., "back" after the learned vocabulary, as the families do),
# tokenizer_config fields and weight dtype. vocab_size "pad" rounds the tokenizer's size up to a multiple of 16
# (real checkpoints carry unused embedding rows).
FAMILIES: Dict[str, dict] = {
    "llama3": {
        "config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
                   "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                   "num_key_value_heads": 1, "head_dim": 16, "hidden_act": "silu", "max_position_embeddings": 1024,
                   "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "attention_bias": False, "mlp_bias": False,
                   "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
                   "tie_word_embeddings": True, "torch_dtype": "bfloat16"},
        "dtype": torch.bfloat16, "shards": 2,
        "tokenizer": {"kind": "bytelevel", "split": LLAMA3_SPLIT, "digits": False,
                      "specials": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                   "<|end_header_id|>", "<|eot_id|>"], "at": "back"},
        "bos": "<|begin_of_text|>", "eos": ["<|end_of_text|>", "<|eot_id|>"],
        "tokenizer_config": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
                             "chat_template": LLAMA3_TEMPLATE},
    },
    "qwen2.5": {
        "config": {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 32,
                   "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                   "num_key_value_heads": 2, "hidden_act": "silu", "max_position_embeddings": 32768,
                   "max_window_layers": 2, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "rope_scaling": None,
                   "sliding_window": 32768, "use_sliding_window": False, "tie_word_embeddings": True,
                   "torch_dtype": "bfloat16"},
        "dtype": torch.bfloat16, "vocab": "pad",
        "tokenizer": {"kind": "bytelevel", "split": QWEN_SPLIT, "digits": False,
                      "specials": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], "at": "back"},
        "bos": None, "eos": ["<|im_end|>"],
        "tokenizer_config": {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                             "chat_template": QWEN25_TEMPLATE},
    },
    "qwen3": {
        "config": {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 32,
                   "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                   "num_key_value_heads": 2, "head_dim": 16, "hidden_act": "silu",
                   "max_position_embeddings": 40960, "max_window_layers": 2, "rms_norm_eps": 1e-6,
                   "rope_theta": 1000000.0, "rope_scaling": None, "attention_bias": False,
                   "sliding_window": None, "use_sliding_window": False, "tie_word_embeddings": True,
                   "torch_dtype": "bfloat16"},
        "dtype": torch.bfloat16, "vocab": "pad",
        "tokenizer": {"kind": "bytelevel", "split": QWEN_SPLIT, "digits": False,
                      "specials": ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"],
                      "at": "back"},
        "bos": None, "eos": ["<|im_end|>", "<|endoftext|>"],
        "tokenizer_config": {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                             "chat_template": QWEN3_TEMPLATE},
    },
    "smollm2": {
        "config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
                   "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                   "num_key_value_heads": 4, "hidden_act": "silu", "max_position_embeddings": 8192,
                   "rms_norm_eps": 1e-5, "rope_theta": 100000, "rope_scaling": None, "attention_bias": False,
                   "mlp_bias": False, "tie_word_embeddings": True, "torch_dtype": "bfloat16"},
        "dtype": torch.bfloat16,
        "tokenizer": {"kind": "bytelevel", "split": None, "digits": True,
                      "specials": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], "at": "front"},
        "bos": "<|im_start|>", "eos": ["<|im_end|>"],
        "tokenizer_config": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>",
                             "unk_token": "<|endoftext|>", "chat_template": SMOLLM2_TEMPLATE},
    },
    "mistral": {
        "config": {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 32,
                   "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                   "num_key_value_heads": 1, "hidden_act": "silu", "max_position_embeddings": 32768,
                   "rms_norm_eps": 1e-5, "rope_theta": 1000000.0, "sliding_window": 4096,
                   "tie_word_embeddings": False, "torch_dtype": "float16"},
        "dtype": torch.float16,
        "tokenizer": {"kind": "sentencepiece", "specials": ["<unk>", "<s>", "</s>", "[INST]", "[/INST]"],
                      "at": "front"},
        "bos": "<s>", "eos": ["</s>"],
        "tokenizer_config": {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                             "chat_template": MISTRAL_TEMPLATE},
    },
}

# Tokenizer training text: a little code and prose, enough for a few dozen merges.
CORPUS = [
    "def retry_with_backoff(fn, attempts=3):\n    for i in range(attempts):\n        try:\n            return fn()\n"
    "        except Exception:\n            time.sleep(2 ** i)\n",
    "export function startServer(port: number): Server {\n  const app = express();\n  return app.listen(port);\n}\n",
    "The queue leases a job to one worker at a time; an expired lease puts the job back for another worker.\n",
    "Where is the server started? What does the retry function do? Summarize the file for me, please.\n",
    "class Queue:\n    \"\"\"Jobs waiting for a worker.\"\"\"\n    def push(self, job):\n        self.jobs.append(job)\n",
]
SAMPLES = [
    "def push(self, job):\n    return 42  # the answer\n",
    "Grüße, 日本語 and emoji 🦀 in one line.",
    "  indented\n\n\ttabs\r\nand   spaces  ",
]
MERGES = 48


def byte_level_tokenizer(spec: dict) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=spec["split"] is None)
    parts = []
    if spec["digits"]:
        parts.append(pre_tokenizers.Digits(individual_digits=True))
    if spec["split"] is not None:
        parts.append(pre_tokenizers.Split(Regex(spec["split"]), behavior="isolated"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(parts + [byte_level]) if parts else byte_level
    tok.decoder = decoders.ByteLevel()
    front = spec["specials"] if spec["at"] == "front" else []
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=len(front) + len(alphabet) + MERGES, special_tokens=front,
                                  initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    if spec["at"] == "back":
        tok.add_special_tokens(spec["specials"])
    return tok


def sentencepiece_tokenizer(spec: dict) -> Tokenizer:
    """SentencePiece-style BPE as Llama 2 / Mistral ship it: '▁' for spaces (Metaspace), byte fallback tokens
    <0x00>..<0xFF> right after the specials, then characters and merges."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    chars = sorted(set("".join(CORPUS).replace(" ", "▁")) | {"▁"})
    trainer = trainers.BpeTrainer(vocab_size=len(spec["specials"]) + 256 + len(chars) + MERGES,
                                  special_tokens=spec["specials"] + byte_tokens, initial_alphabet=chars,
                                  limit_alphabet=len(chars), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    # The byte tokens are vocabulary, not special: they decode through ByteFallback.
    data = json.loads(tok.to_str())
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] in spec["specials"]]
    return Tokenizer.from_str(json.dumps(data))


def random_weights_(model: FamForCausalLM, seed: int) -> None:
    """Weights that make logits vary: linear std 0.1 (biases 0.1 too), embeddings 0.5, every RMSNorm 1 +- 0.2."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.Linear):
                mod.weight.copy_(0.1 * torch.randn(mod.weight.shape, generator=g))
                if mod.bias is not None:
                    mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=g))
            elif isinstance(mod, torch.nn.Embedding):
                mod.weight.copy_(0.5 * torch.randn(mod.weight.shape, generator=g))
            elif isinstance(mod, RMSNorm):
                mod.weight.copy_(1.0 + 0.4 * (torch.rand(mod.weight.shape, generator=g) - 0.5))


def save_weights(out: Path, weights: Dict[str, torch.Tensor], shards: int) -> None:
    """model.safetensors, or `shards` files with a model.safetensors.index.json as the hubs shard them."""
    if shards == 1:
        save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
        return
    names = list(weights)
    per = -(-len(names) // shards)
    weight_map = {}
    for i in range(shards):
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: weights[n] for n in names[i * per:(i + 1) * per]}
        save_file(part, str(out / file), metadata={"format": "pt"})
        weight_map.update({n: file for n in part})
    total = sum(t.numel() * t.element_size() for t in weights.values())
    (out / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2) + "\n")


def make_family(out: Path, name: str, spec: dict, seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tspec = spec["tokenizer"]
    tok = byte_level_tokenizer(tspec) if tspec["kind"] == "bytelevel" else sentencepiece_tokenizer(tspec)
    n_tok = tok.get_vocab_size()
    vocab = -(-n_tok // 16) * 16 if spec.get("vocab") == "pad" else n_tok
    ids_of = lambda tokens: [tok.token_to_id(t) for t in tokens]  # noqa: E731
    config = {**spec["config"], "vocab_size": vocab,
              "bos_token_id": None if spec["bos"] is None else tok.token_to_id(spec["bos"])}
    eos = ids_of(spec["eos"])
    config["eos_token_id"] = eos[0] if len(eos) == 1 else eos
    config = dict(sorted(config.items()))
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": False, "add_eos_token": False,
         "clean_up_tokenization_spaces": False, "model_max_length": 131072, **spec["tokenizer_config"]},
        indent=2, ensure_ascii=False) + "\n")

    cfg = FamConfig.load(str(out / "config.json"))
    cfg = dataclasses.replace(cfg, **PARITY)
    torch.manual_seed(seed)
    model = FamForCausalLM(cfg).eval()
    random_weights_(model, seed)
    sd = {k: v.detach().to(spec["dtype"]).contiguous() for k, v in model.state_dict().items()
          if k != "model.fam_embeddings" and not (cfg.tie_word_embeddings and k == "lm_head.weight")}
    save_weights(out, sd, spec.get("shards", 1))
    # The reference computes in float32 from the stored 16-bit values, as the engine does on the CPU.
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)

    write_expected(out, model, tok, seed + 1, PARITY)
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"  {name}: vocab {n_tok} (config {vocab}), {sum(v.numel() for v in sd.values())} parameters "
          f"{spec['dtype']}, {size} bytes")


def write_expected(out: Path, model: FamForCausalLM, tok: Tokenizer, seed: int, changes: dict) -> None:
    """out/expected.safetensors for the engine's parity tests: BLOCKS blocks of random ids (seed) through `model`
    as it stands (float32), CHECKED_ROWS of each block's logits, and the tokenizer's ids for SAMPLES. `changes`:
    the config fields the engine must apply to the folder's config.json to compute the same (metadata)."""
    g = torch.Generator().manual_seed(seed)
    B = model.cfg.block_size
    ids = torch.randint(0, tok.get_vocab_size(), (BLOCKS * B,), generator=g)
    t: Dict[str, torch.Tensor] = {"input_ids": ids}
    with torch.no_grad():
        state = model.init_state(1)
        for b in range(BLOCKS):
            state, logits = model.block_step(state, ids[None, b * B:(b + 1) * B], logits="all")
            t[f"block{b}.logits"] = logits[0, list(CHECKED_ROWS)].contiguous()
    sample_ids: List[int] = []
    samples = []
    for s in SAMPLES:
        enc = tok.encode(s, add_special_tokens=False).ids
        samples.append({"text": s, "offset": len(sample_ids), "length": len(enc)})
        sample_ids += enc
    t["tokenizer.sample_ids"] = torch.tensor(sample_ids, dtype=torch.int64)
    save_file(t, str(out / "expected.safetensors"), metadata={
        "format": "pt", "config": json.dumps(changes, sort_keys=True), "rows": json.dumps(list(CHECKED_ROWS)),
        "samples": json.dumps(samples, ensure_ascii=False)})


def make_families(out: Path) -> None:
    for i, (name, spec) in enumerate(FAMILIES.items()):
        make_family(out / name, name, spec, SEED + 100 * i)
