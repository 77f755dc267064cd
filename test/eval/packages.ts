/**
 * The held-out packages both QA evaluations read (test/eval/qa.ts: "where is X defined?" with truth by hand;
 * test/eval/qa-kinds.ts: every question kind the model is trained on): the fixture, fetching each pinned package
 * with `npm pack` into test/eval/.cache/ (git-ignored), and the small statistics both reports use.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = path.resolve(__dirname, '../..');
export const QUESTIONS_FILE = path.join(REPO, 'test/eval/qa-questions.json');
const CACHE = path.join(REPO, 'test/eval/.cache');

export interface Location {
  path: string;
  /** 1-based. */
  line: number;
}

export interface TruthQuestion {
  name: string;
  /** What kind of definition it is (function, class, method, …): for reading the results by kind. */
  kind: string;
  /** Every place the name is defined; an answer naming any of them is right. */
  definitions: Array<Location & { text: string }>;
}

export interface TruthPackage {
  name: string;
  version: string;
  /** Gitignore-style patterns of the files read (the walker's includes), relative to the package root. */
  include: string[];
  /** Its misses were used to fix the workspace index (model/index/): its numbers are no longer held out for the index. */
  usedForIndexFixes: boolean;
  questions: TruthQuestion[];
}

export async function readFixture(): Promise<{ packages: TruthPackage[] }> {
  const fixture = JSON.parse(await fs.readFile(QUESTIONS_FILE, 'utf8')) as { packages: TruthPackage[] };
  for (const pkg of fixture.packages) {
    if (typeof pkg.usedForIndexFixes !== 'boolean') throw new Error(`${pkg.name}: the fixture must say whether it was used to fix the index (usedForIndexFixes)`);
  }
  return fixture;
}

/** `npm pack name@version` into the cache (once), unpacked beside it; returns the package's root folder. */
export async function fetchPackage(pkg: { name: string; version: string }): Promise<{ root: string; tarballSha256: string }> {
  const dir = path.join(CACHE, `${pkg.name}-${pkg.version}`);
  const tarball = path.join(CACHE, `${pkg.name}-${pkg.version}.tgz`);
  await fs.mkdir(CACHE, { recursive: true });
  if (!(await exists(tarball))) {
    process.stdout.write(`npm pack ${pkg.name}@${pkg.version}\n`);
    await run('npm', ['pack', `${pkg.name}@${pkg.version}`, '--pack-destination', CACHE, '--silent']);
  }
  if (!(await exists(path.join(dir, 'package')))) {
    await fs.mkdir(dir, { recursive: true });
    await run('tar', ['xzf', tarball, '-C', dir]);
  }
  const tarballSha256 = createHash('sha256').update(await fs.readFile(tarball)).digest('hex');
  return { root: path.join(dir, 'package'), tarballSha256 };
}

export function count<T>(xs: T[], f: (x: T) => boolean): number {
  return xs.filter(f).length;
}

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

export function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

export async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}
