"""Training data: one endless token stream per batch row, packed from plain LM documents and task samples.

Each row r is a stream of documents; document i of row r is a pure function of (seed, r, i) and the corpus, so a
row's position is just (document index, offset) and a run resumes exactly from a checkpoint. A training step
takes the next T+1 tokens of every row (inputs T, targets shifted by one) and the next step continues where this
one stopped, so with Random State Passing the FAM carried between steps belongs to the same stream.

Documents (the mix is ours; model/train/README.md gives the numbers):
- LM: a run of consecutive files of one package (package chosen in proportion to its tokens), streamed as
  `<|file|>path\\n text`, then `<|endoftext|>`; the loss is on every token.
- Tasks (tasks.py): PassKey, Where, What, Summarize over a window of consecutive files; loss on the answer only.
- Re-read (issue 20): a window of a package's variant, the chunks the engine re-reads for a question (the dump of
  model/tools/reread-dump.ts, `mix.reread_file`), the question, its short answer (tasks.reread_sample).
- Repeat (ours, stage 3): a code snippet, optionally a gap of other code, then the same snippet again; LM loss on
  every token. The second copy can only be predicted by looking back (in the block, or through the FAM when the
  gap is long), which is the skill PassKey, Where and Summarize need and plain LM data rewards too rarely.

Random State Passing (docs/fam.md, §3.1): at each step the whole batch either continues from the previous step's
final state (p = 0.8) or starts from the learned initial FAM. `starts_fresh(seed, step)` decides, here and in
train.py alike. When a step starts fresh, a task sample that began before it can no longer see its beginning, so
its answer is not scored (ours). With `fresh_at_document` a fresh step instead skips the rest of the document under
way and starts at the next one, so the first block of a document is read from the initial FAM as often as
inference does it (reading a workspace starts there): a key in that block is otherwise missed
(docs/results/default-model/curriculum.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import lzma
import math
import multiprocessing as mp
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

import prompt
import tasks
from tasks import LOSS_LM, LOSS_TASK, Sample


REPO = Path(__file__).resolve().parents[2]


def _excluded_packages() -> frozenset:
    """Never trained on: the held-out test split (build_corpus.py TEST_PACKAGES) and the packages of the QA
    evaluation (test/eval/qa-questions.json: commander, ws, dayjs, fastify, express-session, p-queue, sax,
    true-myth, tar-stream, ohm-js, ...). The first are in the test split already; the QA ones are excluded from the
    train split here (Corpus gives them no weight) and from the re-read dump (reread_corpus.py, reread-dump.ts)."""
    spec = importlib.util.spec_from_file_location("build_corpus", Path(__file__).resolve().parent / "corpus/build_corpus.py")
    build_corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_corpus)
    names = set(build_corpus.TEST_PACKAGES)
    qa = REPO / "test/eval/qa-questions.json"
    if qa.exists():
        names |= {p["name"] for p in json.loads(qa.read_text())["packages"]}
    return frozenset(names)


EXCLUDED_PACKAGES = _excluded_packages()


@dataclass
class MixConfig:
    task_prob: float = 0.3  # share of documents that are task samples
    passkey: float = 0.35  # shares among task samples
    where: float = 0.25
    what: float = 0.2
    summarize: float = 0.2
    lm_tokens: tuple = (1024, 65536)  # LM document length, log-uniform
    task_tokens: tuple = (256, 24576)  # task workspace length, log-uniform
    passkey_tokens: tuple = (128, 32768)  # PassKey prompt length, log-uniform
    passkey_depth: tuple = (0.0, 1.0)  # where the key sits in the filler, uniform (0: at the start)
    carry_prob: float = 0.8  # Random State Passing
    fresh_at_document: bool = False  # a fresh state starts at a document's start, as reading a workspace does
    repeat_prob: float = 0.0  # share of the non-task documents that are Repeat documents
    repeat_tokens: tuple = (16, 1024)  # Repeat snippet length, log-uniform
    repeat_gap: tuple = (256, 8192)  # Repeat gap length, log-uniform
    repeat_gap_prob: float = 0.5  # share of Repeat documents with a gap (the others repeat at once)
    # Re-read tasks (tasks.reread_sample, from the dump of model/tools/reread-dump.ts): shares among task samples,
    # beside passkey/where/what/summarize above.
    reread_where: float = 0.0  # "Where is `X` defined?" -> path:line
    reread_what: float = 0.0  # "What does `X` do?" -> its removed doc comment's lead
    reread_which: float = 0.0  # "Which function does this: ..." -> NAME at path:line
    reread_summarize: float = 0.0  # "Summarize PATH" -> its removed header comment's lead
    reread_missing: float = 0.15  # share of what/which samples whose answer is "not found"
    reread_in_window: float = 0.5  # chance that the workspace window holds the file the answer is in
    reread_file: str = ""  # the dump (reread.jsonl.xz); relative paths are from the repository root


def starts_fresh(seed: int, step: int, carry_prob: float) -> bool:
    """True when step starts from the learned initial FAM rather than the previous step's final state."""
    return step == 0 or np.random.default_rng([seed, step, 7]).random() >= carry_prob


class Corpus:
    """One split: file token slices (from tokenizer.py) and file texts (from build_corpus.py)."""

    def __init__(self, data_dir: str, corpus_dir: str, split: str):
        self.tokens = np.load(Path(data_dir) / f"{split}.tokens.npy", mmap_mode="r")
        self.files = np.load(Path(data_dir) / f"{split}.files.npy")  # [n, 3] package, start, count
        self.names, self.texts = [], []
        with open(Path(corpus_dir) / f"{split}.jsonl") as f:
            for line in f:
                pkg = json.loads(line)
                self.names.append(pkg["package"])
                self.texts.extend((p, t) for p, t in pkg["files"])
        assert len(self.texts) == len(self.files), f"{len(self.texts)} texts but {len(self.files)} encoded files"
        pk = self.files[:, 0]
        self.pkg_first = np.searchsorted(pk, np.arange(len(self.names)))  # files of package p: [first[p], first[p+1])
        self.pkg_end = np.searchsorted(pk, np.arange(len(self.names)), side="right")
        counts = np.bincount(pk, weights=self.files[:, 2], minlength=len(self.names))
        if split == "train":  # the QA evaluation's packages are never trained on (EXCLUDED_PACKAGES)
            counts[[i for i, n in enumerate(self.names) if n in EXCLUDED_PACKAGES]] = 0
        self.pkg_weights = counts / counts.sum()
        self.package_of = {n: i for i, n in enumerate(self.names)}

    def window(self, rng: np.random.Generator, target_tokens: int, package: Optional[int] = None):
        """A run of consecutive files of one package, about target_tokens long: (first file, end file)."""
        p = int(rng.choice(len(self.names), p=self.pkg_weights)) if package is None else package
        a, e = int(self.pkg_first[p]), int(self.pkg_end[p])
        # start anywhere that leaves target_tokens of the package ahead, if the package is that long
        total = np.cumsum(self.files[a:e, 2][::-1])[::-1]  # tokens from each file to the package end
        latest = a + max(0, int(np.searchsorted(-total, -target_tokens, side="right")) - 1)
        first = int(rng.integers(a, latest + 1))
        end, n = first, 0
        while end < e and (n == 0 or n + self.files[end, 2] <= target_tokens):
            n += int(self.files[end, 2])
            end += 1
        return first, end

    def window_with(self, rng: np.random.Generator, target_tokens: int, file: int):
        """A run of consecutive files of file's package that holds file, about target_tokens long."""
        p = int(self.files[file, 0])
        a, e = int(self.pkg_first[p]), int(self.pkg_end[p])
        first, end, n = file, file + 1, int(self.files[file, 2])
        while True:
            sides = [s for s in (-1, 1) if (first > a if s < 0 else end < e)]
            if not sides:
                break
            s = sides[int(rng.integers(len(sides)))]
            k = first - 1 if s < 0 else end
            if n + self.files[k, 2] > target_tokens:
                break
            n += int(self.files[k, 2])
            first, end = (k, end) if s < 0 else (first, end + 1)
        return first, end

    def ids(self, first: int, end: int) -> np.ndarray:
        s = int(self.files[first, 1])
        t = int(self.files[end - 1, 1] + self.files[end - 1, 2])
        return np.asarray(self.tokens[s:t], np.int32)

    def file(self, i: int) -> tasks.File:
        s, n = int(self.files[i, 1]), int(self.files[i, 2])
        path, text = self.texts[i]
        return tasks.File(path, text, np.asarray(self.tokens[s:s + n], np.int32))


REREAD_KINDS = ("where", "what", "which", "summarize")


class RereadData:
    """The re-read dump (model/tools/reread-dump.ts), matched to a corpus split: per package its strip spans (the
    variant, tasks.py) and its questions by kind. A question is kept only when every file it uses is in the corpus
    package with the text the dump read (the first 10 hex digits of its sha1)."""

    def __init__(self, path: str, corpus: "Corpus"):
        file = Path(path) if Path(path).is_absolute() or Path(path).exists() else REPO / path
        opener = lzma.open if str(file).endswith(".xz") else open
        packages, questions = {}, []
        with opener(file, "rt") as f:
            for line in f:
                r = json.loads(line)
                (packages.__setitem__(r["package"], r) if r["type"] == "package" else questions.append(r))
        self.strip: Dict[str, dict] = {}
        self.files: Dict[str, Dict[str, int]] = {}  # package -> path -> corpus file index
        ok: Dict[str, set] = {}
        for name, rec in packages.items():
            p = corpus.package_of.get(name)
            if p is None or name in EXCLUDED_PACKAGES or corpus.pkg_weights[p] == 0:
                continue
            index = {corpus.texts[i][0]: i for i in range(int(corpus.pkg_first[p]), int(corpus.pkg_end[p]))}
            ok[name] = {path for path, h in rec["sha1"].items() if path in index and
                        hashlib.sha1(corpus.texts[index[path]][1].encode("utf-8")).hexdigest()[:10] == h}
            self.strip[name], self.files[name] = rec["strip"], index
        self.by_kind: Dict[str, List[dict]] = {k: [] for k in ("where", "what", "what-missing", "which-hit",
                                                                "which-miss", "summarize")}
        self.dropped = 0
        for q in questions:
            good = ok.get(q["package"])
            paths = {c[0] for c in q["chunks"]} | ({q["truth"]["path"]} if q["truth"] and q["truth"]["path"] else set())
            if good is None or not paths <= good:
                self.dropped += good is not None
                continue
            kind = q["kind"]
            if kind == "which":
                kind = "which-hit" if q["truthIn"] else "which-miss"
            elif kind in ("where", "what") and not q["truthIn"]:
                continue
            if kind in self.by_kind:
                self.by_kind[kind].append(q)

    def counts(self) -> Dict[str, int]:
        return {k: len(v) for k, v in self.by_kind.items()}


def log_uniform(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


class DocMaker:
    """Document i of row r, a pure function of (seed, r, i)."""

    def __init__(self, corpus: Corpus, tok, seed: int, mix: MixConfig):
        self.corpus, self.tok, self.seed, self.mix = corpus, tok, seed, mix
        self.passkey = tasks.PassKey(tok)
        self.reread = None
        if mix.task_prob > 0 and sum(getattr(mix, f"reread_{k}") for k in REREAD_KINDS) > 0:
            assert mix.reread_file, "re-read tasks need mix.reread_file (the dump of model/tools/reread-dump.ts)"
            self.reread = RereadData(mix.reread_file, corpus)

    def lm(self, rng) -> Sample:
        first, end = self.corpus.window(rng, log_uniform(rng, *self.mix.lm_tokens))
        ids = np.concatenate([self.corpus.ids(first, end), np.asarray([prompt.EOT], np.int32)])
        return Sample(ids, np.full(len(ids), LOSS_LM, np.uint8))

    def repeat(self, rng) -> Sample:
        m = self.mix
        n = log_uniform(rng, *m.repeat_tokens)
        gap = log_uniform(rng, *m.repeat_gap) if rng.random() < m.repeat_gap_prob else 0
        first, end = self.corpus.window(rng, 2 * n + gap)  # room to start the snippet anywhere in a file
        ids = self.corpus.ids(first, end)
        n = min(n, max(1, len(ids) // 2))
        start = int(rng.integers(0, max(0, len(ids) - n - gap) + 1))
        snippet, filler = ids[start:start + n], ids[start + n:start + n + gap]
        out = np.concatenate([snippet, filler, snippet, np.asarray([prompt.EOT], np.int32)])
        return Sample(out, np.full(len(out), LOSS_LM, np.uint8))

    def reread_task(self, rng, kind: str) -> Optional[Sample]:
        """A re-read sample (tasks.reread_sample): a window of the package's variant, then the dump's chunks."""
        m, data = self.mix, self.reread
        missing = False
        if kind == "what" and rng.random() < m.reread_missing and data.by_kind["what-missing"]:
            kind = "what-missing"
        elif kind == "which":
            missing = rng.random() < m.reread_missing
            # A missing sample: retrieval missed the definition, or (as often) a hit with its chunks taken out.
            kind = "which-miss" if missing and data.by_kind["which-miss"] and rng.random() < 0.5 else "which-hit"
            missing = missing and kind == "which-hit"
        entries = data.by_kind[kind]
        if not entries:
            return None
        entry = entries[int(rng.integers(len(entries)))]
        pkg, strip, files = entry["package"], data.strip[entry["package"]], data.files[entry["package"]]
        text = lambda path: tasks.variant_text(self.corpus.texts[files[path]][1], strip.get(path, []))  # noqa: E731
        target = log_uniform(rng, *m.task_tokens)
        truth = entry["truth"]["path"] if entry["truth"] else ""
        if truth and rng.random() < m.reread_in_window and self.corpus.files[files[truth], 2] <= target:
            first, end = self.corpus.window_with(rng, target, files[truth])
        else:
            first, end = self.corpus.window(rng, target, package=self.corpus.package_of[pkg])
        context = []
        for i in range(first, end):
            path = self.corpus.texts[i][0]
            context.append(np.asarray(prompt.file_ids(self.tok, path, text(path)), np.int32) if path in strip
                           else self.corpus.file(i).ids)
        texts = {c[0]: text(c[0]) for c in entry["chunks"]}
        return tasks.reread_sample(self.tok, np.concatenate(context) if context else np.zeros(0, np.int32), entry,
                                   texts, missing)

    def task(self, rng) -> Optional[Sample]:
        m = self.mix
        shares = np.array([m.passkey, m.where, m.what, m.summarize] +
                          [getattr(m, f"reread_{k}") for k in REREAD_KINDS], dtype=np.float64)
        kind = rng.choice(len(shares), p=shares / shares.sum())
        if kind >= 4:
            return self.reread_task(rng, REREAD_KINDS[kind - 4])
        if kind == 0:
            n = log_uniform(rng, *m.passkey_tokens)
            depth = float(rng.uniform(*m.passkey_depth))
            key = tasks.random_key(rng)
            if rng.random() < 0.5:
                return self.passkey.build(key, self.passkey.n_filler_for(n), depth)
            first, end = self.corpus.window(rng, n)
            return self.passkey.build(key, 0, depth, filler_ids=self.corpus.ids(first, end)[:n])
        first, end = self.corpus.window(rng, log_uniform(rng, *m.task_tokens))
        window = [self.corpus.file(i) for i in range(first, end)]
        build = (tasks.where_sample, tasks.what_sample, tasks.summarize_sample)[kind - 1]
        return build(self.tok, rng, window)

    def __call__(self, row: int, index: int) -> Sample:
        rng = np.random.default_rng([self.seed, row, index])
        if rng.random() < self.mix.task_prob:
            sample = self.task(rng)
            if sample is not None:
                return sample
        if rng.random() < self.mix.repeat_prob:
            return self.repeat(rng)
        return self.lm(rng)


class RowStream:
    """The token stream of one batch row. State: (doc, offset, cut) of the token the next chunk starts at."""

    def __init__(self, make: DocMaker, row: int, state: Optional[dict] = None):
        self.make, self.row = make, row
        state = state or {"doc": 0, "offset": 0, "cut": False}
        self.docs = deque([[state["doc"], make(row, state["doc"]), state["cut"]]])  # [index, sample, cut]
        self.offset = state["offset"]

    def state(self) -> dict:
        return {"doc": int(self.docs[0][0]), "offset": int(self.offset), "cut": bool(self.docs[0][2])}

    def next_chunk(self, T: int, fresh: bool):
        """T+1 tokens and their loss kinds; advances by T. fresh: this step starts from the initial FAM."""
        if fresh and self.offset > 0 and self.make.mix.fresh_at_document:
            index = self.docs.popleft()[0]  # start at the next document
            if not self.docs:
                self.docs.append([index + 1, self.make(self.row, index + 1), False])
            self.offset = 0
        elif fresh and self.offset > 0:
            self.docs[0][2] = True  # the head document's beginning is not visible to this step
        ids, mask, need, i, off = [], [], T + 1, 0, self.offset
        while need > 0:
            if i == len(self.docs):
                nxt = self.docs[-1][0] + 1
                self.docs.append([nxt, self.make(self.row, nxt), False])
            _, s, cut = self.docs[i]
            take = min(need, len(s.ids) - off)
            ids.append(s.ids[off:off + take])
            m = s.mask[off:off + take]
            mask.append(np.where(m == LOSS_TASK, 0, m).astype(np.uint8) if cut else m)
            need -= take
            off = 0
            i += 1
        # advance by T: the last token of this chunk is the first input of the next
        self.offset += T
        while self.offset >= len(self.docs[0][1].ids):
            self.offset -= len(self.docs[0][1].ids)
            self.docs.popleft()
            if not self.docs:
                raise AssertionError("stream advanced past generated documents")
        return np.concatenate(ids), np.concatenate(mask)


def _worker(make: DocMaker, rows: List[int], states: List[Optional[dict]], step: int, T: int, carry_prob: float,
            queue):
    streams = [RowStream(make, r, s) for r, s in zip(rows, states)]
    while True:
        fresh = starts_fresh(make.seed, step, carry_prob)
        out = []
        for r, st in zip(rows, streams):
            ids, mask = st.next_chunk(T, fresh)
            out.append((r, ids, mask, st.state()))
        queue.put((step, out))
        step += 1


class Loader:
    """Batches of b rows x (T+1) tokens, made ahead by worker processes (rows split among them)."""

    def __init__(self, make: DocMaker, batch: int, T: int, step: int, states: Optional[List[dict]],
                 workers: int = 8):
        ctx = mp.get_context("fork")
        self.batch, self.workers = batch, min(workers, batch)
        self.queues, self.procs = [], []
        states = states or [None] * batch
        for w in range(self.workers):
            rows = list(range(w, batch, self.workers))
            q = ctx.Queue(maxsize=6)
            p = ctx.Process(target=_worker, args=(make, rows, [states[r] for r in rows], step, T,
                                                  make.mix.carry_prob, q), daemon=True)
            p.start()
            self.queues.append(q)
            self.procs.append(p)

    def next(self):
        """(step, ids int64 [b, T+1], mask uint8 [b, T+1], row states after this batch)."""
        ids, mask, states, step = [None] * self.batch, [None] * self.batch, [None] * self.batch, None
        for q in self.queues:
            s, out = q.get()
            assert step is None or s == step, f"workers out of step: {s} vs {step}"
            step = s
            for r, i, m, st in out:
                ids[r], mask[r], states[r] = i, m, st
        return step, np.stack(ids).astype(np.int64), np.stack(mask), states

    def close(self):
        for p in self.procs:
            p.terminate()
            p.join()
