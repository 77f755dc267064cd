"""Encode a fixed set of strings with the Python `tokenizers` library, for check_tokenizer.mjs to compare.

    python model/train/eval/tokenizer_ids.py --tokenizer DIR/tokenizer.json --out ids.json
"""

from __future__ import annotations

import argparse
import json

from tokenizers import Tokenizer

STRINGS = [
    "Hello World",
    "def main(argv):\n    return 0\n",
    "export const startServer = async (port: number) => {\n\tconsole.log(`listening on ${port}`);\n};\n",
    "<|file|>src/app.ts\nimport x from './x';\n<|question|>Where is `startServer` defined?<|answer|>src/app.ts:12"
    "<|endoftext|>",
    " The pass key is 71432. Remember it. 71432 is the pass key.",
    "Ünïcödé — 日本語のテキスト, emoji 🚀, tabs\t\tand  double  spaces\r\n",
    "x = [1, 22, 333, 4444, 55555, 3.14159e-10]",
    "    # indented comment\n        deeper\n",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    tok = Tokenizer.from_file(args.tokenizer)
    cases = [{"text": s, "ids": tok.encode(s, add_special_tokens=False).ids} for s in STRINGS]
    with open(args.out, "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
