"""The re-read layout of training (tasks.reread_sample) against the engine's own tokens, with the shipped tokenizer:
model/tools/reread-dump.ts --with-ids records, per question, the ids the engine streams from the first re-read chunk
to `<|answer|>` (model/engine/prompt.ts); the Python sample built from the same dump record and the same files must
hold exactly those ids before its answer.

    python3 -m pytest model/train/tests/test_reread_parity.py -q     # needs node (with the repo's npm packages)
                                                                    # and the Python `tokenizers`; skipped without
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import prompt  # noqa: E402
import tasks  # noqa: E402

tokenizers = pytest.importorskip("tokenizers")
REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(shutil.which("node") is None or not (REPO / "node_modules/tsx").exists(),
                                reason="needs node and the repository's npm packages")

FILES = {
    "src/queue.ts": """/**
 * A job queue that runs jobs one at a time and retries the failed ones.
 */

import { sleep } from './util';

/**
 * Retries a task with exponential backoff until it succeeds or runs out of tries.
 */
export async function retryWithBackoff<T>(task: () => Promise<T>, tries = 5): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await task();
    } catch (err) {
      if (i + 1 >= tries) throw err;
      await sleep(100 * 2 ** i);
    }
  }
}

/** Holds the jobs that are waiting for their turn, oldest first. */
export class Queue {
  private jobs: string[] = [];

  /** Adds a job at the end of the queue and returns its position. */
  push(job: string): number {
    this.jobs.push(job);
    return this.jobs.length;   \t
  }
}
""",
    "src/util.ts": "// Small helpers shared by the queue and its tests, and nothing else.\n\n"
                   "/** Waits the given number of milliseconds before it resolves. */\n"
                   "export function sleep(ms: number): Promise<void> {\n  return new Promise((r) => setTimeout(r, ms));\n}\n"
                   "export const long = '" + "é" * 2500 + "';\n",
    "lib/cookies.js": "'use strict';\n\n/*!\n * Parses and serialises the cookie headers of HTTP requests and responses.\n */\n\n"
                      "/**\n * Parse a cookie header into an object of names and values.\n */\nfunction parse(str) {\n"
                      "  var obj = {};\n  return obj;\n}\n\nmodule.exports = { parse: parse };\n",
    "README.md": "# queue\n\nA job queue with retries. 😀\n",
}


def test_python_lays_out_the_engines_tokens(tmp_path):
    ws, variant, out = tmp_path / "ws", tmp_path / "variant", tmp_path / "dump.jsonl"
    for rel, text in FILES.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    subprocess.run(["node", "--import", "tsx", "model/tools/reread-dump.ts", "--workspace", str(ws), "--out", str(out),
                    "--variant-out", str(variant), "--with-ids", "--doc-share", "1", "--header-share", "1",
                    "--budgets", "60:1,300:1,4000:1"], cwd=REPO, check=True, capture_output=True)
    tok = tokenizers.Tokenizer.from_file(str(REPO / "model/weights/default/tokenizer.json"))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    questions = [r for r in records if r["type"] == "q"]
    assert {q["kind"] for q in questions} >= {"what", "which", "summarize", "where"}
    texts = {p: (variant / p).read_text() for p in FILES}
    for q in questions:
        s = tasks.reread_sample(tok, [], q, texts)
        n_answer = len(prompt.answer_ids(tok, tasks.reread_answer(q, False)))
        assert s.ids[:len(s.ids) - n_answer].tolist() == q["ids"], q["question"]
