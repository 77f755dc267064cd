"""lora_fam.py: a family checkpoint loads into fam.py exactly, LoRA starts where the checkpoint is and merges into
the same function, the row streams carry on or start fresh, and the export is a folder that loads back as FAM.

    python3 -m pytest model/train/tests/test_lora_fam.py -q
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import export  # noqa: E402
import lora_fam  # noqa: E402
from fam import FamForCausalLM  # noqa: E402

FAMILIES = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "families"
LAYOUT = dict(fam_length=4, block_size=16, memory_segments=1, fam_positions="before_block", fam_residual="none")


def logits(model: FamForCausalLM, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.forward_blocks(model.init_state(ids.shape[0]), ids)[1]


def test_checkpoint_loads_every_tensor_and_keeps_the_family():
    model, dtype = lora_fam.load_checkpoint(FAMILIES / "qwen2.5", LAYOUT)
    assert dtype == torch.bfloat16
    assert model.cfg.model_type == "qwen2" and model.cfg.qkv_bias and model.cfg.fam_length == 4
    stored = export.weight_files(FAMILIES / "qwen2.5")
    assert [p.name for p in stored] == ["model.safetensors"]  # expected.safetensors is not a weight file
    bias = model.state_dict()["model.layers.0.self_attn.q_proj.bias"]
    assert bias.abs().sum() > 0  # the checkpoint's, not an initialisation


def test_lora_starts_at_the_checkpoint_and_merges_into_the_same_function():
    torch.manual_seed(0)
    model, _ = lora_fam.load_checkpoint(FAMILIES / "llama3", LAYOUT)
    ids = torch.randint(0, 300, (2, 32))
    base = logits(model, ids)
    trainable = lora_fam.add_lora(model, lora_fam.LoraConfig(rank=2, alpha=4.0))
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "model.fam_embeddings" in names and all("lora_" in n or n == "model.fam_embeddings" for n in names)
    assert len(trainable) == 1 + 2 * 7 * model.cfg.num_hidden_layers
    assert torch.equal(logits(model, ids), base)  # B = 0: the adapters change nothing yet
    for n, p in model.named_parameters():
        if "lora_b" in n:
            p.data.normal_(0, 0.05)
    adapted = logits(model, ids)
    assert (adapted - base).abs().max() > 1e-3
    lora_fam.merge_lora(model)
    assert not any("lora" in n for n in model.state_dict())
    assert torch.allclose(logits(model, ids), adapted, atol=1e-4)


def test_rows_continue_a_carried_stream_and_restart_a_fresh_one():
    docs = [np.arange(100, 140), np.arange(200, 230)]
    rows = lora_fam.Rows(docs, None, eos=0, cfg=lora_fam.AdaptConfig(), batch=2, seed=1)
    a = rows.next(16, fresh=True)
    b = rows.next(16, fresh=False)
    assert a.shape == (2, 17) and (a[:, -1] == b[:, 0]).all()  # chunks overlap by one id
    for row in np.concatenate([a, b[:, 1:]], axis=1):  # one stream: each document's ids in order, then end of text
        runs = np.split(row, np.where(row == 0)[0] + 1)
        for run in runs[1:-1]:
            assert run[-1] == 0 and (np.diff(run[:-1]) == 1).all()


def test_plain_passkey_holds_the_key_and_asks_for_it():
    tok = Tokenizer.from_file(str(FAMILIES / "qwen2.5" / "tokenizer.json"))
    pk = lora_fam.PlainPassKey(tok)
    prompt, answer = pk.sample("48213", 300, 0.5)
    text = tok.decode(prompt)
    assert "The pass key is 48213" in text and text.endswith("What is the pass key? The pass key is")
    assert tok.decode(answer) == " 48213."
    assert abs(len(prompt) - 300) < 40


def test_export_is_a_fam_model_folder_with_the_family_config(tmp_path):
    folder = FAMILIES / "llama3"
    model, dtype = lora_fam.load_checkpoint(folder, LAYOUT)
    lora_fam.add_lora(model, lora_fam.LoraConfig(rank=2, alpha=4.0))
    lora_fam.merge_lora(model)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    names = lora_fam.export_folder(model, folder, tmp_path, dtype, tok, seed=3)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["rope_scaling"]["rope_type"] == "llama3" and config["max_position_embeddings"] == 1024
    assert config["fam_length"] == 4 and config["torch_dtype"] == "bfloat16"
    assert {"tokenizer.json", "tokenizer_config.json", "expected.safetensors", "model.safetensors"} <= set(names)
    back = export.load(tmp_path)
    assert back.cfg.model_type == "llama" and back.cfg.rope_scaling["rope_type"] == "llama3"
    assert back.state_dict()["model.fam_embeddings"].shape == (4, model.cfg.hidden_size)
