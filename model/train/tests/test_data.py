"""Tests of the training data side (prompt.py, tasks.py, data.py): no torch, no Hugging Face tokenizer needed.

    python3 -m pytest model/train/tests/test_data.py -q

A byte tokenizer (ids = bytes + 4, so ids 0..3 stay the special tokens) stands in for the real BPE; every rule
tested here is about layout, answers and stream bookkeeping, which do not depend on the vocabulary.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import data  # noqa: E402
import prompt  # noqa: E402
import tasks  # noqa: E402
from corpus_fixture import ByteTok, write_split  # noqa: E402


TOK = ByteTok()

PY = '''"""Tools for frobnicating widgets.

Longer text that is not part of the summary.
"""

import os


def frobnicate(widget):
    """Frobnicate one widget in place. Returns nothing."""
    return widget


class Widget:
    """A thing that can be frobnicated."""

    def spin(self):
        return 1
'''

TS = '''/**
 * Helpers for parsing request headers.
 */

/**
 * Parse a cookie header into a map of names to values.
 * @param header the raw header
 */
export function parseCookies(header: string) {
  return {};
}

export const MAX_AGE = 3600;
'''


def window():
    return [tasks.File(p, t, np.asarray(prompt.file_ids(TOK, p, t), np.int32))
            for p, t in (("pkg/widgets.py", PY), ("pkg/cookies.ts", TS))]


def answer_and_question(s: tasks.Sample):
    text = TOK.decode(s.ids.tolist())
    q = text[text.rindex("<|question|>"):]
    return TOK.decode(s.ids[s.mask == tasks.LOSS_TASK].tolist()), q, text


def test_file_layout_matches_prompt_format():
    ids = prompt.file_ids(TOK, "src/a.ts", "x = 1\n\n\n")
    assert ids[0] == prompt.FILE
    assert TOK.decode(ids) == "<|file|>src/a.ts\nx = 1\n"  # exactly one final newline


def test_definitions_python_and_ts():
    py = {d.name: d for d in tasks.definitions("a.py", PY)}
    assert py["frobnicate"].line == 9 and py["frobnicate"].doc == "Frobnicate one widget in place."
    assert py["Widget"].line == 14 and py["spin"].doc is None
    ts = {d.name: d for d in tasks.definitions("a.ts", TS)}
    assert ts["parseCookies"].line == 9
    assert ts["parseCookies"].doc == "Parse a cookie header into a map of names to values."
    assert ts["MAX_AGE"].line == 13


@pytest.mark.parametrize("seed", range(20))
def test_where_answer_points_at_the_definition(seed):
    s = tasks.where_sample(TOK, np.random.default_rng(seed), window())
    answer, question, _ = answer_and_question(s)
    name = re.search(r"Where is `(.+?)` defined\?", question).group(1)
    path, line = answer.removesuffix("<|endoftext|>").rsplit(":", 1)
    text = {"pkg/widgets.py": PY, "pkg/cookies.ts": TS}[path]
    assert name in text.split("\n")[int(line) - 1]
    assert s.mask[:len(s.ids) - len(TOK.encode(answer.removesuffix("<|endoftext|>")).ids) - 1].max() == 0


def test_where_refuses_names_defined_twice():
    twice = [tasks.File("a.py", "def f_x():\n    pass\n", np.zeros(1, np.int32)),
             tasks.File("b.py", "def f_x():\n    pass\n", np.zeros(1, np.int32))]
    assert tasks.where_sample(TOK, np.random.default_rng(0), twice) is None


def test_summarize_removes_the_docstring_and_restreams_the_file_last():
    rng = np.random.default_rng(0)
    for _ in range(10):
        s = tasks.summarize_sample(TOK, rng, window())
        answer, question, text = answer_and_question(s)
        context = text[:text.rindex("<|question|>")]
        path = question.removeprefix("<|question|>Summarize ").split("<|answer|>")[0]
        assert answer.removesuffix("<|endoftext|>") in ("Tools for frobnicating widgets.",
                                                        "Helpers for parsing request headers.")
        assert answer.removesuffix("<|endoftext|>") not in context
        assert context.rindex("<|file|>") == context.index(f"<|file|>{path}\n")  # the file comes last, once


def test_license_headers_are_not_summaries():
    assert tasks.module_summary("a.js", "/*! Copyright 2020 X. MIT License */\nvar a = 1;\n") is None


def test_passkey_layout_and_depth():
    pk = tasks.PassKey(TOK)
    s = pk.build("12345", 10, 0.0)
    answer, question, text = answer_and_question(s)
    assert answer == "12345<|endoftext|>" and question.startswith("<|question|>What is the pass key?<|answer|>")
    assert text.startswith("<|file|>passkey.txt\nThere is an important info")
    assert text.index("The pass key is 12345") < text.index("The grass is green")
    late = TOK.decode(pk.build("12345", 10, 1.0).ids.tolist())
    assert late.index("The pass key is 12345") > late.rindex("The grass is green")
    assert abs(len(pk.build("1", pk.n_filler_for(4096), 0.5).ids) - 4096) < len(pk.filler) + 16


@pytest.mark.parametrize("depth", [0.0, 0.37, 1.0])
def test_passkey_file_text_lays_out_as_build(depth):
    """The engine reads passkey.txt as a file (docs/prompt-format.md); its layout must be build()'s."""
    pk = tasks.PassKey(TOK)
    s = pk.build("12345", 10, depth)
    as_file = (prompt.file_ids(TOK, tasks.PASSKEY_PATH, pk.file_text("12345", 10, depth))
               + prompt.question_ids(TOK, tasks.PASSKEY_QUESTION) + prompt.answer_ids(TOK, "12345"))
    assert as_file == s.ids.tolist()


def write_corpus(d, packages):
    """A train split of `packages` ({"package", "files"} records, as build_corpus.py writes them) in `d`."""
    write_split(d, "train", TOK, {p["package"]: p["files"] for p in packages})
    return data.Corpus(str(d), str(d), "train")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A two-package corpus in the files build_corpus.py and tokenizer.py write."""
    d = tmp_path_factory.mktemp("corpus")
    return write_corpus(d, [{"package": "a", "files": [[f"a/m{i}.py", PY] for i in range(6)]},
                            {"package": "b", "files": [[f"b/c{i}.ts", TS] for i in range(4)]}])


def test_window_stays_in_one_package(corpus):
    rng = np.random.default_rng(0)
    for _ in range(50):
        first, end = corpus.window(rng, int(rng.integers(100, 3000)))
        assert len(set(corpus.files[first:end, 0])) == 1 and end > first


def test_stream_resumes_exactly_and_chunks_overlap_by_one(corpus):
    make = data.DocMaker(corpus, TOK, seed=3, mix=data.MixConfig(task_tokens=(200, 2000), lm_tokens=(200, 4000),
                                                                  passkey_tokens=(100, 2000)))
    T = 512
    row = data.RowStream(make, 1)
    chunks, states = [], []
    for step in range(12):
        chunks.append(row.next_chunk(T, data.starts_fresh(3, step, 0.8)))
        states.append(row.state())
    again = data.RowStream(make, 1, states[4])
    for step in range(5, 12):
        ids, mask = again.next_chunk(T, data.starts_fresh(3, step, 0.8))
        assert np.array_equal(ids, chunks[step][0]) and np.array_equal(mask, chunks[step][1])
    for (a, _), (b, _) in zip(chunks, chunks[1:]):
        assert len(a) == T + 1 and a[-1] == b[0]


def test_fresh_state_unscores_a_task_cut_in_two(corpus):
    pk = tasks.PassKey(TOK)
    make = lambda row, i: pk.build("12345", 40, 0.1)  # noqa: E731  (every document is one long task sample)
    make.seed, make.mix = 0, data.MixConfig()
    n = len(make(0, 0).ids)
    assert n > 600
    row = data.RowStream(make, 0)
    _, m0 = row.next_chunk(300, fresh=True)  # first step: nothing was cut
    _, m1 = row.next_chunk(n - 301, fresh=True)  # restart inside the sample: its answer must not be scored
    assert (m1 == tasks.LOSS_TASK).sum() == 0
    row2 = data.RowStream(make, 0)
    row2.next_chunk(300, fresh=True)
    _, m2 = row2.next_chunk(n - 301, fresh=False)  # carried state: the answer is scored
    assert (m2 == tasks.LOSS_TASK).sum() == len("12345") + 1


def test_fresh_state_at_document_skips_to_the_next_document(corpus):
    pk = tasks.PassKey(TOK)
    keys = ["11111", "22222", "33333"]
    make = lambda row, i: pk.build(keys[i], 40, 0.1)  # noqa: E731
    make.seed, make.mix = 0, data.MixConfig(fresh_at_document=True)
    n = len(make(0, 0).ids)
    row = data.RowStream(make, 0)
    row.next_chunk(300, fresh=True)
    carried, _ = data.RowStream(make, 0, row.state()).next_chunk(100, fresh=False)
    assert np.array_equal(carried, make(0, 0).ids[300:401])  # a carried state goes on inside the document
    ids, mask = row.next_chunk(n + 10, fresh=True)  # a fresh one starts at the next document, scored whole
    assert np.array_equal(ids[:n], make(0, 1).ids) and (mask[:n] == tasks.LOSS_TASK).sum() == len("22222") + 1
    assert row.state()["doc"] == 2


@pytest.mark.parametrize("seed", range(20))
def test_repeat_document_is_snippet_gap_snippet(corpus, seed):
    make = data.DocMaker(corpus, TOK, seed=seed, mix=data.MixConfig(repeat_tokens=(8, 200), repeat_gap=(50, 400)))
    s = make.repeat(np.random.default_rng(seed))
    ids = s.ids[:-1]
    assert s.ids[-1] == prompt.EOT and (s.mask == tasks.LOSS_LM).all()
    # some split ids = A + gap + A with A non-empty and the gap either empty or 50..400 tokens
    splits = [n for n in range(1, len(ids) // 2 + 1) if np.array_equal(ids[:n], ids[len(ids) - n:])
              and (len(ids) - 2 * n == 0 or 50 <= len(ids) - 2 * n <= 400)]
    assert splits, "not a repeated snippet"
    corpus_ids = corpus.tokens[:]
    n = splits[-1]
    assert any(np.array_equal(corpus_ids[i:i + n], ids[:n]) for i in range(len(corpus_ids) - n + 1)), \
        "the snippet is corpus text"


@pytest.mark.parametrize("depth, side", [((0.0, 0.1), "front"), ((0.9, 1.0), "back")])
def test_passkey_depth_range_places_every_key_there(corpus, depth, side):
    """mix.passkey_depth narrows where the key sits (ladder.sh's PASSKEY_DEPTH), with either kind of filler."""
    mix = data.MixConfig(passkey=1.0, where=0.0, what=0.0, summarize=0.0, passkey_tokens=(2000, 4000),
                         passkey_depth=depth)
    make = data.DocMaker(corpus, TOK, seed=0, mix=mix)
    rng = np.random.default_rng(0)
    marker = TOK.encode(" The pass key is ").ids
    for _ in range(20):
        ids = make.task(rng).ids
        windows = np.lib.stride_tricks.sliding_window_view(ids, len(marker))
        at = int(np.flatnonzero((windows == np.asarray(marker)).all(axis=1))[0]) / len(ids)
        assert at < 0.3 if side == "front" else at > 0.7, (at, len(ids))  # the head is ~200 ids


# ---------------------------------------------------------------- re-read samples (tasks.reread_sample, data.RereadData)

LIB = '''/**
 * Cookie helpers for the server.
 */

/**
 * Parse a cookie header into a map of names to values.
 * @param header the raw header
 */
export function parseCookies(header: string) {
  return {};
}

export function serialize(name: string, value: string) {
  return name + "=" + value;
}
'''
# The variant: the doc comment of parseCookies (lines 5-8) deleted; parseCookies is then on line 5.
LIB_STRIP = [[5, 8]]


def lib_entry(kind="which", truth_in=True):
    return {"type": "q", "package": "p", "kind": kind, "budget": 2048,
            "question": "Which function does this: Parse a cookie header into a map of names to values.",
            "chunks": [["src/lib.ts", 9, 11, "search"], ["src/lib.ts", 5, 7, "definition"]],
            "answer": "parseCookies at src/lib.ts:5",
            "truth": {"path": "src/lib.ts", "line": 5, "name": "parseCookies", "qname": "parseCookies",
                      "defKind": "function", "doc": [5, 8]}, "truthIn": truth_in}


def test_variant_text_deletes_the_doc_comment():
    v = tasks.variant_text(LIB, LIB_STRIP)
    assert "Parse a cookie header" not in v
    assert v.split("\n")[4] == "export function parseCookies(header: string) {"
    assert tasks.variant_text(LIB, []) == LIB


def test_reread_sample_is_window_then_chunks_then_question_then_answer():
    v = tasks.variant_text(LIB, LIB_STRIP)
    context = prompt.file_ids(TOK, "src/other.ts", "export const x = 1;\n")
    s = tasks.reread_sample(TOK, context, lib_entry(), {"src/lib.ts": v})
    lines = v.split("\n")
    expected = (context + prompt.reread_ids(TOK, "src/lib.ts", 9, 11, "\n".join(lines[8:11]))
                + prompt.reread_ids(TOK, "src/lib.ts", 5, 7, "\n".join(lines[4:7]))
                + prompt.question_ids(TOK, lib_entry()["question"]) + prompt.answer_ids(TOK, "parseCookies at src/lib.ts:5"))
    assert s.ids.tolist() == expected
    text = TOK.decode(s.ids.tolist())
    assert "<|file|>src/lib.ts:5-7\nexport function parseCookies(header: string) {\n  return {};\n}\n<|question|>" in text
    assert "Parse a cookie header into" not in text[:text.index("<|question|>")]  # the answer is nowhere before
    answer, _, _ = answer_and_question(s)
    assert answer == "parseCookies at src/lib.ts:5<|endoftext|>"
    assert (s.mask[:len(s.ids) - len(TOK.encode("parseCookies at src/lib.ts:5").ids) - 1] == 0).all()


def test_reread_missing_leaves_the_definition_out_and_says_so():
    v = tasks.variant_text(LIB, LIB_STRIP)
    s = tasks.reread_sample(TOK, [], lib_entry(), {"src/lib.ts": v}, missing=True)
    answer, _, text = answer_and_question(s)
    assert "src/lib.ts:5-7" not in text and "src/lib.ts:9-11" in text
    assert answer == prompt.NOT_REREAD_ANSWER + "<|endoftext|>"
    # retrieval missed it (truthIn false): the same answer with the chunks as retrieved
    s = tasks.reread_sample(TOK, [], lib_entry(truth_in=False), {"src/lib.ts": v})
    assert answer_and_question(s)[0] == prompt.NOT_REREAD_ANSWER + "<|endoftext|>"
    missing = {**lib_entry("what-missing"), "question": "What does `frobnicate` do?",
               "truth": {"path": "", "line": 0, "name": "frobnicate", "qname": "frobnicate", "defKind": ""}}
    s = tasks.reread_sample(TOK, [], missing, {"src/lib.ts": v})
    assert answer_and_question(s)[0] == "No definition of `frobnicate` is in the workspace index.<|endoftext|>"


def test_whole_file_chunk_is_the_plain_file_layout():
    v = tasks.variant_text(LIB, [[1, 4]])
    entry = {**lib_entry("summarize"), "question": "Summarize src/lib.ts", "answer": "Cookie helpers for the server.",
             "chunks": [["src/lib.ts", 1, len(v.split("\n")), "whole"]]}
    s = tasks.reread_sample(TOK, [], entry, {"src/lib.ts": v})
    assert s.ids.tolist()[:len(prompt.file_ids(TOK, "src/lib.ts", v))] == prompt.file_ids(TOK, "src/lib.ts", v)
    assert "Cookie helpers" not in TOK.decode(s.ids.tolist()).split("<|question|>")[0]


def test_long_lines_are_cut_as_javascript_counts_them():
    assert tasks.cap_line("a" * 2000) == "a" * 2000
    assert tasks.cap_line("a" * 2500) == "a" * 2000 + "…"
    assert tasks.cap_line("😀" * 1500) == "😀" * 1000 + "…"  # two UTF-16 units each
    assert tasks.chunk_lines("x\n" + "b" * 3000 + "\ny\n", 2, 3) == "b" * 2000 + "…\ny"


def test_excluded_packages_hold_the_test_split_and_the_qa_packages():
    qa = json.loads((Path(__file__).resolve().parents[3] / "test/eval/qa-questions.json").read_text())
    for name in ["fastify", "marked", "dayjs", "commander", "ws", "stdlib/asyncio", "networkx"] + \
            [p["name"] for p in qa["packages"]]:
        assert name in data.EXCLUDED_PACKAGES, name




@pytest.fixture()
def reread_corpus(tmp_path):
    """A train split with a package `p` (src/lib.ts among others) and the QA package `sax`, and a dump of both."""
    other = "export const x = 1;\n" * 20
    corpus = write_corpus(tmp_path, [
        {"package": "p", "files": [["src/a.ts", other], ["src/lib.ts", LIB], ["src/z.ts", other]]},
        {"package": "sax", "files": [["lib/sax.js", LIB]]},
    ])
    sha = lambda t: __import__("hashlib").sha1(t.encode()).hexdigest()[:10]  # noqa: E731
    records = [{"type": "package", "package": "p", "strip": {"src/lib.ts": LIB_STRIP}, "sha1": {"src/lib.ts": sha(LIB)}},
               lib_entry(), lib_entry(truth_in=False),
               {**lib_entry("what"), "question": "What does `parseCookies` do?",
                "answer": "Parse a cookie header into a map of names to values."},
               {**lib_entry("where"), "question": "Where is `serialize` defined?", "answer": "src/lib.ts:9",
                "truth": {"path": "src/lib.ts", "line": 9, "name": "serialize", "qname": "serialize", "defKind": "function"}},
               {**lib_entry("where"), "truthIn": False},  # a where-question whose definition was not re-read: unused
               {"type": "package", "package": "sax", "strip": {}, "sha1": {"lib/sax.js": sha(LIB)}},
               {**lib_entry(), "package": "sax", "chunks": [["lib/sax.js", 1, 3, "search"]],
                "truth": {**lib_entry()["truth"], "path": "lib/sax.js"}}]
    dump = tmp_path / "reread.jsonl"
    dump.write_text("".join(json.dumps(r) + "\n" for r in records))
    return corpus, dump


def test_reread_data_keeps_matching_texts_and_never_an_excluded_package(reread_corpus, tmp_path):
    corpus, dump = reread_corpus
    assert corpus.pkg_weights[corpus.package_of["sax"]] == 0  # a QA package: no LM documents either
    rd = data.RereadData(str(dump), corpus)
    assert rd.counts() == {"where": 1, "what": 1, "what-missing": 0, "which-hit": 1, "which-miss": 1, "summarize": 0}
    assert all(q["package"] == "p" for qs in rd.by_kind.values() for q in qs)
    # A file whose text is not the one the dump read: its questions are dropped.
    bad = tmp_path / "bad.jsonl"
    bad.write_text(dump.read_text().replace('"sha1": {"src/lib.ts": "', '"sha1": {"src/lib.ts": "0'))
    assert sum(data.RereadData(str(bad), corpus).counts().values()) == 0


@pytest.mark.parametrize("seed", range(6))
def test_reread_documents_of_the_mix(reread_corpus, seed):
    corpus, dump = reread_corpus
    mix = data.MixConfig(task_prob=1.0, passkey=0.0, where=0.0, what=0.0, summarize=0.0, reread_which=1.0,
                         reread_what=1.0, reread_where=1.0, reread_missing=0.3, task_tokens=(10, 400),
                         reread_file=str(dump))
    make = data.DocMaker(corpus, TOK, seed=seed, mix=mix)
    rng = np.random.default_rng(seed)
    seen = set()
    for _ in range(30):
        s = make.task(rng)
        answer, question, text = answer_and_question(s)
        before = text[:text.index("<|question|>")]
        assert "Parse a cookie header" not in before and "lib/sax.js" not in text
        assert before.count("<|file|>src/lib.ts:") >= 1 or answer.startswith("No definition")
        assert set(np.unique(s.mask).tolist()) <= {0, tasks.LOSS_TASK}
        seen.add(answer)
    assert "parseCookies at src/lib.ts:5<|endoftext|>" in seen


def test_window_with_holds_the_file(reread_corpus):
    corpus, _ = reread_corpus
    rng = np.random.default_rng(0)
    for target in (1, 50, 200, 10_000):
        for _ in range(10):
            first, end = corpus.window_with(rng, target, 1)
            assert first <= 1 < end <= 3
