"""Turn evaluation JSON and training logs into docs/results/: one JSON, one markdown table, one PNG.

    python model/train/eval/report.py --out docs/results/default-model \\
        --model "stage 2 (shipped)" DIR2 --model "stage 1" DIR1 --log "stage 1" LOG1 --log "stage 2" LOG2

Each DIR holds passkey.json, heldout.json and symbols.json from the scripts beside this one; each LOG is a
train.py train_log.jsonl. Writes OUT.json, OUT.md and OUT.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_json(path: Path):
    return json.load(open(path)) if path.exists() else None


BLOCKS_BACK = ((0, 0), (1, 1), (2, 2), (3, 3), (4, 15), (16, 63), (64, None))  # rows of blocks_back_table


def blocks_back_table(cells) -> list[str]:
    """PassKey trials of every cell pooled by how many blocks the key lies before the question (passkey.py's
    by_blocks_back): the memory's reach without the depth names' blur. Empty for results measured without it."""
    pooled = {}
    for c in cells:
        for d, v in c.get("by_blocks_back", {}).items():
            t, k = pooled.get(int(d), (0, 0))
            pooled[int(d)] = (t + v["trials"], k + v["correct"])
    if not pooled:
        return []
    md = ["PassKey by blocks between the key and the question (every cell's trials pooled; 0..m is inside the "
          "attention window of m memory blocks; further needs the FAM, or a hop through the ring: a block's "
          "rows read the ring and their deeper layers' keys/values enter it, see default-model/fam-ablation.md):", "",
          "| blocks back | trials | correct |", "|---|---|---|"]
    for lo, hi in BLOCKS_BACK:
        rows = [v for d, v in pooled.items() if d >= lo and (hi is None or d <= hi)]
        t, k = sum(v[0] for v in rows), sum(v[1] for v in rows)
        if t:
            name = str(lo) if lo == hi else f"{lo}+" if hi is None else f"{lo}-{hi}"
            md.append(f"| {name} | {t} | {k} ({k / t:.0%}) |")
    return md + [""]


def symbols_table(cells: list) -> list:
    """Markdown lines: symbol location per workspace length, with symbols.py's token-level scores where the cells
    have them (cells measured before they existed show "-")."""
    share = lambda c, k: f"{c[k]:.0%}" if k in c else "-"  # noqa: E731
    return ["Symbol location (`Where is NAME defined?` -> `path:line`, greedy exact match; path right and line "
            "digits right: each answer token the argmax after the right ones before it):", "",
            "| workspace tokens | mean tokens | trials | accuracy | path right | line digits right | test packages used |",
            "|---|---|---|---|---|---|---|",
            *(f"| {c['length'] // 1024}k | {c['mean_tokens']:.0f} | {c['trials']} | {c['accuracy']:.0%} | "
              f"{share(c, 'path_right')} | {share(c, 'line_digits_right')} | {', '.join(c['packages'])} |"
              for c in cells), ""]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", nargs=2, action="append", default=[], metavar=("LABEL", "DIR"))
    ap.add_argument("--log", nargs=2, action="append", default=[], metavar=("LABEL", "JSONL"))
    ap.add_argument("--logs", choices=("stages", "variants"), default="stages",
                    help="stages: each log continues the previous one; variants: all start at 0 (docs/results/fig3a.md)")
    args = ap.parse_args()
    models = [{"label": label, **{k: read_json(Path(d) / f"{k}.json") for k in ("passkey", "heldout", "symbols")}}
              for label, d in args.model]
    logs = []
    for label, path in args.log:
        recs = [json.loads(line) for line in open(path)]
        logs.append({"label": label, "steps": [r for r in recs if "step" in r and "lm_loss" in r],
                     "ends": [r["end_of_call"] for r in recs if "end_of_call" in r]})

    md = [f"# Results: {Path(args.out).name}", ""]
    compared = [m for m in models if m["passkey"]]
    if len(compared) > 1:  # one table across models, key at the start (the paper's Fig. 3a)
        lengths = sorted({c["length"] for m in compared for c in m["passkey"]["cells"]})
        md += ["PassKey accuracy, key at the start (greedy exact match, trials per cell in brackets):", "",
               "| model | " + " | ".join(f"{n // 1024}k" for n in lengths) + " |", "|---|" + "---|" * len(lengths)]
        for m in compared:
            row = {c["length"]: c for c in m["passkey"]["cells"] if c["depth"] == "start"}
            md.append(f"| {m['label']} | " + " | ".join(
                f"{row[n]['accuracy']:.0%} ({row[n]['trials']})" if n in row else "-" for n in lengths) + " |")
        md.append("")
    for m in models:
        md += [f"## {m['label']}", ""]
        if m["passkey"]:
            cells = m["passkey"]["cells"]
            lengths = sorted({c["length"] for c in cells})
            depths = [d for d in ("start", "middle", "end") if any(c["depth"] == d for c in cells)]
            md += ["PassKey accuracy (greedy exact match, trials per cell in brackets):", "",
                   "| key depth | " + " | ".join(f"{n // 1024}k" for n in lengths) + " |",
                   "|---|" + "---|" * len(lengths)]
            for d in depths:
                row = {c["length"]: c for c in cells if c["depth"] == d}
                md.append(f"| {d} | " + " | ".join(
                    f"{row[n]['accuracy']:.0%} ({row[n]['trials']})" if n in row else "-" for n in lengths) + " |")
            md.append("")
            md += blocks_back_table(cells)
        if m["heldout"]:
            h = m["heldout"]
            md += [f"Held-out next-token accuracy ({len(h['by_package'])} test packages, first "
                   f"{h['max_tokens'] // 1024}k tokens each, {h['tokens']} tokens): **{h['accuracy']:.1%}**, "
                   f"loss {h['loss']:.3f}.", "", "| position in workspace | tokens | accuracy | loss |", "|---|---|---|---|"]
            md += [f"| {b['from']}-{b['to']} | {b['tokens']} | {b['accuracy']:.1%} | {b['loss']:.3f} |"
                   for b in h["by_position"]]
            md.append("")
        if m["symbols"]:
            md += symbols_table(m["symbols"]["cells"])
    for lg in logs:
        if lg["ends"]:
            md += [f"Training log, {lg['label']}: " + "; ".join(
                f"call ended at step {e['step']}, {e['tokens'] / 1e6:.0f}M tokens, {e['train_seconds']:.0f} s, "
                f"val loss {e.get('val_loss', float('nan')):.3f}" for e in lg["ends"]) + ".", ""]

    fig, axes = plt.subplots(1, 2, figsize=(13, 5 + 0.09 * max(len(models), len(logs))))
    # One colour per label in both panels, so a model's PassKey curve and its loss curves read together; 40 distinct
    # colours, as a report of every stage has more labels than one qualitative map holds.
    labels = list(dict.fromkeys([m["label"] for m in models] + [lg["label"] for lg in logs]))
    # tab20b holds five hues of four shades each: taken a shade of every hue at a time, neighbouring labels differ.
    shades = plt.get_cmap("tab20b").colors
    palette = [*plt.get_cmap("tab20").colors, *(shades[i] for i in sorted(range(20), key=lambda i: (i % 4, i // 4)))]
    colour = {label: palette[i % len(palette)] for i, label in enumerate(labels)}
    below = dict(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)  # legends under the plots
    ax = axes[0]
    for m in models:
        if not m["passkey"]:
            continue
        label = m["label"]  # one legend entry per model; the line style tells the depth (the title says which)
        for d, style in (("start", "o-"), ("middle", "s--"), ("end", "^:")):
            cells = sorted((c for c in m["passkey"]["cells"] if c["depth"] == d), key=lambda c: c["length"])
            if not cells:
                continue
            ax.plot([c["length"] for c in cells], [100 * c["accuracy"] for c in cells], style,
                    color=colour[m["label"]], label=label)
            label = None
    ax.set_xscale("log", base=2)
    ax.set_xlabel("prompt length (tokens)")
    ax.set_ylabel("PassKey accuracy (%)")
    ax.set_ylim(-5, 105)
    ax.set_title("PassKey retrieval (key at the start: o-, middle: s--, end: ^:)")
    ax.legend(**below)
    ax = axes[1]
    offset = 0
    for lg in logs:
        xs = [(offset + r["tokens"]) / 1e6 for r in lg["steps"]]
        ax.plot(xs, [r["lm_loss"] for r in lg["steps"]], color=colour[lg["label"]], label=lg["label"])
        if lg["ends"]:
            ax.plot([(offset + e["tokens"]) / 1e6 for e in lg["ends"]], [e.get("val_loss") for e in lg["ends"]],
                    "o", color=colour[lg["label"]])
        if args.logs == "stages":
            offset += lg["steps"][-1]["tokens"] if lg["steps"] else 0
    ax.set_xlabel("tokens seen (M)")
    ax.set_ylabel("cross-entropy (nats)")
    ax.set_title("Training (lines: training LM loss, dots: validation LM loss)")
    ax.legend(**below)
    fig.tight_layout()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out.with_suffix(".png"), dpi=110, bbox_inches="tight")
    md += [f"![PassKey and training curves]({out.with_suffix('.png').name})", ""]
    out.with_suffix(".md").write_text("\n".join(md))
    with open(out.with_suffix(".json"), "w") as f:
        json.dump({"models": models, "training": [{"label": lg["label"], "calls": lg["ends"]} for lg in logs]},
                  f, indent=1)


if __name__ == "__main__":
    main()
