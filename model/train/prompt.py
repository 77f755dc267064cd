"""The token layout of docs/prompt-format.md, shared by training (tasks.py, data.py) and evaluation (eval/).

    <|file|>src/app.ts\\n<file text>\\n<|file|>README.md\\n<file text>\\n ... <|question|>Q<|answer|>A<|endoftext|>
    ... <|file|>src/app.ts:12-30\\n<lines 12-30>\\n<|question|>Q<|answer|>A<|endoftext|>   (code re-read before Q)
    ... <|question|>Q1<|answer|>A1<|endoftext|> <|file|>...re-read... <|question|>Q2<|answer|>   (a follow-up)

How text becomes ids (the engine's model/engine/prompt.ts must do the same):
- A file is the id of `<|file|>` followed by the encoding of `path + "\\n" + text`, where text ends with exactly one
  newline. Each file is encoded on its own.
- A question is `<|question|>` + encode(question) + `<|answer|>`; an answer is encode(answer) + `<|endoftext|>`.
- `<|endoftext|>` also separates unrelated documents in packed training data.
"""

from __future__ import annotations

from typing import List, Tuple

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


def history_text(turns: List[Tuple[str, str]]) -> str:
    """Earlier turns of a conversation, oldest first, special tokens written out: each is laid out as a question
    and its answer are in training, `<|question|>Q<|answer|>A<|endoftext|>`, with Q and A stripped of surrounding
    whitespace. The engine's turnText / historyTokens (model/engine/prompt.ts) write the same."""
    q, a, e = SPECIAL_TOKENS[QUESTION], SPECIAL_TOKENS[ANSWER], SPECIAL_TOKENS[EOT]
    return "".join(f"{q}{question.strip()}{a}{answer.strip()}{e}" for question, answer in turns)


def history_ids(tok, turns: List[Tuple[str, str]]) -> List[int]:
    """history_text(turns) as ids: question_ids + answer_ids per turn, Q and A encoded apart as in task_sample."""
    return [i for question, answer in turns for i in question_ids(tok, question.strip()) + answer_ids(tok, answer.strip())]


# The questions of the task mix (tasks.py); the engine asks them with the same words.
def where_question(name: str) -> str:
    return f"Where is `{name}` defined?"


def what_question(name: str) -> str:
    return f"What does `{name}` do?"


def summarize_question(path: str) -> str:
    return f"Summarize {path}"


def where_answer(path: str, line: int) -> str:
    return f"{path}:{line}"


# After a re-read (docs/prompt-format.md, "Answers after a re-read"; the dump tool model/tools/reread-dump.ts
# writes the questions and the answers found, whichQuestion / whichAnswer there).
def which_question(kind: str, description: str) -> str:
    """RepoQA's search-needle-function: the description is the first sentence of the removed doc comment."""
    return f"Which {'class' if kind == 'class' else 'function'} does this: {description}"


def which_answer(qualified_name: str, path: str, line: int) -> str:
    return f"{qualified_name} at {path}:{line}"


def not_defined_answer(name: str) -> str:
    """The answer to "What does `NAME` do?" when NAME is defined nowhere: the engine's own words for an unknown
    name (engine.ts, a where-question about a name the index lacks)."""
    return f"No definition of `{name}` is in the workspace index."


# The answer to a which-question whose definition is not among the re-read chunks.
NOT_REREAD_ANSWER = "No definition that does this is in the code I re-read."
