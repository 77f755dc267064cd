"""Tests of the evaluation helpers (eval/common.py) on a small random model, on the CPU.

    python3 -m pytest model/train/tests/test_eval.py -q
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
import common  # noqa: E402
from fam import FamConfig, FamForCausalLM  # noqa: E402  (common put model/train on the path)

# Blocks of 8 tokens: 21-token prompts sharing their first 12 tokens share one whole block, and 10 answer
# tokens cross a block boundary while decoding.
CFG = FamConfig(vocab_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                intermediate_size=64, rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                fam_length=4, block_size=8, memory_segments=1, eos_token_id=0)


def test_greedy_answers_are_the_argmax_path_that_answer_token_hits_scores():
    torch.manual_seed(0)
    model = FamForCausalLM(CFG).eval()
    rng = np.random.default_rng(0)
    shared = rng.integers(4, CFG.vocab_size, 12)
    prompts = [np.concatenate([shared, rng.integers(4, CFG.vocab_size, 9)]) for _ in range(3)]
    answers = common.greedy_answers(model, prompts, 10, precision="fp32")
    assert answers == [common.greedy_answers(model, [p], 10, precision="fp32")[0] for p in prompts]
    for p, a in zip(prompts, answers):
        assert 1 <= len(a) <= 10 and common.prompt.EOT not in a[:-1]
        wrong = list(a)
        wrong[0] = (wrong[0] + 1) % CFG.vocab_size
        hits = common.answer_token_hits(model, [np.concatenate([p, a]), np.concatenate([p, wrong])], [len(a)] * 2)
        assert [len(h) for h in hits] == [len(a)] * 2
        assert hits[0].all() and not hits[1][0]  # greedy decoding's own answer is hit throughout; the wrong token not


def test_report_pools_passkey_trials_by_blocks_back():
    import report
    cells = [{"by_blocks_back": {"0": {"trials": 3, "correct": 3}, "2": {"trials": 2, "correct": 1}}},
             {"by_blocks_back": {"5": {"trials": 4, "correct": 0}, "70": {"trials": 1, "correct": 1}}},
             {}]  # a cell measured before by_blocks_back existed
    rows = [r for r in report.blocks_back_table(cells) if r.startswith("| ") and not r.startswith("| blocks")]
    assert rows == ["| 0 | 3 | 3 (100%) |", "| 2 | 2 | 1 (50%) |", "| 4-15 | 4 | 0 (0%) |", "| 64+ | 1 | 1 (100%) |"]
    assert report.blocks_back_table([{}]) == []


def test_report_shows_symbol_scores_where_the_cells_have_them():
    import report
    old = {"length": 16384, "mean_tokens": 13812.4, "trials": 50, "accuracy": 0.0, "packages": ["click", "ws"]}
    rows = report.symbols_table([old, {**old, "length": 65536, "path_right": 0.46, "line_digits_right": 0.125}])
    assert "| 16k | 13812 | 50 | 0% | - | - | click, ws |" in rows
    assert "| 64k | 13812 | 50 | 0% | 46% | 12% | click, ws |" in rows
