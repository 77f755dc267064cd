"""ladder.sh's rungs: the B-scaled settings each rung trains with, the chain of weights from rung to rung, a rung cut
by the deadline (the loop stops, its probed weights come back) and the resumed call. finetune.sh is replaced by a
stand-in that records what it is asked and trains nothing.

    python3 -m pytest model/train/tests/test_ladder_sh.py -q
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# finetune.sh's interface as ladder.sh uses it: a rung whose folder holds a file "cut" is stopped by the deadline,
# one holding "measure-cut" is trained but its PassKey measurement is cut.
STAND_IN = r"""
set -euo pipefail
W=$FAMULUS_WORK T=model/train TRIALS=50 INIT=${INIT:-init} PASSKEY_ARGS=""
START=$(date +%s)
END=$((START + $1))
at() { echo "== $1"; }
finetune() {
  local R=$1
  shift 2
  mkdir -p $R
  echo "$*" > $R/args
  if [ -f $R/cut ]; then
    mkdir -p $R/probe-export && echo probed > $R/probe-export/config.json && echo w > $R/probe-export/model.safetensors
    return 1
  fi
  mkdir -p $R/export && echo trained > $R/export/config.json && echo w > $R/export/model.safetensors
}
measure() { if [ -f $(dirname $1)/measure-cut ]; then return 1; fi; echo '{}' > $1; }
evaluate_candidate() { touch $1/evaluated; }
"""


@pytest.fixture()
def repo(tmp_path):
    """A checkout holding ladder.sh and the stand-in finetune.sh, a work folder and an $OUT."""
    (tmp_path / "repo" / "model" / "train").mkdir(parents=True)
    shutil.copy(ROOT / "model" / "train" / "ladder.sh", tmp_path / "repo" / "model" / "train" / "ladder.sh")
    (tmp_path / "repo" / "model" / "train" / "finetune.sh").write_text(STAND_IN)
    (tmp_path / "work").mkdir()
    return tmp_path


def ladder(tmp: Path, rungs: str, out: str) -> subprocess.CompletedProcess:
    (tmp / out).mkdir()
    env = {**os.environ, "FAMULUS_WORK": str(tmp / "work"), "OUT": str(tmp / out), "NAME": "cur", "RUNGS": rungs,
           "TOKENS_PER_STEP": "32768", "EVAL_BLOCKS": "2 4"}
    res = subprocess.run(["bash", "model/train/ladder.sh", "300"], cwd=tmp / "repo", env=env, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def args(run: Path) -> dict:
    words = (run / "args").read_text().split()
    return {words[i + 1].split("=")[0]: words[i + 1].split("=", 1)[1] for i, w in enumerate(words) if w == "--set"} | {
        "init": words[words.index("--init-weights") + 1]}


def test_rungs_chain_and_a_cut_rung_resumes(repo):
    w = repo / "work" / "cur"
    (w / "b128-k1-8").mkdir(parents=True)
    (w / "b128-k1-8" / "cut").touch()
    ladder(repo, "128:10:1-2 128:20:1-8:16 256:5", "out1")

    first, second = args(w / "b128-k1-2"), args(w / "b128-k1-8")
    assert (first["init"], first["seq_len"], first["batch"], first["mix.passkey_tokens"]) == (
        "init", "1024", "32", "[128,256]")
    assert (second["init"], second["seq_len"], second["batch"], second["mix.passkey_tokens"], second["max_steps"]) == (
        str(w / "b128-k1-2" / "export"), "2048", "16", "[128,1024]", "20")
    assert not (w / "b256").exists(), "a rung after a cut one must wait for the next call"
    assert (repo / "out1" / "candidate" / "config.json").read_text() == "probed\n"
    assert (w / "b128-k1-2" / "passkey.json").exists() and not (w / "b128-k1-8" / "passkey.json").exists()

    (w / "b128-k1-8" / "cut").unlink()
    ladder(repo, "128:10:1-2 128:20:1-8:16 256:5", "out2")
    third = args(w / "b256")
    assert (third["init"], third["seq_len"], third["batch"], third["mix.passkey_tokens"]) == (
        str(w / "b128-k1-8" / "export"), "2048", "16", "[512,2048]")  # PASSKEY_BLOCKS' 2:8, ROW_BLOCKS' 8
    assert (w / "b256" / "evaluated").exists() and not (w / "b128-k1-8" / "evaluated").exists()
    assert (repo / "out2" / "candidate" / "config.json").read_text() == "trained\n"
    assert (repo / "out2" / "cur.tar.gz").exists()


def test_a_trained_rung_whose_measurement_is_cut_sends_its_weights(repo):
    w = repo / "work" / "cur"
    (w / "b128").mkdir(parents=True)
    (w / "b128" / "measure-cut").touch()
    ladder(repo, "128:10 512:10", "out")
    assert (repo / "out" / "candidate" / "config.json").read_text() == "trained\n"
    assert not (w / "b512").exists()
