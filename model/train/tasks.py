"""Task samples mixed into training (and built the same way by eval/): a workspace streamed as files with
`<|file|>path` headers, then one question at the end (docs/prompt-format.md). The loss is on the answer only.

Tasks:
- PassKey: the Landmark-attention prompt (Mohtashami & Jaggi 2023, used by the FAM paper §3.2): filler of any
  length with "The pass key is 12345. Remember it. 12345 is the pass key." at any depth. Training also uses
  real code as filler half the time (ours), so the skill does not depend on one filler sentence.
- Where: "Where is `NAME` defined?" -> `path:line` (1-based). Python `def`/`class` (via ast), JS/TS `function`,
  `class`, top-level `const|let|var NAME =`. NAME must be defined exactly once in the workspace window.
- What: "What does `NAME` do?" -> the first sentence of its docstring (Python) or JSDoc (JS/TS).
- Summarize: "Summarize PATH" -> the first paragraph of the module docstring (Python) or header comment (JS/TS),
  which is removed from the file's text. As docs/prompt-format.md says, the file is streamed again right before
  the question (here: it is the last file of the window and appears nowhere else in it).

- Re-read (issue 20; `reread_sample` below): a workspace window, then the code the engine re-reads before the question
  (chunks chosen by the engine's own retrieval, dumped by model/tools/reread-dump.ts), then the question: where ->
  `path:line`, what -> the removed doc comment's lead, which function does <description> -> `NAME at path:line`,
  summarize -> the removed header comment's lead, or a fixed not-found sentence (docs/prompt-format.md).

A Sample is (ids int32 [n], mask uint8 [n]) where mask marks the tokens whose *prediction* is trained:
LOSS_LM for plain text, LOSS_TASK for the answer tokens and the final `<|endoftext|>`, 0 for unscored tokens.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

import prompt

LOSS_LM, LOSS_TASK = 1, 2


@dataclass
class Sample:
    ids: np.ndarray  # int32 [n]
    mask: np.ndarray  # uint8 [n], the loss kind of predicting ids[i] from ids[:i]


@dataclass
class File:
    path: str
    text: str
    ids: np.ndarray  # prompt.file_ids(path, text)


def task_sample(context: Sequence[int], question: List[int], answer: List[int]) -> Sample:
    ids = np.concatenate([np.asarray(context, np.int32), np.asarray(question + answer, np.int32)])
    mask = np.zeros(len(ids), np.uint8)
    mask[len(ids) - len(answer):] = LOSS_TASK
    return Sample(ids, mask)


# ---------------------------------------------------------------- PassKey

PASSKEY_INTRO = ("There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
                 "I will quiz you about the important information there.")
PASSKEY_FILLER = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
PASSKEY_SENTENCE = " The pass key is {key}. Remember it. {key} is the pass key."
PASSKEY_QUESTION = "What is the pass key?"
PASSKEY_PATH = "passkey.txt"


class PassKey:
    """Builds PassKey prompts at the token level: every piece is encoded once, then repeated.

    Layout: <|file|>passkey.txt\\n INTRO FILLER*n1 KEY_SENTENCE FILLER*n2 \\n <|question|>What is the pass key?
    <|answer|>KEY<|endoftext|>. The pieces start with a space, so their concatenation encodes like the full text.
    """

    def __init__(self, tok):
        self.tok = tok
        enc = lambda s: tok.encode(s, add_special_tokens=False).ids  # noqa: E731
        self.head = [prompt.FILE] + enc(PASSKEY_PATH + "\n" + PASSKEY_INTRO)
        self.filler = enc(PASSKEY_FILLER)
        self.tail = enc("\n")
        self.question = prompt.question_ids(tok, PASSKEY_QUESTION)

    def key_sentence(self, key: str) -> List[int]:
        return self.tok.encode(PASSKEY_SENTENCE.format(key=key), add_special_tokens=False).ids

    def n_filler_for(self, total_tokens: int) -> int:
        """How many filler sentences give a prompt of about total_tokens tokens."""
        fixed = len(self.head) + len(self.key_sentence("12345")) + len(self.tail) + len(self.question) + 6
        return max(1, (total_tokens - fixed) // len(self.filler))

    def build(self, key: str, n_filler: int, depth: float, filler_ids: Optional[np.ndarray] = None) -> Sample:
        """depth in [0, 1]: where the key sentence sits in the filler. filler_ids replaces the filler sentences."""
        if filler_ids is None:  # whole filler sentences on both sides of the key
            filler = np.tile(np.asarray(self.filler, np.int32), n_filler)
            cut = self.sentences_before_key(n_filler, depth) * len(self.filler)
        else:
            filler = np.asarray(filler_ids, np.int32)
            cut = int(round(depth * len(filler)))
        context = np.concatenate([np.asarray(self.head, np.int32), filler[:cut],
                                  np.asarray(self.key_sentence(key), np.int32), filler[cut:],
                                  np.asarray(self.tail, np.int32)])
        return task_sample(context, self.question, prompt.answer_ids(self.tok, key))

    @staticmethod
    def sentences_before_key(n_filler: int, depth: float) -> int:
        return int(round(depth * n_filler))

    @staticmethod
    def file_text(key: str, n_filler: int, depth: float) -> str:
        """The text of passkey.txt that build() lays out (filler sentences), for a reader of files: the engine."""
        before = PassKey.sentences_before_key(n_filler, depth)
        return (PASSKEY_INTRO + PASSKEY_FILLER * before + PASSKEY_SENTENCE.format(key=key)
                + PASSKEY_FILLER * (n_filler - before) + "\n")


def random_key(rng: np.random.Generator) -> str:
    return str(int(rng.integers(10000, 100000)))


# ---------------------------------------------------------------- definitions and docs

@dataclass
class Definition:
    name: str
    line: int  # 1-based line of the `def` / `class` / `function` / `const` keyword
    doc: Optional[str]  # first sentence of its docstring / JSDoc, if any


def first_sentence(doc: str, max_chars: int = 200) -> Optional[str]:
    """The first sentence of the first paragraph, whitespace collapsed; None if too short or too long."""
    para = re.split(r"\n\s*\n", doc.strip(), maxsplit=1)[0]
    para = " ".join(para.split())
    m = re.search(r"^(.+?[.!?])(\s|$)", para)
    sent = m.group(1) if m else para
    if len(sent.split()) < 3 or len(sent) > max_chars:
        return None
    return sent


def first_paragraph(doc: str, max_chars: int = 400) -> Optional[str]:
    """The first paragraph, cut at a sentence end so it stays under max_chars."""
    para = " ".join(re.split(r"\n\s*\n", doc.strip(), maxsplit=1)[0].split())
    if len(para.split()) < 3:
        return None
    while len(para) > max_chars:
        ends = [m.end() for m in re.finditer(r"[.!?](\s|$)", para[:max_chars])]
        if not ends:
            return None
        para = para[:ends[-1]].strip()
    return para


def python_definitions(text: str) -> List[Definition]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            doc = ast.get_docstring(node)
            out.append(Definition(node.name, node.lineno, first_sentence(doc) if doc else None))
    return out


JS_DEF = re.compile(r"^(?:export\s+)?(?:default\s+)?(?:declare\s+)?(?:async\s+)?(?:abstract\s+)?"
                    r"(?:function\s*\*?\s*|class\s+)([A-Za-z_$][\w$]*)")
JS_CONST = re.compile(r"^(?:export\s+)?(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=")


def jsdoc_before(lines: List[str], i: int) -> Optional[str]:
    """The /** ... */ block that ends on the line right above line index i, without * and @tags."""
    j = i - 1
    if j < 0 or not lines[j].strip().endswith("*/"):
        return None
    while j >= 0 and "/**" not in lines[j]:
        j -= 1
        if i - j > 60:
            return None
    if j < 0:
        return None
    body = []
    for raw in lines[j:i]:
        s = raw.strip().removeprefix("/**").removesuffix("*/").strip().removeprefix("*").strip()
        if s.startswith("@"):
            break
        body.append(s)
    return "\n".join(body)


def js_definitions(text: str) -> List[Definition]:
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        m = JS_DEF.match(stripped) or (JS_CONST.match(line) if line == stripped else None)
        if m:
            doc = jsdoc_before(lines, i)
            out.append(Definition(m.group(1), i + 1, first_sentence(doc) if doc else None))
    return out


def definitions(path: str, text: str) -> List[Definition]:
    if path.endswith((".py", ".pyi")):
        return python_definitions(text)
    if path.endswith((".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx")):
        return js_definitions(text)
    return []


def defines_pattern(name: str) -> re.Pattern:
    n = re.escape(name)
    return re.compile(rf"(\bdef\s+{n}\b|\bclass\s+{n}\b|\bfunction\s*\*?\s*{n}\b|\b(const|let|var)\s+{n}\b)")


def unique_in_window(name: str, window: Sequence[File]) -> bool:
    pat = defines_pattern(name)
    return sum(len(pat.findall(f.text)) for f in window) == 1


def module_summary(path: str, text: str) -> Optional[Tuple[str, str]]:
    """(summary, text with the docstring / header comment removed), or None when the file has none."""
    if path.endswith(".py"):
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None
        doc = ast.get_docstring(tree)
        if not doc or not tree.body:
            return None
        node = tree.body[0]
        lines = text.split("\n")
        rest = "\n".join(lines[:node.lineno - 1] + lines[node.end_lineno:]).lstrip("\n")
    elif path.endswith((".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".tsx", ".jsx")):
        m = re.match(r"\s*(/\*\*?(.*?)\*/|(?://[^\n]*\n)+)", text, re.S)
        if not m:
            return None
        block = m.group(1)
        if block.startswith("//"):
            doc = "\n".join(l.strip().removeprefix("//").strip() for l in block.strip().split("\n"))
        else:
            doc = "\n".join(l.strip().removeprefix("*").strip() for l in m.group(2).split("\n"))
            doc = "\n".join(l for l in doc.split("\n") if not l.startswith("@"))
        if re.search(r"copyright|licen[cs]e|eslint|prettier|@ts-", doc, re.I):
            return None
        rest = text[m.end():].lstrip("\n")
    else:
        return None
    summary = first_paragraph(doc)
    if summary is None or not rest.strip():
        return None
    return summary, rest


# ---------------------------------------------------------------- task builders over a workspace window

def context_ids(window: Sequence[File]) -> np.ndarray:
    return np.concatenate([f.ids for f in window]) if window else np.zeros(0, np.int32)


def where_sample(tok, rng: np.random.Generator, window: Sequence[File]) -> Optional[Sample]:
    order = rng.permutation(len(window))
    for fi in order[:8]:
        f = window[fi]
        defs = [d for d in definitions(f.path, f.text) if len(d.name) > 2]
        rng.shuffle(defs)
        for d in defs[:6]:
            if unique_in_window(d.name, window):
                return task_sample(context_ids(window), prompt.question_ids(tok, prompt.where_question(d.name)),
                                   prompt.answer_ids(tok, prompt.where_answer(f.path, d.line)))
    return None


def what_sample(tok, rng: np.random.Generator, window: Sequence[File]) -> Optional[Sample]:
    order = rng.permutation(len(window))
    for fi in order[:8]:
        f = window[fi]
        defs = [d for d in definitions(f.path, f.text) if d.doc and len(d.name) > 2]
        rng.shuffle(defs)
        for d in defs[:6]:
            if unique_in_window(d.name, window):
                return task_sample(context_ids(window), prompt.question_ids(tok, prompt.what_question(d.name)),
                                   prompt.answer_ids(tok, d.doc))
    return None


def summarize_sample(tok, rng: np.random.Generator, window: Sequence[File]) -> Optional[Sample]:
    order = rng.permutation(len(window))
    for fi in order[:12]:
        f = window[fi]
        found = module_summary(f.path, f.text)
        if found is None:
            continue
        summary, rest = found
        others = [g for j, g in enumerate(window) if j != fi]
        context = np.concatenate([context_ids(others), np.asarray(prompt.file_ids(tok, f.path, rest), np.int32)])
        return task_sample(context, prompt.question_ids(tok, prompt.summarize_question(f.path)),
                           prompt.answer_ids(tok, summary))
    return None


# ---------------------------------------------------------------- re-read samples (model/tools/reread-dump.ts)
#
# The engine answers a question from the workspace memory after re-reading the code it is about
# (docs/prompt-format.md, "Re-read code before a question"). Which chunks it re-reads is decided by the engine's own
# code, dumped per question by model/tools/reread-dump.ts over the training packages; here the dump's chunks are laid
# out with the file texts of the corpus, byte for byte as the engine streams them:
#
#   <workspace window> <|file|>path:S-E\n<lines S-E>\n ... (least relevant first) <|question|>Q<|answer|>A<|endoftext|>
#
# A package's questions are asked of its *variant*: the package with some doc comments and header comments deleted
# (the dump's `strip` spans), since the engine quotes a doc comment or header that exists and asks the model only
# when there is none. The window streamed before the re-read is the variant too, so the answer is nowhere in it.

MAX_LINE_CHARS = 2000  # retrieval.ts capLine: a longer line is cut (in UTF-16 units, as JavaScript counts) + "…"


def cap_line(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS // 2:  # at most 2 UTF-16 units a character
        return line
    units = line.encode("utf-16-le")
    if len(units) <= 2 * MAX_LINE_CHARS:
        return line
    return units[:2 * MAX_LINE_CHARS].decode("utf-16-le", errors="ignore") + "…"


def variant_text(text: str, spans: Sequence[Sequence[int]]) -> str:
    """text without the 1-based inclusive line spans (lines split at "\\n"): the dump tool's deleteLines."""
    if not spans:
        return text
    drop = {i for a, b in spans for i in range(a, b + 1)}
    return "\n".join(line for i, line in enumerate(text.split("\n"), 1) if i not in drop)


def chunk_lines(text: str, start: int, end: int) -> str:
    """Lines start..end of a file as retrieval.ts re-reads them (the file split at newlines, long lines cut)."""
    return "\n".join(cap_line(line) for line in text.split("\n")[start - 1:end])


def chunk_ids(tok, path: str, start: int, end: int, reason: str, text: str) -> List[int]:
    """One re-read chunk: a file re-read whole for a summary (reason "whole") in the plain file layout, else
    `<|file|>path:S-E` and those lines (prompt.reread_ids, the engine's rereadChunkTokens)."""
    if reason == "whole":
        return prompt.file_ids(tok, path, text)
    return prompt.reread_ids(tok, path, start, end, chunk_lines(text, start, end))


def covers_truth(chunk: Sequence, truth: dict) -> bool:
    path, start, end = chunk[0], chunk[1], chunk[2]
    return path == truth["path"] and start <= truth["line"] <= end


def reread_answer(entry: dict, missing: bool) -> str:
    """The answer the model is trained to give: the dump's, or a fixed not-found sentence (prompt.py) when the
    question names nothing the package defines (what-missing) or its definition is not re-read (which)."""
    if entry["kind"] == "what-missing":
        return prompt.not_defined_answer(entry["truth"]["name"])
    if entry["kind"] == "which" and (missing or not entry["truthIn"]):
        return prompt.NOT_REREAD_ANSWER
    return entry["answer"]


def reread_sample(tok, context: Sequence[int], entry: dict, texts: dict, missing: bool = False) -> Sample:
    """context (a workspace window's ids) + the entry's re-read chunks + its question + its answer.

    texts: path -> the variant text of every file the chunks name. missing (which-questions): the chunks that hold
    the definition are left out, and the answer says it is not in what was re-read."""
    chunks = entry["chunks"]
    if missing:
        chunks = [c for c in chunks if not covers_truth(c, entry["truth"])]
    reread = [i for c in chunks for i in chunk_ids(tok, c[0], c[1], c[2], c[3], texts[c[0]])]
    return task_sample(np.concatenate([np.asarray(context, np.int32), np.asarray(reread, np.int32)]),
                       prompt.question_ids(tok, entry["question"]),
                       prompt.answer_ids(tok, reread_answer(entry, missing)))
