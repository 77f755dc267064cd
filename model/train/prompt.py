"""The token layout of docs/prompt-format.md, shared by training (tasks.py, data.py) and evaluation (eval/).

    <|file|>src/app.ts\\n<file text>\\n<|file|>README.md\\n<file text>\\n ... <|question|>Q<|answer|>A<|endoftext|>
    ... <|file|>src/app.ts:12-30\\n<lines 12-30>\\n<|question|>Q<|answer|>A<|endoftext|>   (code re-read before Q)

How text becomes ids (the engine's model/engine/prompt.ts must do the same):
- A file is the id of `<|file|>` followed by the encoding of `path + "\\n" + text`, where text ends with exactly one
  newline. Each file is encoded on its own.
- A question is `<|question|>` + encode(question) + `<|answer|>`; an answer is encode(answer) + `<|endoftext|>`.
- `<|endoftext|>` also separates unrelated documents in packed training data.
"""

from __future__ import annotations

from typing import List

# Special tokens: ids 0..3 of every Famulus tokenizer, in this order (docs/prompt-format.md).
SPECIAL_TOKENS = ["<|endoftext|>", "<|file|>", "<|question|>", "<|answer|>"]
EOT, FILE, QUESTION, ANSWER = range(4)


def with_one_newline(text: str) -> str:
    return text.rstrip("\n") + "\n"


def file_ids(tok, path: str, text: str) -> List[int]:
    """`<|file|>path\\n<text>\\n` as ids; tok is a tokenizers.Tokenizer."""
    return [FILE] + tok.encode(path + "\n" + with_one_newline(text), add_special_tokens=False).ids


def reread_text(path: str, start_line: int, end_line: int, lines: str) -> str:
    """Code re-read before a question: `path:START-END\\n` + those lines (1-based, inclusive) + one newline."""
    return f"{path}:{start_line}-{end_line}\n" + with_one_newline(lines)


def reread_ids(tok, path: str, start_line: int, end_line: int, lines: str) -> List[int]:
    """`<|file|>` + reread_text(...) as ids: the engine's rereadChunkTokens (model/engine/prompt.ts)."""
    return [FILE] + tok.encode(reread_text(path, start_line, end_line, lines), add_special_tokens=False).ids


def question_ids(tok, question: str) -> List[int]:
    return [QUESTION] + tok.encode(question, add_special_tokens=False).ids + [ANSWER]


def answer_ids(tok, answer: str) -> List[int]:
    return tok.encode(answer, add_special_tokens=False).ids + [EOT]


# The questions of the task mix (tasks.py); the engine asks them with the same words.
def where_question(name: str) -> str:
    return f"Where is `{name}` defined?"


def what_question(name: str) -> str:
    return f"What does `{name}` do?"


def summarize_question(path: str) -> str:
    return f"Summarize {path}"


def where_answer(path: str, line: int) -> str:
    return f"{path}:{line}"
