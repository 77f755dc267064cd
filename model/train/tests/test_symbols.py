"""Tests of eval/symbols.py on the CPU: where a `path:line` answer's line number starts, and a whole run on a few
made-up test-split files with a tiny random model.

    python3 -m pytest model/train/tests/test_symbols.py -q
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "eval")]
import export  # noqa: E402
import prompt  # noqa: E402
import symbols  # noqa: E402
from corpus_fixture import write_split  # noqa: E402
from fam import FamConfig, FamForCausalLM  # noqa: E402

TOKENIZER = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "tiny"


def test_path_tokens_end_where_the_line_number_starts():
    tok = Tokenizer.from_file(str(TOKENIZER / "tokenizer.json"))
    for path, line in [("src/queue.ts", 18), ("lib/v2/a1.py", 4096), ("x.js", 7)]:
        answer = np.asarray(prompt.answer_ids(tok, prompt.where_answer(path, line)))
        k = symbols.path_tokens(tok, answer)
        assert tok.decode(answer[:k].tolist()).rstrip(":") == path  # digits in the path stay in the path
        assert tok.decode(answer[k:-1].tolist()) == str(line) and answer[-1] == prompt.EOT


def test_a_run_scores_whole_answers_paths_and_line_digits(tmp_path):
    tok = Tokenizer.from_file(str(TOKENIZER / "tokenizer.json"))
    files = [[f"pkg/mod{i}.py", "".join(f"def helper_{i}_{j}(a, b):\n    return a + b * {j}\n\n" for j in range(6))]
             for i in range(6)]
    write_split(tmp_path, "test", tok, {"pkg": files})
    torch.manual_seed(0)
    cfg = FamConfig(vocab_size=512, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                    intermediate_size=64, fam_length=4, block_size=16, memory_segments=1)
    export.write(FamForCausalLM(cfg), TOKENIZER, tmp_path / "weights")
    shutil.copy(TOKENIZER / "tokenizer.json", tmp_path / "tokenizer.json")
    out = tmp_path / "symbols.json"
    subprocess.run([sys.executable, symbols.__file__, "--weights", str(tmp_path / "weights"), "--data", str(tmp_path),
                    "--corpus", str(tmp_path), "--out", str(out), "--lengths", "64,128", "--trials", "6"],
                   check=True, capture_output=True)
    cells = json.load(open(out))["cells"]
    assert [(c["length"], c["trials"]) for c in cells] == [(64, 6), (128, 6)]
    for c in cells:
        assert c["packages"] == ["pkg"] and c["accuracy"] <= c["path_right"] <= 1  # a right answer has its path right
        assert 0 <= c["line_digits_right"] <= 1
