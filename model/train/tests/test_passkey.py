"""eval/passkey.py's contract with fig3a.sh, on the tiny fixture model (CPU):

    python3 -m pytest model/train/tests/test_passkey.py -q
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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


def test_a_grid_cut_by_the_deadline_exits_3_and_keeps_whole_cells(tmp_path):
    res = run(tmp_path / "pk.json", "--deadline", "0")
    assert res.returncode == 3, res.stderr
    assert "deadline: skipping length 256" in res.stdout
    assert json.load(open(tmp_path / "pk.json"))["cells"] == []


def test_an_unknown_depth_is_refused(tmp_path):
    res = run(tmp_path / "pk.json", "--depths", "start,bottom")
    assert res.returncode != 0 and "--depths: choose from start, middle, end" in res.stderr
