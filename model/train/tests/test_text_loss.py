"""eval/text_loss.py on the tiny fixture model: the score lines up each position with the next token, over whole
blocks, and the layout flags change the block size.

    python3 -m pytest model/train/tests/test_text_loss.py -q
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "test" / "fixtures" / "tiny"
sys.path.insert(0, str(ROOT / "model" / "train" / "eval"))
from common import load_model  # noqa: E402
from text_loss import text_loss, workspace_ids  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

SCRIPT = ROOT / "model" / "train" / "eval" / "text_loss.py"


def test_text_loss_scores_every_position_against_the_next_token():
    model = load_model(str(TINY))
    B = model.cfg.block_size
    tok = Tokenizer.from_file(str(TINY / "tokenizer.json"))
    ids, used = workspace_ids(tok, [str(ROOT / "model/train/*.py")], 5 * B + 3)
    assert len(ids) == 5 * B + 3 and used
    got = text_loss(model, ids)
    x = torch.from_numpy(ids[None])
    _, logits = model.forward_blocks(model.init_state(1), x[:, :5 * B])
    want = F.cross_entropy(logits[0].float(), x[0, 1:5 * B + 1])
    assert got["tokens"] == 5 * B and np.isclose(got["loss"], want.item(), rtol=1e-5)
    assert got["accuracy"] == float((logits[0].argmax(-1) == x[0, 1:5 * B + 1]).float().mean())


def test_the_script_runs_in_another_layout(tmp_path):
    res = subprocess.run([sys.executable, str(SCRIPT), "--weights", str(TINY), "--out", str(tmp_path / "l.json"),
                          "--files", str(ROOT / "model/train/*.py"), "--tokens", "200", "--block-size", "32"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    result = json.loads((tmp_path / "l.json").read_text())
    assert result["layout"]["block_size"] == 32 and result["tokens"] == 192 and result["files"] >= 1
    assert np.isfinite(result["loss"]) and 0 <= result["accuracy"] <= 1


def test_folders_that_match_are_skipped_and_too_little_text_is_refused(tmp_path):
    (tmp_path / "dir.py").mkdir()  # a folder whose name matches the glob
    (tmp_path / "a.py").write_text("x = 1\n" * 20)
    run = lambda pattern, out: subprocess.run(  # noqa: E731
        [sys.executable, str(SCRIPT), "--weights", str(TINY), "--out", str(tmp_path / out), "--files", pattern],
        capture_output=True, text=True)
    res = run(str(tmp_path / "*.py"), "l.json")
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "l.json").read_text())["files"] == 1
    res = run(str(tmp_path / "*.md"), "none.json")  # nothing matches
    assert res.returncode != 0 and "fewer than one block" in res.stderr and not (tmp_path / "none.json").exists()
