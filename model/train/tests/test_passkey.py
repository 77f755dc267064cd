"""eval/passkey.py's contract with its callers (ladder.sh, finetune.sh, reread_call.sh), on the tiny fixture model (CPU):

    python3 -m pytest model/train/tests/test_passkey.py -q
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "eval" / "passkey.py"
TINY = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "tiny"


def run(out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--weights", str(TINY), "--out", str(out),
                           "--lengths", "256,512", "--trials", "2", *args], capture_output=True, text=True)


def test_a_whole_grid_exits_0_with_only_the_depths_asked(tmp_path):
    res = run(tmp_path / "pk.json", "--depths", "start,end")
    assert res.returncode == 0, res.stderr
    cells = json.load(open(tmp_path / "pk.json"))["cells"]
    assert [(c["length"], c["depth"]) for c in cells] == [(256, "start"), (256, "end"), (512, "start"), (512, "end")]
    assert all(c["trials"] == 2 for c in cells)


def test_cells_count_trials_by_blocks_back(tmp_path):
    res = run(tmp_path / "pk.json", "--depths", "start,end")
    assert res.returncode == 0, res.stderr
    for c in json.load(open(tmp_path / "pk.json"))["cells"]:
        by = c["by_blocks_back"]
        assert sum(v["trials"] for v in by.values()) == c["trials"]
        assert sum(v["correct"] for v in by.values()) == c["correct"]
    # the tiny model's blocks are 16 tokens: a key at the start of a 512-token prompt is 20+ blocks back, at the end a few
    # (the key sentence and the question alone are some 40 tokens)
    cells = {(c["length"], c["depth"]): c["by_blocks_back"] for c in json.load(open(tmp_path / "pk.json"))["cells"]}
    assert min(int(d) for d in cells[(512, "start")]) >= 20 and max(int(d) for d in cells[(512, "end")]) <= 5


def test_cells_give_the_share_of_key_digits_right(tmp_path):
    """digits_right: a share of the key's tokens, per cell and per blocks back; a correct trial has all of them."""
    res = run(tmp_path / "pk.json", "--depths", "start,end")
    assert res.returncode == 0, res.stderr
    for c in json.load(open(tmp_path / "pk.json"))["cells"]:
        assert 0.0 <= c["digits_right"] <= 1.0
        if c["correct"]:  # a correct trial's digits are all right
            assert c["digits_right"] > 0 and (c["correct"] < c["trials"] or c["digits_right"] == 1.0)
        for v in c["by_blocks_back"].values():
            assert 0.0 <= v["digits_right"] <= 1.0


def test_digit_share_pools_every_token():
    sys.path.insert(0, str(SCRIPT.parent))
    from passkey import digit_share
    assert digit_share([np.array([True, False, True, True, False]), np.array([True, True, True, True, True])]) == 0.8


def test_blocks_back_counts_from_the_key_sentence_to_the_answer():
    sys.path.insert(0, str(SCRIPT.parent))
    from passkey import blocks_back
    ids = np.arange(100) % 50  # [20, 21] first occurs at 20 (block 1 of 16 tokens), again at 70 (block 4)
    # the answer's 6 tokens end the sequence: the first is predicted at position 93, in block 5
    assert blocks_back(ids, [20, 21], answer_len=6, block_size=16) == 5 - 1
    assert blocks_back(ids, [3, 4], answer_len=6, block_size=16) == 5 - 0


def test_a_grid_cut_by_the_deadline_exits_3_and_keeps_whole_cells(tmp_path):
    res = run(tmp_path / "pk.json", "--deadline", "0")
    assert res.returncode == 3, res.stderr
    assert "deadline: skipping length 256" in res.stdout
    assert json.load(open(tmp_path / "pk.json"))["cells"] == []


def test_an_unknown_depth_is_refused(tmp_path):
    res = run(tmp_path / "pk.json", "--depths", "start,bottom")
    assert res.returncode != 0 and "--depths: choose from start, middle, end" in res.stderr


def test_blank_fam_runs_the_grid_and_says_so(tmp_path):
    res = run(tmp_path / "pk.json", "--depths", "start", "--blank-fam")
    assert res.returncode == 0, res.stderr
    result = json.load(open(tmp_path / "pk.json"))
    assert result["ablation"] == "blank_fam" and len(result["cells"]) == 2
    assert run(tmp_path / "plain.json", "--depths", "start").returncode == 0
    assert "ablation" not in json.load(open(tmp_path / "plain.json"))


def test_lead_puts_filler_before_the_prompt_and_moves_the_key_no_closer(tmp_path):
    assert run(tmp_path / "plain.json", "--depths", "start").returncode == 0
    res = run(tmp_path / "lead.json", "--depths", "start", "--lead", "32")
    assert res.returncode == 0, res.stderr
    plain, lead = (json.load(open(tmp_path / f)) for f in ("plain.json", "lead.json"))
    assert lead["lead"] == 32 and "lead" not in plain
    for a, b in zip(plain["cells"], lead["cells"]):
        assert b["tokens"] == a["tokens"] + 32
        # 32 tokens are two whole blocks of the tiny model: the key and the question move together
        assert b["by_blocks_back"].keys() == a["by_blocks_back"].keys()


def test_a_negative_lead_is_refused(tmp_path):
    res = run(tmp_path / "pk.json", "--lead", "-1")
    assert res.returncode == 2 and "--lead" in res.stderr and not (tmp_path / "pk.json").exists()


def test_layout_flags_run_the_weights_at_another_block_size(tmp_path):
    res = run(tmp_path / "b32.json", "--depths", "start", "--block-size", "32", "--memory-segments", "0")
    assert res.returncode == 0, res.stderr
    result = json.load(open(tmp_path / "b32.json"))
    assert result["layout"]["block_size"] == 32 and result["layout"]["memory_segments"] == 0
    # the tiny model's own blocks are 16 tokens (20+ blocks back at the start of 512); at 32 half as many
    back = [int(d) for c in result["cells"] if c["length"] == 512 for d in c["by_blocks_back"]]
    assert back and all(10 <= d < 16 for d in back)


def test_blank_fam_starts_every_block_from_the_initial_fam():
    """common.blank_fam: block 2's logits are those of a state whose FAM was reset to the initial one (and not
    those of the carried FAM: in the tiny random model the FAM matters)."""
    sys.path.insert(0, str(SCRIPT.parent))
    import torch
    from common import blank_fam, load_model
    from fam import FamState
    model = load_model(str(TINY))
    B = model.cfg.block_size
    ids = torch.randint(4, model.cfg.vocab_size, (2, 2 * B), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        s1, _ = model.block_step(model.init_state(2), ids[:, :B], logits="none")
        _, carried = model.block_step(s1, ids[:, B:], logits="all")
        reset = FamState(model.init_state(2).fam, s1.mem_k, s1.mem_v, s1.blocks)
        _, expected = model.block_step(reset, ids[:, B:], logits="all")
        blank_fam(model)
        a1, _ = model.block_step(model.init_state(2), ids[:, :B], logits="none")
        _, ablated = model.block_step(a1, ids[:, B:], logits="all")
    assert torch.allclose(ablated, expected, atol=1e-5)
    assert not torch.allclose(carried, expected, atol=1e-3)
