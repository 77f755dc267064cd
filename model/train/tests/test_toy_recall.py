"""eval/toy_recall.py's samples: the key sits exactly where its distance says, once, and only the question's
block can see the answer's digit without memory (so distance > 0 really needs the FAM)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
import toy_recall as toy  # noqa: E402


def test_each_sample_holds_one_key_at_its_distance_and_ends_with_the_question():
    blocks, block = 4, 16
    ids, digits, dist = toy.batch(500, blocks, block, torch.Generator().manual_seed(0), [0, 1, 2, 3])
    assert set(dist.tolist()) == {0, 1, 2, 3}
    for row, d, k in zip(ids, digits, dist):
        keys = (row == toy.KEY).nonzero().flatten().tolist()
        assert len(keys) == 1, keys
        at = keys[0]
        assert at // block == blocks - 1 - k, (at, k)
        assert at // block == (at + 1) // block, "the key and its digit share a block"
        assert row[at + 1] == toy.DIGIT0 + d
        assert row[-2] == toy.QUERY and row[-1] == toy.DIGIT0 + d
        # The digit appears only after the key and as the answer: noise never holds a digit.
        assert ((row >= toy.DIGIT0) & (row < toy.NOISE0)).sum() == 2
        assert at + 1 < len(row) - 2, "the key pair stays clear of the question"


def test_the_answer_logit_is_read_before_the_answer_token():
    """answer_logits reads the position of QUERY, which cannot see the answer digit after it."""
    cfg = toy.FamConfig(vocab_size=toy.VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        num_key_value_heads=2, intermediate_size=32, fam_length=2, block_size=8)
    model = toy.FamForCausalLM(cfg).eval()
    ids, _, _ = toy.batch(2, 2, 8, torch.Generator().manual_seed(1), [0])
    changed = ids.clone()
    changed[:, -1] = toy.DIGIT0 + (ids[:, -1] - toy.DIGIT0 + 1) % 10
    with torch.no_grad():
        torch.testing.assert_close(toy.answer_logits(model, ids)[1], toy.answer_logits(model, changed)[1])
