/**
 * Lists the text files of a workspace in a stable order, the way `git` would see them, and says why every
 * other entry was left out.
 *
 * - `.gitignore` files are honoured at every level: a nested file's rules are relative to its folder, a
 *   deeper file overrides a shallower one, the last matching rule of a file wins, and `!negations` re-include.
 *   An ignored folder is not entered (so, as in git, nothing inside it can be re-included).
 * - `excludes` (gitignore syntax, relative to the root) are never read; `.git/`, `node_modules/` and
 *   `.famulus/` (Famulus's own state folder) are excluded unless `useDefaultExcludes` is false.
 *   `includes`, when given, keeps only the files that match one of its patterns.
 * - A file is skipped when it is larger than `maxFileBytes`, unreadable, binary (a NUL byte in its first
 *   8 KB) or not valid UTF-8 (checked on the first 8 KB, then on the whole file with a fatal decoder).
 * - Symlinked files are read through the link when their real path is inside the root; a file link that leads
 *   out of the root (`notes.txt -> ~/.ssh/id_rsa` in a hostile workspace) is skipped unless `followSymlinks`.
 *   Symlinked folders are not followed unless `followSymlinks`;
 *   when followed, a link back to a folder being walked (a loop) or to one already walked is skipped.
 *
 * Paths are relative to the root with forward slashes; files come sorted by path (code-unit order).
 */
import { createHash } from 'node:crypto';
import { promises as fs, type Dirent, type Stats } from 'node:fs';
import * as path from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { isInside } from './paths';

export const DEFAULT_EXCLUDES: readonly string[] = ['.git/', 'node_modules/', '.famulus/'];
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;
/** How much of a file the quick binary check looks at. */
const HEAD_BYTES = 8192;
/** Files read at once. */
const READ_CONCURRENCY = 16;

export interface WalkOptions {
  /** Extra gitignore-syntax patterns (relative to the root) of paths never read. */
  excludes?: string[];
  /** When non-empty, only files matching one of these gitignore-syntax patterns are taken. */
  includes?: string[];
  /** Add `DEFAULT_EXCLUDES` to `excludes` (default true). */
  useDefaultExcludes?: boolean;
  /** Honour `.gitignore` files (default true). */
  gitignore?: boolean;
  /** Files larger than this are skipped (default 1 MiB). */
  maxFileBytes?: number;
  /** Walk into symlinked folders, and read file links that lead out of the root (default false). */
  followSymlinks?: boolean;
  signal?: AbortSignal;
}

export type SkipReason =
  | 'gitignored'
  | 'excluded'
  | 'not-included'
  | 'too-large'
  | 'binary'
  | 'invalid-utf8'
  | 'unreadable'
  | 'symlink-dir'
  | 'symlink-loop'
  | 'symlink-duplicate'
  /** A file link whose real path is outside the root. */
  | 'symlink-outside'
  | 'not-regular';

export interface SkippedEntry {
  /** Root-relative path; folders end with '/'. */
  path: string;
  reason: SkipReason;
  /** Human-readable specifics: the rule and its file, the size and the limit, the error code. */
  detail: string;
}

export interface WalkedFile {
  /** Root-relative path with forward slashes. */
  path: string;
  absPath: string;
  /** Size in bytes. */
  size: number;
  /** Hex sha256 of the raw bytes. */
  sha256: string;
  /** The decoded text (a UTF-8 byte-order mark is dropped). */
  text: string;
}

export interface WalkResult {
  root: string;
  files: WalkedFile[];
  skipped: SkippedEntry[];
  totalBytes: number;
}

/** The rules of one `.gitignore`, anchored at `dir` ('' for the root, else 'a/b/'). */
interface IgnoreLevel {
  dir: string;
  source: string;
  rules: Ignore;
}

interface Candidate {
  rel: string;
  abs: string;
  stats: Stats;
}

export async function walkWorkspace(root: string, options: WalkOptions = {}): Promise<WalkResult> {
  const { signal } = options;
  const absRoot = path.resolve(root);
  const rootStats = await fs.stat(absRoot).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot walk ${absRoot}: ${err.code ?? err.message}`);
  });
  if (!rootStats.isDirectory()) throw new Error(`cannot walk ${absRoot}: not a directory`);

  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const excludes = [...(options.useDefaultExcludes === false ? [] : DEFAULT_EXCLUDES), ...(options.excludes ?? [])];
  const excludeRules = ignore().add(excludes);
  const includeRules = options.includes && options.includes.length > 0 ? ignore().add(options.includes) : null;
  const skipped: SkippedEntry[] = [];
  const candidates: Candidate[] = [];
  const realRoot = await fs.realpath(absRoot);
  const walkedDirs = new Set<string>([realRoot]);

  const walkDir = async (abs: string, rel: string, levels: IgnoreLevel[], ancestors: string[]): Promise<void> => {
    signal?.throwIfAborted();
    let entries: Dirent[];
    try {
      entries = await fs.readdir(abs, { withFileTypes: true });
    } catch (err) {
      skipped.push({ path: rel, reason: 'unreadable', detail: errorCode(err) });
      return;
    }
    if (options.gitignore !== false && entries.some((e) => e.name === '.gitignore' && !e.isDirectory())) {
      const source = `${rel}.gitignore`;
      try {
        const text = await fs.readFile(path.join(abs, '.gitignore'), 'utf8');
        levels = [...levels, { dir: rel, source, rules: ignore().add(text) }];
      } catch (err) {
        skipped.push({ path: source, reason: 'unreadable', detail: `rules not applied: ${errorCode(err)}` });
      }
    }
    entries.sort((a, b) => compareStrings(a.name, b.name));
    for (const entry of entries) {
      signal?.throwIfAborted();
      const entryAbs = path.join(abs, entry.name);
      let stats: Stats;
      try {
        stats = await fs.stat(entryAbs);
      } catch (err) {
        const code = errorCode(err);
        const reason: SkipReason = code === 'ELOOP' ? 'symlink-loop' : 'unreadable';
        skipped.push({ path: rel + entry.name, reason, detail: entry.isSymbolicLink() ? `symlink: ${code}` : code });
        continue;
      }
      const isDir = stats.isDirectory();
      const entryRel = rel + entry.name + (isDir ? '/' : '');
      if (matches(excludeRules, entryRel)) {
        skipped.push({ path: entryRel, reason: 'excluded', detail: 'matches an exclude pattern' });
        continue;
      }
      const ignoredBy = gitignoreRule(levels, entryRel);
      if (ignoredBy) {
        skipped.push({ path: entryRel, reason: 'gitignored', detail: ignoredBy });
        continue;
      }
      if (isDir) {
        let real: string;
        try {
          real = await fs.realpath(entryAbs);
        } catch (err) {
          // Deleted (or made unreachable) between the listing and here: one skip, not a failed walk.
          skipped.push({ path: entryRel, reason: 'unreadable', detail: errorCode(err) });
          continue;
        }
        if (entry.isSymbolicLink() && !options.followSymlinks) {
          skipped.push({ path: entryRel, reason: 'symlink-dir', detail: 'symlinked folder not followed' });
          continue;
        }
        if (ancestors.includes(real)) {
          skipped.push({ path: entryRel, reason: 'symlink-loop', detail: `links back to ${real}` });
          continue;
        }
        if (walkedDirs.has(real)) {
          skipped.push({ path: entryRel, reason: 'symlink-duplicate', detail: `${real} is already walked` });
          continue;
        }
        walkedDirs.add(real);
        await walkDir(entryAbs, entryRel, levels, [...ancestors, real]);
      } else if (!stats.isFile()) {
        skipped.push({ path: entryRel, reason: 'not-regular', detail: 'not a regular file' });
      } else if (entry.isSymbolicLink() && !options.followSymlinks && !(await realPathInside(entryAbs, realRoot))) {
        skipped.push({ path: entryRel, reason: 'symlink-outside', detail: 'file link leads outside the workspace' });
      } else if (includeRules && !matches(includeRules, entryRel)) {
        skipped.push({ path: entryRel, reason: 'not-included', detail: 'matches no include pattern' });
      } else if (stats.size > maxFileBytes) {
        skipped.push({ path: entryRel, reason: 'too-large', detail: `${stats.size} bytes > limit ${maxFileBytes}` });
      } else {
        candidates.push({ rel: entryRel, abs: entryAbs, stats });
      }
    }
  };

  await walkDir(absRoot, '', [], [realRoot]);

  const files: WalkedFile[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < candidates.length) {
      signal?.throwIfAborted();
      const c = candidates[next++]!;
      const outcome = await readTextFile(c.abs, maxFileBytes);
      if ('reason' in outcome) skipped.push({ path: c.rel, ...outcome });
      else files.push({ path: c.rel, absPath: c.abs, ...outcome });
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, candidates.length) }, worker));
  signal?.throwIfAborted();

  files.sort((a, b) => compareStrings(a.path, b.path));
  skipped.sort((a, b) => compareStrings(a.path, b.path));
  return { root: absRoot, files, skipped, totalBytes: files.reduce((n, f) => n + f.size, 0) };
}

/** Whether the real path of `abs` lies inside `realRoot` (false when it cannot be resolved). */
async function realPathInside(abs: string, realRoot: string): Promise<boolean> {
  try {
    return isInside(realRoot, await fs.realpath(abs));
  } catch {
    return false;
  }
}

type ReadOutcome = { size: number; sha256: string; text: string } | { reason: SkipReason; detail: string };

/** Reads one file and decides whether it is text. Exported for the engine, which re-reads a file to summarise it. */
export async function readTextFile(abs: string, maxFileBytes = DEFAULT_MAX_FILE_BYTES): Promise<ReadOutcome> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(abs);
  } catch (err) {
    return { reason: 'unreadable', detail: errorCode(err) };
  }
  // The size is checked again: the file may have grown since it was listed.
  if (bytes.length > maxFileBytes) {
    return { reason: 'too-large', detail: `${bytes.length} bytes > limit ${maxFileBytes}` };
  }
  const head = bytes.subarray(0, HEAD_BYTES);
  const nul = head.indexOf(0);
  if (nul >= 0) return { reason: 'binary', detail: `NUL byte at offset ${nul}` };
  try {
    // `stream: true` lets a multi-byte character cut at the 8 KB boundary pass the quick check.
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
  } catch {
    return { reason: 'invalid-utf8', detail: `invalid UTF-8 in the first ${HEAD_BYTES} bytes` };
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { reason: 'invalid-utf8', detail: 'invalid UTF-8' };
  }
  return { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), text };
}

/**
 * The rule that ignores `rel` ("pattern (from a/.gitignore)"), or null. The deepest `.gitignore` with a
 * matching rule decides, as in git.
 */
function gitignoreRule(levels: IgnoreLevel[], rel: string): string | null {
  for (let i = levels.length - 1; i >= 0; i--) {
    const level = levels[i]!;
    const sub = rel.slice(level.dir.length);
    if (!isRepresentable(sub)) return null;
    const result = level.rules.test(sub);
    if (result.ignored) return `${result.rule?.pattern ?? '?'} (from ${level.source})`;
    if (result.unignored) return null;
  }
  return null;
}

function matches(rules: Ignore, rel: string): boolean {
  return isRepresentable(rel) && rules.ignores(rel);
}

/** `ignore` throws on paths it cannot represent (e.g. names with a backslash); those match no rule. */
function isRepresentable(rel: string): boolean {
  return ignore.isPathValid(rel.replace(/\/$/, ''));
}

function errorCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message ?? String(err);
}

/** Code-unit order, the same on every platform and locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
