"""The checks of the open-family fixtures that need Hugging Face transformers (not installed on the development
machine): run on a machine that has it, from the repository root, after `npm ci`:

    python3 model/train/check_families_transformers.py [--renderings DIR]

Without node_modules (the GPU machine has transformers but not the project's Node packages), save the engine's
renderings first, here: `for f in test/fixtures/families/*/; do node --import tsx model/tools/render-chat.ts $f
test/fixtures/chat-conversations.json > DIR/$(basename $f).json; done`, and carry DIR.

For every test/fixtures/families/<name>/ (made by family_fixtures.py):
1. logits: transformers' own model class for the config (AutoModelForCausalLM: LlamaForCausalLM, Qwen2ForCausalLM,
   Qwen3ForCausalLM, MistralForCausalLM) in float32 with eager attention, on the first block of expected.safetensors'
   input_ids, against the rows fam.py stored for that block (block 0 has no memory, so BSWA is the plain causal
   decoder there). Relative L2 error per row <= cpuVsTransformers of test/parity/tolerances.json.
2. chat templates: AutoTokenizer.apply_chat_template(tokenize=False) on test/fixtures/chat-conversations.json,
   byte for byte against the engine's @huggingface/jinja rendering (model/tools/render-chat.ts, through node).
Exits 1 on any difference, naming the family, row or conversation.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]
FAMILIES = REPO / "test" / "fixtures" / "families"
CONVERSATIONS = REPO / "test" / "fixtures" / "chat-conversations.json"
TOLERANCE = json.loads((REPO / "test" / "parity" / "tolerances.json").read_text())["cpuVsTransformers"]

def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def check_logits(dir: Path) -> list:
    from transformers import AutoModelForCausalLM

    exp = load_file(str(dir / "expected.safetensors"))
    with safe_open(str(dir / "expected.safetensors"), "pt") as f:
        meta = f.metadata()
    B = json.loads(meta["config"])["block_size"]
    rows = json.loads(meta["rows"])
    model = AutoModelForCausalLM.from_pretrained(str(dir), torch_dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        logits = model(input_ids=exp["input_ids"][None, :B], use_cache=False).logits[0]
    problems = []
    for i, r in enumerate(rows):
        err = rel_error(exp["block0.logits"][i], logits[r])
        print(f"  {dir.name} row {r}: relative error {err:.3g}")
        if not err <= TOLERANCE:
            problems.append(f"{dir.name}: logits row {r} differ from {type(model).__name__}: {err:.3g} > {TOLERANCE}")
    return problems


def engine_renderings(dir: Path, renderings: Path | None) -> dict:
    """The engine's renderings of every conversation: render-chat.ts through node, or, on a machine without the
    project's node_modules (the GPU machine), its output saved beforehand as RENDERINGS/<family>.json."""
    if renderings is not None:
        return json.loads((renderings / f"{dir.name}.json").read_text())
    return json.loads(subprocess.run(
        ["node", "--import", "tsx", "model/tools/render-chat.ts", str(dir), str(CONVERSATIONS)],
        cwd=REPO, check=True, capture_output=True, text=True).stdout)


def check_templates(dir: Path, renderings: Path | None) -> list:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(dir))
    ours = engine_renderings(dir, renderings)
    convs = json.loads(CONVERSATIONS.read_text())
    problems = []
    for c in convs["all"] + convs["withSystem"]:
        try:
            theirs = tok.apply_chat_template(c["messages"], tokenize=False, add_generation_prompt=c["gen"],
                                             enable_thinking=False)
        except Exception as e:  # noqa: BLE001 - a template's raise_exception
            theirs = {"error": str(e)}
        mine = ours[c["name"]]
        if isinstance(theirs, dict) != isinstance(mine, dict) or (not isinstance(mine, dict) and mine != theirs):
            problems.append(f"{dir.name}: {c['name']!r}: transformers {theirs!r} vs ours {mine!r}")
    print(f"  {dir.name}: {len(convs['all']) + len(convs['withSystem'])} conversations compared")
    return problems


def main() -> None:
    import transformers

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--renderings", type=Path, help="folder of render-chat.ts outputs, <family>.json (default: run it)")
    args = ap.parse_args()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    problems = []
    for dir in sorted(p for p in FAMILIES.iterdir() if p.is_dir()):
        problems += check_logits(dir) + check_templates(dir, args.renderings)
    for p in problems:
        print(f"FAIL {p}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
