"""The npm side of the re-read fine-tune's data, on the development machine (model/train/README.md, "Re-read
fine-tune"): the training packages as the dump tool reads them, and a smaller npm pack that fits a GPU call.

    # 1. the training packages, cleaned and deduplicated exactly as build_corpus.py does it:
    python3 model/train/reread_corpus.py packages --npm model/train/corpus/data/npm.tar.xz \\
        --out /tmp/famulus-reread/packages.jsonl
    # 2. the dump over them (model/tools/reread-dump.ts --corpus /tmp/famulus-reread/packages.jsonl
    #    --out /tmp/famulus-reread/dump-all.jsonl), then
    # 3. the subset of the npm pack the fine-tune needs: the held-out test packages, the val packages, and the
    #    training packages the dump kept (the npm pack is 12 MiB and a GPU call carries at most ~8 MB beside the tree):
    python3 model/train/reread_corpus.py subset --npm model/train/corpus/data/npm.tar.xz \\
        --dump /tmp/famulus-reread/dump-all.jsonl --max-mb 7.5 \\
        --out model/train/corpus/data/npm-reread.tar.xz --dump-out model/train/corpus/data/reread.jsonl.xz

`packages` writes build_corpus.py's package format (one `{"package", "files": [[path, text], ...]}` a line) for the
train split's npm packages, less data.EXCLUDED_PACKAGES ( the test split and the QA evaluation's packages). `subset`
picks training packages by re-read questions per compressed byte until the pack and the dump together fit
--max-mb, writes the pack in npm.tar.xz's layout (build_corpus.py reads it unchanged) and rewrites the dump with
the kept packages only.
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "corpus"))
import build_corpus  # noqa: E402
from data import EXCLUDED_PACKAGES  # noqa: E402


def cleaned_npm(archive: Path):
    """(name, split, [[path, text], ...]) of every npm package, cleaned and deduplicated in build_corpus.py's order."""
    packages = list(build_corpus.npm_packages(archive))
    order = {"test": 0, "val": 1, "train": 2}
    packages.sort(key=lambda p: (order[build_corpus.split_of(p[0])], p[0]))
    seen = set()
    for name, meta, files in packages:
        if meta.get("skipped"):
            continue
        kept, nbytes = [], 0
        for path, raw in files:
            if Path(path).suffix not in build_corpus.TEXT_SUFFIXES:
                continue
            text = build_corpus.clean_text(raw)
            if text is None:
                continue
            h = build_corpus.content_hash(text)
            if h in seen or nbytes + len(text) > build_corpus.MAX_PACKAGE_BYTES:
                continue
            seen.add(h)
            kept.append([path, text])
            nbytes += len(text)
        yield name, build_corpus.split_of(name), kept


def cmd_packages(args):
    n = 0
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        for name, split, files in cleaned_npm(Path(args.npm)):
            if split != "train" or name in EXCLUDED_PACKAGES or not files:
                continue
            f.write(json.dumps({"package": name, "files": files}) + "\n")
            n += 1
    print(f"{n} training packages -> {args.out}")


def read_dump(path: Path):
    opener = lzma.open if str(path).endswith(".xz") else open
    with opener(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def cmd_subset(args):
    records = read_dump(Path(args.dump))
    per_pkg = {}
    for r in records:
        per_pkg.setdefault(r["package"], []).append(r)
    with tarfile.open(args.npm, "r:xz") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar if m.isfile()]
    manifest = next(json.loads(b) for m, b in members if m.name == "npm/manifest.json")
    dir_of = {e["name"]: f"{e['name'].replace('/', '__')}@{e['version']}" for e in manifest if not e.get("skipped")}
    by_dir = {}
    for m, b in members:
        parts = m.name.split("/", 2)
        if len(parts) == 3:
            by_dir.setdefault(parts[1], []).append((m, b))

    def xz_size(names):
        raw = b"".join(b for n in names for _, b in by_dir.get(dir_of.get(n, ""), []))
        return len(lzma.compress(raw, preset=6)) if raw else 0

    must = [e["name"] for e in manifest if not e.get("skipped") and build_corpus.split_of(e["name"]) != "train"]
    dump_bytes = {p: len(lzma.compress("".join(json.dumps(r) + "\n" for r in rs).encode(), preset=6))
                  for p, rs in per_pkg.items()}
    cost = {p: xz_size([p]) + dump_bytes[p] for p in per_pkg}
    questions = {p: sum(r["type"] == "q" for r in rs) for p, rs in per_pkg.items()}
    ranked = sorted(per_pkg, key=lambda p: -questions[p] / max(1, cost[p]))
    budget = args.max_mb * 1e6 - xz_size(must)
    keep, used = [], 0
    for p in ranked:
        if used + cost[p] <= budget:
            keep.append(p)
            used += cost[p]
    names = set(must) | set(keep)
    out = Path(args.out)
    tmp = out.with_suffix(".tmp")
    kept_manifest = [e for e in manifest if e["name"] in names]
    with tarfile.open(tmp, "w:xz", preset=9) as t:
        for name in sorted(names):
            for m, b in by_dir.get(dir_of.get(name, ""), []):
                t.addfile(m, io.BytesIO(b))
        info = tarfile.TarInfo("npm/manifest.json")
        body = (json.dumps(kept_manifest, indent=1) + "\n").encode()
        info.size = len(body)
        t.addfile(info, io.BytesIO(body))
    tmp.replace(out)
    dump_out = Path(args.dump_out)
    tmp = dump_out.with_name(dump_out.name + ".tmp")
    with lzma.open(tmp, "wt", preset=9 | lzma.PRESET_EXTREME) as f:
        for r in records:
            if r["package"] in keep:
                f.write(json.dumps(r, separators=(",", ":")) + "\n")
    tmp.replace(dump_out)
    counts = {}
    for r in records:
        if r["package"] in keep and r["type"] == "q":
            counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    print(json.dumps({"held_out_and_val": sorted(must), "train_packages": len(keep), "questions": counts,
                      "pack_mb": round(out.stat().st_size / 1e6, 2), "dump_mb": round(dump_out.stat().st_size / 1e6, 2)},
                     indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("packages")
    p.add_argument("--npm", required=True)
    p.add_argument("--out", required=True)
    s = sub.add_parser("subset")
    s.add_argument("--npm", required=True)
    s.add_argument("--dump", required=True)
    s.add_argument("--max-mb", type=float, default=7.5, help="the pack and the dump together, in MB")
    s.add_argument("--out", required=True)
    s.add_argument("--dump-out", required=True)
    args = ap.parse_args()
    {"packages": cmd_packages, "subset": cmd_subset}[args.cmd](args)


if __name__ == "__main__":
    main()
