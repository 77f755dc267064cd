"""Build the training corpus on the GPU machine: npm packages (packed on the development machine by
pack_npm.mjs) + the Python standard library + installed site-packages, as package-sized workspaces.

    python model/train/corpus/build_corpus.py --npm model/train/corpus/data/npm.tar.xz --out /tmp/famulus/corpus

Steps, in order (model/train/README.md, "Corpus", says why):
1. Collect packages. npm: every `npm/NAME@VERSION/` folder of the archive, licence from its manifest. Python
   standard library: each sub-package (`stdlib/asyncio`, ...) is a package, the top-level single-file modules
   together are `stdlib`; licence PSF-2.0. site-packages: every installed distribution, files from its RECORD,
   licence from its metadata (License-Expression, License, or the trove classifiers); its long description
   becomes a `README.md` of the package. Only permissive licences are kept; the others are listed as skipped.
2. Filter files: source and docs only (.py .pyi .md .rst .js .mjs .cjs .jsx .ts .mts .cts .tsx .vue .svelte),
   valid UTF-8 with no NUL, at most MAX_FILE_BYTES, not minified (mean line length <= 200, no line > 4000).
3. Deduplicate by the SHA-1 of the normalised content (CRLF -> LF, trailing spaces and blank edge lines removed).
   Held-out packages are processed first, so a file shared with a training package stays out of training.
4. Split by package: TEST_PACKAGES (fixed below) are the held-out test split; a package whose CRC-32 of its name
   is 0 mod 40 goes to the val split (loss monitoring only); everything else is train.

Output: {out}/train.jsonl, val.jsonl, test.jsonl (one package a line: {"package", "files": [[path, text], ...]})
and {out}/manifest.json (every package: source, version, licence, split, files, bytes; and the skipped ones).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import sys
import sysconfig
import tarfile
import zlib
from pathlib import Path

TEXT_SUFFIXES = {".py", ".pyi", ".md", ".rst", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx",
                 ".vue", ".svelte"}
MAX_FILE_BYTES = 256 * 1024
MAX_PACKAGE_BYTES = 16 * 1024 * 1024  # torch, jax, transformers, sympy would otherwise dominate

# The held-out test split: never trained or tuned on. Mid-sized, docstring-rich, one per style of code.
TEST_PACKAGES = {
    "stdlib/asyncio", "stdlib/email", "networkx", "rich", "click",  # Python
    "fastify", "marked", "dayjs", "commander", "ws",  # JavaScript / TypeScript
}
VAL_MODULUS = 40

PERMISSIVE_SPDX = {"MIT", "ISC", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "0BSD", "Unlicense", "CC0-1.0",
                   "PSF-2.0", "Python-2.0", "BlueOak-1.0.0", "Zlib", "HPND", "MIT-0", "BSD-3-Clause-Clear"}
# Trove classifier / free-text licence names -> SPDX id (only permissive ones; anything else is skipped).
LICENCE_ALIASES = {
    "mit license": "MIT", "mit": "MIT", "bsd license": "BSD-3-Clause", "bsd": "BSD-3-Clause",
    "new bsd license": "BSD-3-Clause", "bsd-3-clause": "BSD-3-Clause", "3-clause bsd license": "BSD-3-Clause",
    "bsd 3-clause": "BSD-3-Clause", "bsd-2-clause": "BSD-2-Clause", "apache software license": "Apache-2.0",
    "apache 2.0": "Apache-2.0", "apache-2.0": "Apache-2.0", "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0", "apache 2": "Apache-2.0", "apache": "Apache-2.0",
    "python software foundation license": "PSF-2.0", "psf": "PSF-2.0", "isc license (iscl)": "ISC",
    "isc": "ISC", "the unlicense (unlicense)": "Unlicense", "mit-cmu": "HPND",
    "historical permission notice and disclaimer (hpnd)": "HPND", "zlib/libpng license": "Zlib",
}


def spdx_permissive(expr: str) -> bool:
    expr = expr.replace("(", " ").replace(")", " ").strip()
    if " OR " in expr:
        return any(spdx_permissive(p) for p in expr.split(" OR "))
    if " AND " in expr:
        return all(spdx_permissive(p) for p in expr.split(" AND "))
    return expr.strip() in PERMISSIVE_SPDX


def dist_licence(meta) -> str:
    """Best SPDX-like licence string from a distribution's metadata, or "" when unknown."""
    expr = meta.get("License-Expression")
    if expr:
        return expr.strip()
    for c in meta.get_all("Classifier") or []:
        if c.startswith("License :: OSI Approved :: "):
            name = c.rsplit("::", 1)[1].strip().lower()
            if name in LICENCE_ALIASES:
                return LICENCE_ALIASES[name]
    text = (meta.get("License") or "").strip()
    first = text.splitlines()[0].strip() if text else ""
    if first.lower() in LICENCE_ALIASES:
        return LICENCE_ALIASES[first.lower()]
    if spdx_permissive(first):
        return first
    lower = text.lower()
    if "permission is hereby granted, free of charge" in lower:  # the MIT licence text itself
        return "MIT"
    if "redistribution and use in source and binary forms" in lower and "gpl" not in lower:
        return "BSD-3-Clause"
    return first[:60]


def clean_text(raw: bytes):
    """Decoded text with LF endings and exactly one final newline, or None if binary/huge/minified/empty."""
    if len(raw) > MAX_FILE_BYTES or b"\x00" in raw:
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if not text.strip():
        return None
    lines = text.split("\n")
    if len(text) / len(lines) > 200 or max(len(l) for l in lines) > 4000:
        return None
    return text + "\n"


def content_hash(text: str) -> str:
    norm = "\n".join(l.rstrip() for l in text.split("\n")).strip("\n")
    return hashlib.sha1(norm.encode("utf-8")).hexdigest()


def npm_packages(archive: Path):
    """Yield (name, meta, [(path, raw bytes)]) for each package in the npm archive."""
    by_dir, manifest = {}, None
    with tarfile.open(archive, "r:xz") as tar:
        for m in tar:  # in archive order: xz cannot seek backwards cheaply
            if not m.isfile():
                continue
            parts = m.name.split("/", 2)
            if m.name == "npm/manifest.json":
                manifest = json.load(tar.extractfile(m))
            elif len(parts) == 3:
                by_dir.setdefault(parts[1], []).append((parts[2], tar.extractfile(m).read()))
    for e in manifest:
        if e.get("skipped"):
            yield e["name"], {"source": "npm", "skipped": e["skipped"], "license": e.get("license", "")}, []
            continue
        key = f"{e['name'].replace('/', '__')}@{e['version']}"
        yield e["name"], {"source": "npm", "version": e["version"], "license": e["license"]}, \
            sorted(by_dir.get(key, []))


def stdlib_packages():
    root = Path(sysconfig.get_paths()["stdlib"])
    version = f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    meta = {"source": "python-stdlib", "version": version, "license": "PSF-2.0"}
    top = []
    for p in sorted(root.iterdir()):
        if p.name in ("site-packages", "dist-packages", "__pycache__", "config-3.12-x86_64-linux-gnu"):
            continue
        if p.is_dir():
            files = [(str(f.relative_to(root)), f.read_bytes()) for f in sorted(p.rglob("*"))
                     if f.is_file() and f.suffix in TEXT_SUFFIXES and "__pycache__" not in f.parts]
            yield f"stdlib/{p.name}", meta, files
        elif p.suffix in TEXT_SUFFIXES:
            top.append((p.name, p.read_bytes()))
    yield "stdlib", meta, top


def site_packages():
    seen = set()
    for dist in sorted(md.distributions(), key=lambda d: (d.metadata["Name"] or "").lower()):
        name = (dist.metadata["Name"] or "").lower()
        if not name or name in seen:
            continue
        seen.add(name)
        lic = dist_licence(dist.metadata)
        meta = {"source": "python-site-packages", "version": dist.version, "license": lic}
        if not spdx_permissive(lic):
            yield name, {**meta, "skipped": f"licence {lic!r} not in the permissive list"}, []
            continue
        files = []
        desc = dist.metadata.get_payload() if hasattr(dist.metadata, "get_payload") else None
        desc = desc or dist.metadata.get("Description") or ""
        if len(desc) > 200:
            files.append((f"{name}.dist-info/README.md", desc.encode("utf-8")))
        for f in sorted(dist.files or [], key=str):
            if f.suffix not in TEXT_SUFFIXES or ".." in f.parts or "__pycache__" in f.parts:
                continue
            path = Path(dist.locate_file(f))
            if path.is_file():
                files.append((str(f), path.read_bytes()))
        yield name, meta, files


def split_of(name: str) -> str:
    if name in TEST_PACKAGES:
        return "test"
    return "val" if zlib.crc32(name.encode()) % VAL_MODULUS == 0 else "train"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--npm", required=True, help="npm.tar.xz made by pack_npm.mjs")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    packages = list(npm_packages(Path(args.npm))) + list(stdlib_packages()) + list(site_packages())
    # Held-out first, so duplicates shared with training packages are dropped from training.
    order = {"test": 0, "val": 1, "train": 2}
    packages.sort(key=lambda p: (order[split_of(p[0])], p[0]))
    seen_hashes = set()
    manifest, writers = [], {s: open(out / f"{s}.jsonl", "w") for s in order}
    dropped = {"filtered": 0, "duplicate": 0, "package_cap": 0}
    for name, meta, files in packages:
        entry = {"package": name, **meta, "split": split_of(name)}
        if meta.get("skipped"):
            manifest.append(entry)
            continue
        kept, nbytes = [], 0
        for path, raw in files:
            if Path(path).suffix not in TEXT_SUFFIXES:
                continue
            text = clean_text(raw)
            if text is None:
                dropped["filtered"] += 1
                continue
            h = content_hash(text)
            if h in seen_hashes:
                dropped["duplicate"] += 1
                continue
            if nbytes + len(text) > MAX_PACKAGE_BYTES:
                dropped["package_cap"] += 1
                continue
            seen_hashes.add(h)
            kept.append([path, text])
            nbytes += len(text)
        entry.update(files=len(kept), bytes=nbytes)
        manifest.append(entry)
        if kept:
            writers[entry["split"]].write(json.dumps({"package": name, "files": kept}) + "\n")
    for w in writers.values():
        w.close()
    totals = {s: {"packages": sum(1 for e in manifest if e.get("split") == s and e.get("files")),
                  "files": sum(e.get("files", 0) for e in manifest if e.get("split") == s),
                  "bytes": sum(e.get("bytes", 0) for e in manifest if e.get("split") == s)} for s in order}
    missing_test = sorted(TEST_PACKAGES - {e["package"] for e in manifest if e.get("files")})
    summary = {"totals": totals, "dropped_files": dropped, "test_packages": sorted(TEST_PACKAGES),
               "test_packages_missing": missing_test,
               "skipped_packages": sum(1 for e in manifest if e.get("skipped")), "packages": manifest}
    with open(out / "manifest.json", "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != "packages"}, indent=1))


if __name__ == "__main__":
    main()
