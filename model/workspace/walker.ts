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
 * - Files that cost many tokens and tell little about the code are skipped by default, each reported with its
 *   own reason: changelogs, lock files and minified files by name (`defaultExcludes`, matched against files
 *   only; DEFAULT_EXCLUDES in ./default-excludes.ts: 'default-excluded'), minified and generated files by
 *   their content (`skipMinified`: 'minified'). A client lists fewer patterns, or none, to read them.
 * - A file is skipped when it is larger than `maxFileBytes`, unreadable, binary (a NUL byte in its first
 *   8 KB) or not valid UTF-8 (checked on the first 8 KB, then on the whole file with a fatal decoder).
 * - Symlinked files are read through the link when their real path is inside the root; a file link that leads
 *   out of the root (`notes.txt -> ~/.ssh/id_rsa` in a hostile workspace) is skipped unless `followSymlinks`.
 *   Symlinked folders are not followed unless `followSymlinks`;
 *   when followed, a link back to a folder being walked (a loop) or to one already walked is skipped.
 * - A hostile workspace cannot stall the walk (ignore-rules.ts): rules too costly to match are not applied and
 *   are reported, folders more than MAX_DEPTH levels down are not entered, and the walk stops at its time
 *   budget, reporting what it did not reach. It yields to the event loop every few milliseconds, so the engine
 *   keeps answering (engine/status, cancels) while it runs.
 *
 * Paths are relative to the root with forward slashes; files come sorted by path (code-unit order).
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, type Dirent, type Stats } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import ignore, { type Ignore } from 'ignore';
import { DEFAULT_EXCLUDES } from './default-excludes';
import { RULE_LIMITS, describeRejected, vetRules } from './ignore-rules';
import { isInside } from './paths';

/** Folders never read unless `useDefaultExcludes` is false: version control, dependencies, Famulus's own state. */
export const STANDARD_EXCLUDES: readonly string[] = ['.git/', 'node_modules/', '.famulus/'];

export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;
/** How much of a file the quick binary check looks at. */
const HEAD_BYTES = 8192;
/** Files read at once. */
const READ_CONCURRENCY = 16;
/**
 * Folders deeper than this below the root are not entered. Real trees stay far above it; it bounds what one
 * rule can cost on one path (ignore-rules.ts), and a hostile tree thousands of levels deep.
 */
export const MAX_DEPTH = 128;
/** How long a walk (listing and reading) may take by default; `ingest /` was still walking after minutes. */
export const DEFAULT_WALK_BUDGET_MS = 60_000;
/** The longest the walk runs without letting the event loop turn. */
const SLICE_MS = 10;
/** Rules of one .gitignore compiled at a time (about 50 ms for 1,000 on a 2-core machine). */
const RULES_PER_SLICE = 1000;
/**
 * A file at least this long (in characters) is minified or generated when more than half of it is on lines
 * longer than MINIFIED_LINE_CHARS. Minifiers write lines of tens of thousands of characters and source maps one
 * line; a paragraph of prose rarely passes 2,000 characters, and a small file with one long line (a one-line
 * JSON config) costs little to read.
 */
const MINIFIED_MIN_CHARS = 16 * 1024;
const MINIFIED_LINE_CHARS = 2000;

export interface WalkOptions {
  /** Extra gitignore-syntax patterns (relative to the root) of paths never read. */
  excludes?: string[];
  /** When non-empty, only files matching one of these gitignore-syntax patterns are taken. */
  includes?: string[];
  /** Add `STANDARD_EXCLUDES` (`.git/`, `node_modules/`, `.famulus/`) to `excludes` (default true). */
  useDefaultExcludes?: boolean;
  /**
   * Gitignore-syntax patterns of files (never folders) skipped as 'default-excluded' (default DEFAULT_EXCLUDES;
   * [] reads them all).
   */
  defaultExcludes?: string[];
  /** Skip minified and generated files, found by their long lines, as 'minified' (default true). */
  skipMinified?: boolean;
  /** Honour `.gitignore` files (default true). */
  gitignore?: boolean;
  /** Files larger than this are skipped (default 1 MiB). */
  maxFileBytes?: number;
  /** Walk into symlinked folders, and read file links that lead out of the root (default false). */
  followSymlinks?: boolean;
}

/** How a walk runs, apart from what it reads (not among the settings a client sends). */
export interface WalkControl {
  signal?: AbortSignal;
  /** Wall-clock milliseconds for listing and reading (default DEFAULT_WALK_BUDGET_MS); the rest is skipped. */
  timeBudgetMs?: number;
}

/** Why the walk left a path out: one list, so that a client (and a test) can tell a known reason from a new one. */
export const SKIP_REASONS = [
  'gitignored',
  'excluded',
  /** Matches one of the walk's default excludes (changelogs, lock files, minified files by name). */
  'default-excluded',
  /** Most of its text is on very long lines: minified or generated (a bundle, a source map). */
  'minified',
  'not-included',
  'too-large',
  'binary',
  'invalid-utf8',
  'unreadable',
  'symlink-dir',
  'symlink-loop',
  'symlink-duplicate',
  /** A file link whose real path is outside the root. */
  'symlink-outside',
  'not-regular',
  /** A folder more than MAX_DEPTH levels below the root. */
  'too-deep',
  /** Not reached within the walk's time budget. */
  'time-budget',
  /** A .gitignore some (or all) of whose rules are not applied: too costly to match (ignore-rules.ts). */
  'rules-not-applied',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

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

export async function walkWorkspace(root: string, options: WalkOptions & WalkControl = {}): Promise<WalkResult> {
  const pace = new Pace(options.timeBudgetMs ?? DEFAULT_WALK_BUDGET_MS, options.signal);
  const absRoot = path.resolve(root);
  const rootStats = await fs.stat(absRoot).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot walk ${absRoot}: ${err.code ?? err.message}`);
  });
  if (!rootStats.isDirectory()) throw new Error(`cannot walk ${absRoot}: not a directory`);

  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const excludes = [...(options.useDefaultExcludes === false ? [] : STANDARD_EXCLUDES), ...(options.excludes ?? [])];
  const excludeRules = ignore().add(clientPatterns('exclude', excludes));
  const defaultRules = fileRules(clientPatterns('default exclude', options.defaultExcludes ?? DEFAULT_EXCLUDES));
  const includeRules = options.includes && options.includes.length > 0 ? ignore().add(clientPatterns('include', options.includes)) : null;
  const skipped: SkippedEntry[] = [];
  const candidates: Candidate[] = [];
  const realRoot = await fs.realpath(absRoot);
  const walkedDirs = new Set<string>([realRoot]);

  const walkDir = async (abs: string, rel: string, levels: IgnoreLevel[], ancestors: string[]): Promise<void> => {
    await pace.turn();
    let entries: Dirent[];
    try {
      entries = await fs.readdir(abs, { withFileTypes: true });
    } catch (err) {
      skipped.push({ path: rel, reason: 'unreadable', detail: errorCode(err) });
      return;
    }
    if (options.gitignore !== false && entries.some((e) => e.name === '.gitignore' && !e.isDirectory())) {
      const level = await readIgnoreFile(path.join(abs, '.gitignore'), rel, skipped, pace);
      if (level) levels = [...levels, level];
    }
    entries.sort((a, b) => compareStrings(a.name, b.name));
    for (const [i, entry] of entries.entries()) {
      if (await pace.turn()) {
        // Out of time: this folder's remaining entries (and, as the walk unwinds, each parent's) are reported.
        skipped.push({ path: rel || './', reason: 'time-budget', detail: `${pace.spent()}: ${entries.length - i} of ${entries.length} entries of this folder not examined` });
        return;
      }
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
      const ignoredBy = await gitignoreRule(levels, entryRel, pace);
      if (ignoredBy) {
        skipped.push({ path: entryRel, reason: 'gitignored', detail: ignoredBy });
        continue;
      }
      const defaultRule = isDir ? null : fileRule(defaultRules, entryRel);
      if (defaultRule) {
        skipped.push({ path: entryRel, reason: 'default-excluded', detail: `matches the default exclude ${defaultRule}` });
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
        // `ancestors` holds the root and every folder down to this one: as many as entryRel has levels.
        if (ancestors.length > MAX_DEPTH) {
          skipped.push({ path: entryRel, reason: 'too-deep', detail: `more than ${MAX_DEPTH} folders below the root` });
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
      const c = candidates[next++]!;
      if (await pace.turn()) {
        skipped.push({ path: c.rel, reason: 'time-budget', detail: `${pace.spent()} before it was read` });
        continue;
      }
      const outcome = await readTextFile(c.abs, maxFileBytes);
      const minified = 'text' in outcome && options.skipMinified !== false ? minifiedDetail(outcome.text) : null;
      if ('reason' in outcome) skipped.push({ path: c.rel, ...outcome });
      else if (minified) skipped.push({ path: c.rel, reason: 'minified', detail: minified });
      else files.push({ path: c.rel, absPath: c.abs, ...outcome });
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, candidates.length) }, worker));
  options.signal?.throwIfAborted();

  files.sort((a, b) => compareStrings(a.path, b.path));
  skipped.sort((a, b) => compareStrings(a.path, b.path));
  return { root: absRoot, files, skipped, totalBytes: files.reduce((n, f) => n + f.size, 0) };
}

/**
 * The walk's clock. `turn()` lets the event loop run once SLICE_MS have passed since it last did (the matching
 * of rules and the checks between awaits are synchronous work), throws when the walk is cancelled, and says
 * whether the time budget is spent.
 */
class Pace {
  private readonly started = performance.now();
  private lastTurn = this.started;

  constructor(
    private readonly budgetMs: number,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async turn(): Promise<boolean> {
    this.signal?.throwIfAborted();
    if (performance.now() - this.lastTurn >= SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      this.lastTurn = performance.now();
      this.signal?.throwIfAborted();
    }
    return performance.now() - this.started > this.budgetMs;
  }

  /** The first words of a time-budget skip's detail. */
  spent(): string {
    return `walk time budget of ${this.budgetMs / 1000} s spent`;
  }
}

/**
 * The rules of one .gitignore, those too costly to match left out and reported (ignore-rules.ts); null when
 * none can be applied (then why is reported too).
 */
async function readIgnoreFile(file: string, rel: string, skipped: SkippedEntry[], pace: Pace): Promise<IgnoreLevel | null> {
  const source = `${rel}.gitignore`;
  let text: string;
  try {
    const stats = await fs.stat(file);
    // A FIFO named .gitignore would block the read forever.
    if (!stats.isFile()) {
      skipped.push({ path: source, reason: 'not-regular', detail: 'rules not applied: not a regular file' });
      return null;
    }
    // Refused on its size, before it is read.
    if (stats.size > RULE_LIMITS.maxFileBytes) {
      skipped.push({ path: source, reason: 'rules-not-applied', detail: `${stats.size} bytes > limit ${RULE_LIMITS.maxFileBytes}: no rule of it applied` });
      return null;
    }
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    skipped.push({ path: source, reason: 'unreadable', detail: `rules not applied: ${errorCode(err)}` });
    return null;
  }
  const vetted = vetRules(text);
  if (vetted.rejected.length > 0) skipped.push({ path: source, reason: 'rules-not-applied', detail: describeRejected(vetted) });
  return { dir: rel, source, rules: await compileRules(vetted.rules, pace) };
}

/**
 * The rules as one `ignore` matcher, built a slice at a time with the event loop turning between slices.
 * `ignore` compiles a rule's expression the first time it is matched, which for 20,000 rules held up the
 * first path for over a second; matching a name no rule is meant for compiles each slice as it is added.
 */
async function compileRules(rules: string[], pace: Pace): Promise<Ignore> {
  const matcher = ignore();
  if (rules.length <= RULES_PER_SLICE) return matcher.add(rules);
  const probe = `famulus-probe-${randomBytes(8).toString('hex')}`;
  for (let i = 0; i < rules.length; i += RULES_PER_SLICE) {
    matcher.add(rules.slice(i, i + RULES_PER_SLICE));
    matcher.test(`${probe}-${i}`);
    await pace.turn();
  }
  return matcher;
}

/** A client's patterns: one too costly to match is refused, naming it (ignore-rules.ts). */
function clientPatterns(kind: 'exclude' | 'default exclude' | 'include', patterns: readonly string[]): string[] {
  const vetted = vetRules(patterns);
  const bad = vetted.rejected[0];
  if (bad) throw new Error(`${kind} pattern ${JSON.stringify(patterns[bad.line - 1])}: ${bad.why}`);
  return vetted.rules;
}

/** Whether the real path of `abs` lies inside `realRoot` (false when it cannot be resolved). */
async function realPathInside(abs: string, realRoot: string): Promise<boolean> {
  try {
    return isInside(realRoot, await fs.realpath(abs));
  } catch {
    return false;
  }
}

/**
 * Why a file's text looks minified or generated ("minified or generated: 98% of its 87,012 characters on lines
 * over 2,000 characters"), or null.
 */
export function minifiedDetail(text: string): string | null {
  if (text.length < MINIFIED_MIN_CHARS) return null;
  let onLongLines = 0;
  for (const line of text.split(/\r\n?|\n/)) if (line.length > MINIFIED_LINE_CHARS) onLongLines += line.length;
  if (onLongLines * 2 <= text.length) return null;
  const count = (n: number) => n.toLocaleString('en-US');
  return `minified or generated: ${Math.round((100 * onLongLines) / text.length)}% of its ${count(text.length)} characters on lines over ${count(MINIFIED_LINE_CHARS)} characters`;
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
async function gitignoreRule(levels: IgnoreLevel[], rel: string, pace: Pace): Promise<string | null> {
  for (let i = levels.length - 1; i >= 0; i--) {
    // Each level's rules are matched at one go; the event loop turns between levels.
    await pace.turn();
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

/**
 * Patterns matched against files only. `ignore` also matches a file by the folders above it, so `NEWS` (a
 * changelog) would take every file of `src/news/` (code); here a pattern counts only when it names the file.
 */
interface FileRules {
  /** All the patterns, negations included: a file none of them ignores is not looked at further. */
  all: Ignore;
  each: Array<{ pattern: string; rules: Ignore }>;
}

function fileRules(patterns: string[]): FileRules {
  return { all: ignore().add(patterns), each: patterns.map((pattern) => ({ pattern, rules: ignore().add(pattern) })) };
}

/** The pattern (quoted) that names the file `rel` itself, not a folder above it; or null. */
function fileRule(rules: FileRules, rel: string): string | null {
  if (!matches(rules.all, rel)) return null;
  const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/') + 1) : null;
  const own = rules.each.find((e) => e.rules.ignores(rel) && !(parent !== null && e.rules.ignores(parent)));
  return own ? JSON.stringify(own.pattern) : null;
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
