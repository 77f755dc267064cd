"""The layouts of docs/prompt-format.md, against the golden cases the engine's test checks too
(test/fixtures/prompt-golden.json, test/unit/prompt.test.ts): training and the engine write the same text."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import prompt  # noqa: E402
from corpus_fixture import ByteTok  # noqa: E402

GOLDEN = json.loads((Path(__file__).resolve().parents[3] / "test" / "fixtures" / "prompt-golden.json").read_text())


def test_file_text_matches_golden():
    for case in GOLDEN["files"]:
        assert case["path"] + "\n" + prompt.with_one_newline(case["text"]) == case["expected"]


def test_reread_text_matches_golden():
    for case in GOLDEN["rereads"]:
        assert prompt.reread_text(case["path"], case["startLine"], case["endLine"], case["lines"]) == case["expected"]


def test_history_text_matches_golden():
    for case in GOLDEN["histories"]:
        turns = [(t["question"], t["answer"]) for t in case["turns"]]
        assert prompt.history_text(turns) == case["expected"]


def test_history_ids_are_question_and_answer_ids_of_each_turn():
    tok = ByteTok()
    for case in GOLDEN["histories"]:
        turns = [(t["question"], t["answer"]) for t in case["turns"]]
        ids = prompt.history_ids(tok, turns)
        assert ByteTok.decode(ids) == case["expected"]
        assert ids.count(prompt.QUESTION) == ids.count(prompt.ANSWER) == ids.count(prompt.EOT) == len(turns)
