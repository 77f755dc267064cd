/**
 * Where a citation from an answer may lead: a file inside one of the workspace folders, never outside.
 * Pure node (no vscode), so the refusals are unit-tested (test/unit/citations.test.ts).
 *
 * A cited path is taken relative to a workspace folder (the model writes root-relative paths); an absolute
 * path is accepted only when it lies inside a folder. `..` that climbs out, NUL bytes, URLs and
 * Windows drive paths on POSIX are refused; a path that exists is also checked through its real path, so a
 * symlink inside the workspace cannot lead outside it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isInside } from '../model/workspace/paths';

export type CitationTarget = { ok: true; file: string; line: number; root: string } | { ok: false; reason: string };

export function resolveCitation(roots: readonly string[], cited: string, line: number): CitationTarget {
  if (roots.length === 0) return { ok: false, reason: 'no folder is open' };
  if (!Number.isInteger(line) || line < 1) return { ok: false, reason: `line ${line} is not a line number` };
  if (cited.length === 0 || cited.includes('\0')) return { ok: false, reason: 'the cited path is empty or malformed' };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(cited)) return { ok: false, reason: `${cited} is a URL, not a workspace file` };
  const normalised = cited.replace(/\\/g, '/');
  for (const root of roots) {
    const base = path.resolve(root);
    const abs = path.isAbsolute(normalised) ? path.resolve(normalised) : path.resolve(base, normalised);
    if (!isInside(base, abs)) continue;
    // Follow links for what exists: the real file must be inside the real root too.
    if (fs.existsSync(abs)) {
      let real: string;
      let realBase: string;
      try {
        real = fs.realpathSync(abs);
        realBase = fs.realpathSync(base);
      } catch {
        continue;
      }
      if (!isInside(realBase, real)) continue;
      if (!fs.statSync(real).isFile()) return { ok: false, reason: `${cited} is not a file` };
      return { ok: true, file: abs, line, root: base };
    }
  }
  const outside = roots.every((r) => {
    const base = path.resolve(r);
    return !isInside(base, path.isAbsolute(normalised) ? path.resolve(normalised) : path.resolve(base, normalised));
  });
  return { ok: false, reason: outside ? `${cited} is outside the workspace` : `${cited} does not exist in the workspace` };
}
