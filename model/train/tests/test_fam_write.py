"""eval/fam_write.py: the FAM rows' attention share on the previous FAM, on the tiny fixture model (CPU).

    python3 -m pytest model/train/tests/test_fam_write.py -q
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
import fam_write  # noqa: E402
from common import load_model  # noqa: E402

TINY = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "tiny"


def test_blind_keys_give_the_previous_fam_its_share_of_the_rows_seen():
    """With every key zero the FAM rows attend uniformly to what they may see (P and X, never the ring): the share on
    P is F / (F + B) in every block and layer."""
    model = load_model(str(TINY))
    for layer in model.model.layers:
        torch.nn.init.zeros_(layer.self_attn.k_proj.weight)
    F, B, L = model.cfg.fam_length, model.cfg.block_size, model.cfg.num_hidden_layers
    ids = torch.randint(4, model.cfg.vocab_size, (2, 3 * B), generator=torch.Generator().manual_seed(0))
    shares = fam_write.write_share_by_block(model, ids)
    assert len(shares) == 3 and all(len(s) == L for s in shares)
    assert shares == [[pytest.approx(F / (F + B), abs=1e-4)] * L] * 3


def test_recording_changes_no_output_and_is_undone():
    model = load_model(str(TINY))
    ids = torch.randint(4, model.cfg.vocab_size, (2, model.cfg.block_size), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        _, plain = model.block_step(model.init_state(2), ids, logits="all")
        with fam_write.recording_write_share(model) as shares:
            _, recorded = model.block_step(model.init_state(2), ids, logits="all")
        assert len(shares) == model.cfg.num_hidden_layers and all(0.0 <= s <= 1.0 for s in shares)
    torch.testing.assert_close(recorded, plain)
    assert all("attend" not in vars(layer.self_attn) for layer in model.model.layers)


def test_the_script_relays_out_and_writes_both_kinds(tmp_path):
    out = tmp_path / "write.json"
    res = subprocess.run([sys.executable, str(Path(fam_write.__file__)), "--weights", str(TINY), "--out", str(out),
                          "--blocks", "3", "--rows", "2", "--block-size", "32", "--memory-segments", "0"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    result = json.loads(out.read_text())
    assert result["layout"]["block_size"] == 32 and result["layout"]["memory_segments"] == 0
    for kind in ("passkey", "random_tokens"):
        assert len(result["share_on_previous_fam"][kind]) == 3
