"""eval/toy_recall.py's samples: the key sits exactly where its distance says, once, and only the question's
block can see the answer's digits without memory (so distance > 0 really needs the FAM)."""

from __future__ import annotations

import sys
import json
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
import toy_recall as toy  # noqa: E402

TINY = Path(__file__).resolve().parents[3] / "test" / "fixtures" / "tiny"


@pytest.mark.parametrize("key_digits", [1, 5])
def test_each_sample_holds_one_key_at_its_distance_and_ends_with_the_question(key_digits):
    blocks, block, k = 4, 16, key_digits
    ids, digits, dist = toy.batch(500, blocks, block, torch.Generator().manual_seed(0), [0, 1, 2, 3], k)
    assert set(dist.tolist()) == {0, 1, 2, 3} and digits.shape == (500, k)
    for row, d, back in zip(ids, digits, dist):
        keys = (row == toy.KEY).nonzero().flatten().tolist()
        assert len(keys) == 1, keys
        at = keys[0]
        assert at // block == blocks - 1 - back, (at, back)
        assert at // block == (at + k) // block, "the key and its digits share a block"
        assert row[at + 1:at + 1 + k].tolist() == (toy.DIGIT0 + d).tolist()
        assert row[-k - 1] == toy.QUERY and row[-k:].tolist() == (toy.DIGIT0 + d).tolist()
        # The digits appear only after the key and as the answer: noise never holds a digit.
        assert ((row >= toy.DIGIT0) & (row < toy.NOISE0)).sum() == 2 * k
        assert at + k < len(row) - k - 1, "the key stays clear of the question"


@pytest.mark.parametrize("key_digits", [1, 3])
def test_the_answer_logits_never_see_the_digit_they_predict(key_digits):
    """answer_logits reads the positions from QUERY to the second-to-last digit: changing the last digit of the
    answer changes none of them, and the logits of digit j see only the digits before j."""
    cfg = toy.FamConfig(vocab_size=toy.VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        num_key_value_heads=2, intermediate_size=32, fam_length=2, block_size=8)
    model = toy.FamForCausalLM(cfg).eval()
    ids, _, _ = toy.batch(2, 2, 8, torch.Generator().manual_seed(1), [0], key_digits)
    changed = ids.clone()
    changed[:, -1] = toy.DIGIT0 + (ids[:, -1] - toy.DIGIT0 + 1) % 10
    with torch.no_grad():
        logits = toy.answer_logits(model, ids, key_digits)[1]
        assert logits.shape == (2, key_digits, 10)
        torch.testing.assert_close(logits, toy.answer_logits(model, changed, key_digits)[1])


@pytest.mark.parametrize("fam_length", [None, 2])
def test_from_weights_keeps_every_weight_and_takes_the_layout(fam_length):
    """--init-weights: the exported model's weights in the toy's memory layout; its initial FAM is kept only when F
    is unchanged (train.init_from)."""
    from export import load
    source = load(TINY)
    F = fam_length or source.cfg.fam_length
    layout = dict(fam_length=F, block_size=2 * F, memory_segments=0, fam_positions="before_block",
                  fam_residual="none")
    model = toy.from_weights(str(TINY), layout)  # common.from_weights, as the toy calls it
    assert {k: getattr(model.cfg, k) for k in layout} == layout
    assert model.cfg.hidden_size == source.cfg.hidden_size and model.cfg.vocab_size == source.cfg.vocab_size
    mine, theirs = model.state_dict(), source.state_dict()
    for name, t in theirs.items():
        if name != "model.fam_embeddings":
            torch.testing.assert_close(mine[name], t.float(), msg=name)
    same_fam = mine["model.fam_embeddings"].shape == theirs["model.fam_embeddings"].shape and torch.equal(
        mine["model.fam_embeddings"], theirs["model.fam_embeddings"].float())
    assert same_fam == (fam_length is None)


def test_accuracy_counts_whole_keys_and_single_digits(monkeypatch):
    """A read-out that gets only each key's first digit right scores 0 whole keys and 1/5 of the digits."""
    def first_digit_only(model, ids, key_digits, state=None, precision="fp32"):
        answer = ids[:, -key_digits:] - toy.DIGIT0
        guess = answer.clone()
        guess[:, 1:] = (answer[:, 1:] + 1) % 10  # every later digit off by one
        return None, torch.nn.functional.one_hot(guess, 10).float()

    monkeypatch.setattr(toy, "answer_logits", first_digit_only)
    keys, digits = toy.accuracy(torch.nn.Module(), 2, 16, torch.Generator().manual_seed(0), 50, key_digits=5)
    assert keys == {0: 0.0, 1: 0.0}
    assert digits == pytest.approx({0: 0.2, 1: 0.2})


def test_deadline_stops_training_and_still_measures(monkeypatch, tmp_path):
    """--deadline 0 ends training after the first step, which is then evaluated, and the run still ends with the
    FAM RMS and the blanked-FAM measurement in its log."""
    out = tmp_path / "log.json"
    monkeypatch.setattr(sys, "argv", ["toy_recall.py", "--steps", "1000", "--deadline", "0", "--block", "8",
                                      "--blocks", "2", "--fam-length", "2", "--layers", "1", "--dim", "16",
                                      "--heads", "2", "--eval-samples", "4", "--rms-blocks", "2", "--key-digits", "2",
                                      "--out", str(out)])
    toy.main()
    log = json.loads(out.read_text())
    assert log["stopped_at_deadline"] == 1
    assert [e["step"] for e in log["evals"]] == [1]
    assert set(log["evals"][0]["digit_accuracy_by_distance"]) == {"0", "1"}
    assert "fam_rms_by_block" in log and set(log["accuracy_by_distance_blank_fam"]) == {"0", "1"}
