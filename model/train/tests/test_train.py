"""Tests of train.py on the CPU: the conversion of exported weights to another memory layout (Fig. 3a, ladder.sh),
the loss and gradient rules, and what each call writes to train_log.jsonl.

    python3 -m pytest model/train/tests/test_train.py -q
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import export  # noqa: E402
import train  # noqa: E402
from corpus_fixture import write_split  # noqa: E402
from fam import FamConfig, FamForCausalLM  # noqa: E402

TOKENIZER = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "tiny"
CFG = FamConfig(vocab_size=512, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                intermediate_size=64, fam_length=4, block_size=8, memory_segments=1)


@pytest.fixture
def exported(tmp_path):
    torch.manual_seed(0)
    model = FamForCausalLM(CFG)
    export.write(model, TOKENIZER, tmp_path / "init")
    return tmp_path / "init", export.load(tmp_path / "init")


@pytest.mark.parametrize("fam_length,memory_segments,fam", [(4, 0, "kept"), (4, 2, "kept"), (2, 1, "random"),
                                                            (0, 1, "none"), (0, 4, "none")])
def test_init_from_converts_the_memory_layout(exported, fam_length, memory_segments, fam):
    folder, source = exported
    torch.manual_seed(1)
    model = FamForCausalLM(dataclasses.replace(CFG, fam_length=fam_length, memory_segments=memory_segments))
    message = train.init_from(model, folder)
    assert f"F={fam_length} m={memory_segments}" in message and f"initial FAM {fam}" in message
    want = source.state_dict()
    for name, t in model.state_dict().items():
        if name == "model.fam_embeddings" and fam != "kept":
            assert t.shape == (fam_length, CFG.hidden_size)
        else:
            assert torch.equal(t, want[name]), name


def test_init_from_moves_to_another_block_size(exported):
    """A block-size ladder (ladder.sh) fine-tunes the same weights at a smaller or larger B."""
    folder, source = exported
    model = FamForCausalLM(dataclasses.replace(CFG, block_size=CFG.block_size * 4))
    message = train.init_from(model, folder)
    assert f"B={CFG.block_size * 4} F={CFG.fam_length}" in message and "initial FAM kept" in message
    want = source.state_dict()
    for name, t in model.state_dict().items():
        assert torch.equal(t, want[name]), name


def test_init_from_refuses_another_model_shape(exported):
    folder, _ = exported
    with pytest.raises(AssertionError, match="differs"):
        train.init_from(FamForCausalLM(dataclasses.replace(CFG, hidden_size=64)), folder)


def test_a_non_finite_gradient_changes_nothing():
    torch.manual_seed(0)
    model = FamForCausalLM(CFG)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for p in model.parameters():
        p.grad = torch.full_like(p, float("nan"))
    gnorm, applied = train.apply_gradients(model, opt, grad_clip=1.0)
    assert not applied and not torch.isfinite(gnorm)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not opt.state  # no moments were touched

    for p in model.parameters():
        p.grad = torch.ones_like(p)
    gnorm, applied = train.apply_gradients(model, opt, grad_clip=1.0)
    assert applied and torch.isfinite(gnorm)
    assert not torch.equal(before["lm_head.weight"], model.state_dict()["lm_head.weight"])


@pytest.mark.parametrize("fam_length", [4, 0])
def test_the_answer_loss_reaches_earlier_blocks_only_through_the_fam(fam_length):
    """docs/fam.md: no stop-gradient across blocks. With m = 0 the FAM is the only path from block 0 to block 1, so a
    loss on block 1 gives block 0's tokens a gradient with FAM and exactly none without (BSWA M0)."""
    torch.manual_seed(0)
    model = FamForCausalLM(dataclasses.replace(CFG, fam_length=fam_length, memory_segments=0))
    B = CFG.block_size
    ids = torch.randint(0, CFG.vocab_size, (1, 2 * B))
    emb = model.model.embed_tokens(ids).detach().requires_grad_(True)
    blocks = iter([emb[:, :B], emb[:, B:]])
    model.model.embed_tokens.forward = lambda _ids: next(blocks)  # the blocks' embeddings as leaves
    state, _ = model.block_step(model.init_state(1), ids[:, :B], logits="none")
    _, logits = model.block_step(state, ids[:, B:], logits="last")
    torch.nn.functional.cross_entropy(logits, ids[:, -1]).backward()
    reached = emb.grad[0, :B].abs().sum().item()
    assert (reached > 0) == (fam_length > 0), reached
    assert emb.grad[0, B:].abs().sum().item() > 0


@pytest.mark.parametrize("fam_length", [4, 0])
def test_fam_rms_max_is_the_largest_layer_rms(fam_length):
    model = FamForCausalLM(dataclasses.replace(CFG, fam_length=fam_length))
    state = model.init_state(2)
    if fam_length == 0:
        assert train.fam_rms_max(state) is None  # BSWA: no FAM
        return
    state.fam = [torch.full_like(t, 3.0 if i == 1 else 0.0) for i, t in enumerate(state.fam)]
    assert train.fam_rms_max(state) == pytest.approx(3.0)


def test_every_call_starts_its_log_with_the_whole_config(tmp_path):
    """A run's recipe travels with its curves: each call of train.py writes start_of_call (step, resumed, the
    config in force) before its steps, and a resumed call logs the checkpoint's config, not new --set values."""
    tok = Tokenizer.from_file(str(TOKENIZER / "tokenizer.json"))
    text = "def add(a, b):\n    return a + b\n\n" * 40
    write_split(tmp_path, "train", tok, {"p": [[f"p/m{i}.py", text] for i in range(4)]})
    write_split(tmp_path, "val", tok, {"v": [["v/m.py", text]]})
    shutil.copy(TOKENIZER / "tokenizer.json", tmp_path / "tokenizer.json")
    run = tmp_path / "run"
    model = {k: getattr(CFG, k) for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                          "num_key_value_heads", "intermediate_size", "fam_length", "block_size")}
    sets = [f"model={json.dumps(model)}", "batch=2", "seq_len=16", "max_steps=2", "warmup_steps=1",
            "precision=fp32", "workers=1", "val_batches=1", "log_every=1", "mix.task_prob=0", "seed=7"]
    command = [sys.executable, str(Path(train.__file__)), "--run", str(run), "--data", str(tmp_path), "--corpus",
               str(tmp_path), "--deadline", str(time.time() + 600), "--max-steps-this-call", "1"]
    subprocess.run(command + [a for s in sets for a in ("--set", s)], check=True, capture_output=True)
    subprocess.run(command + ["--resume", "--set", "seed=8"], check=True, capture_output=True)
    records = [json.loads(line) for line in open(run / "train_log.jsonl")]
    starts = [r["start_of_call"] for r in records if "start_of_call" in r]
    assert [(s["step"], s["resumed"]) for s in starts] == [(0, False), (1, True)]
    assert list(records[0]) == ["start_of_call"]  # first, before any step
    for s in starts:
        assert s["config"]["seed"] == 7 and s["config"]["batch"] == 2 and s["config"]["model"] == model
        assert s["config"]["mix"]["task_prob"] == 0 and s["config"]["max_steps"] == 2
    assert sum("end_of_call" in r for r in records) == 2
