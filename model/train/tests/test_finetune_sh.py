"""finetune.sh's probe (sourced by ladder.sh): a run cut by a call's deadline is measured from its checkpoint, on
the tiny fixture model, on the CPU, with the corpus steps of prepare.sh already done (their marker files exist).

    python3 -m pytest model/train/tests/test_finetune_sh.py -q
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "test" / "fixtures" / "tiny"
sys.path.insert(0, str(ROOT / "model" / "train"))
from export import load  # noqa: E402


@pytest.fixture()
def work(tmp_path):
    """A work folder as prepare.sh leaves it, and a run whose checkpoint (the tiny model) is at step 7."""
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "manifest.json").write_text("{}")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tokens.json").write_text("{}")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(TINY / f, tmp_path / "data" / f)
    model = load(TINY)
    (tmp_path / "run").mkdir()
    torch.save({"config": {"model": asdict(model.cfg)}, "model": model.state_dict(), "step": 7, "tokens": 7 * 64},
               tmp_path / "run" / "ckpt.pt")
    return tmp_path


def probe(work: Path, env: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, "FAMULUS_WORK": str(work), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           **env}
    return subprocess.run(["bash", "-c", f"source model/train/finetune.sh 300 && probe {work}/run"], cwd=ROOT,
                          env=env, capture_output=True, text=True)


def test_probe_measures_the_checkpoint_at_its_step(work):
    res = probe(work, {"PROBE_LENGTHS": "256", "PROBE_TRIALS": "2"})
    assert res.returncode == 0, res.stderr
    assert "run probed at step 7" in res.stdout
    result = json.loads((work / "run" / "probe-7.json").read_text())
    assert [(c["length"], c["depth"], c["trials"]) for c in result["cells"]] == [(256, "start", 2), (256, "middle", 2)]
    assert all("digits_right" in c for c in result["cells"])


def test_no_probe_without_lengths(work):
    res = probe(work, {"PROBE_LENGTHS": ""})
    assert res.returncode == 0, res.stderr
    assert not list((work / "run").glob("probe-*"))
