"""The layouts of docs/prompt-format.md, against the golden cases the engine's test checks too
(test/fixtures/prompt-golden.json, test/unit/prompt.test.ts): training and the engine write the same text."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import prompt  # noqa: E402

GOLDEN = json.loads((Path(__file__).resolve().parents[3] / "test" / "fixtures" / "prompt-golden.json").read_text())


def test_file_text_matches_golden():
    for case in GOLDEN["files"]:
        assert case["path"] + "\n" + prompt.with_one_newline(case["text"]) == case["expected"]


def test_reread_text_matches_golden():
    for case in GOLDEN["rereads"]:
        assert prompt.reread_text(case["path"], case["startLine"], case["endLine"], case["lines"]) == case["expected"]


class ByteTok:
    """Ids = UTF-8 bytes + 4, so ids 0..3 stay the special tokens: enough to check where the specials go."""

    class Enc:
        def __init__(self, ids):
            self.ids = ids

    def encode(self, s, add_special_tokens=False):
        return self.Enc([b + 4 for b in s.encode("utf-8")])

    @staticmethod
    def decode(ids):
        out, buf = "", bytearray()
        for i in ids:
            if i < 4:
                out += buf.decode("utf-8") + prompt.SPECIAL_TOKENS[i]
                buf = bytearray()
            else:
                buf.append(i - 4)
        return out + buf.decode("utf-8")


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
