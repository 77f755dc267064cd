/**
 * The walk's default excludes (model/workspace/default-excludes.ts) and minified files found by their content:
 * what is skipped, with which reason and detail, what is still read (code named like a changelog), how a
 * client reads them anyway, and that the extension's setting lists the same patterns.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_EXCLUDES } from '../../model/workspace/default-excludes';
import { minifiedDetail, walkWorkspace, type WalkResult } from '../../model/workspace/walker';

const REPO = path.resolve(__dirname, '..', '..');

async function makeTree(files: Record<string, string>): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-defaults-'));
  for (const [rel, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), content);
  }
  return root;
}

const paths = (r: WalkResult) => r.files.map((f) => f.path);
const reasons = (r: WalkResult) => Object.fromEntries(r.skipped.map((s) => [s.path, s.reason]));

/** Minified JavaScript: one line of `chars` characters. */
const minified = (chars: number) => 'var a=1;'.repeat(Math.ceil(chars / 8)).slice(0, chars);
/** Ordinary code of `lines` lines. */
const code = (lines: number) => Array.from({ length: lines }, (_, i) => `export const v${i} = ${i}; // an ordinary line of code`).join('\n') + '\n';

describe('walker: default excludes', () => {
  let root: string;
  before(async () => {
    root = await makeTree({
      'History.md': '4.21.2 / 2024-11-06\n==========\n',
      'CHANGELOG.md': '# Changelog\n',
      'packages/core/CHANGES.rst': 'Changes\n',
      NEWS: 'news\n',
      'package-lock.json': '{}\n',
      'yarn.lock': '# yarn\n',
      'Cargo.lock': '# cargo\n',
      'go.sum': 'mod h1:x\n',
      'vendor/jquery.min.js': 'var a=1;\n',
      'dist/app.js.map': '{"version":3}\n',
      'styles/site.min.css': 'a{}\n',
      // Code named like a changelog is read.
      'lib/history.js': 'module.exports = function history() {};\n',
      'src/changes.ts': 'export const changes = [];\n',
      // A folder named like a changelog is code.
      'src/news/feed.ts': 'export const feed = 1;\n',
      'src/history/index.ts': 'export const history = [];\n',
      'dist/index.js': 'export const shipped = true;\n',
      'README.md': '# Readme\n',
    });
  });
  after(() => fs.rm(root, { recursive: true, force: true }));

  it('skips changelogs, lock files, minified files and source maps, each with the pattern that matched', async () => {
    const r = await walkWorkspace(root);
    assert.deepEqual(paths(r), ['README.md', 'dist/index.js', 'lib/history.js', 'src/changes.ts', 'src/history/index.ts', 'src/news/feed.ts']);
    assert.deepEqual(reasons(r), {
      'CHANGELOG.md': 'default-excluded',
      'Cargo.lock': 'default-excluded',
      'History.md': 'default-excluded',
      NEWS: 'default-excluded',
      'dist/app.js.map': 'default-excluded',
      'go.sum': 'default-excluded',
      'package-lock.json': 'default-excluded',
      'packages/core/CHANGES.rst': 'default-excluded',
      'styles/site.min.css': 'default-excluded',
      'vendor/jquery.min.js': 'default-excluded',
      'yarn.lock': 'default-excluded',
    });
    assert.equal(r.skipped.find((s) => s.path === 'History.md')!.detail, 'matches the default exclude "HISTORY.md"');
    assert.equal(r.skipped.find((s) => s.path === 'vendor/jquery.min.js')!.detail, 'matches the default exclude "*.min.js"');
  });

  it('reads them when a client clears the list, and applies a shorter list as given', async () => {
    const all = await walkWorkspace(root, { defaultExcludes: [] });
    assert.equal(all.skipped.length, 0);
    assert.equal(all.files.length, 17);
    const some = await walkWorkspace(root, { defaultExcludes: ['*.lock'] });
    assert.deepEqual(Object.keys(reasons(some)), ['Cargo.lock', 'yarn.lock']);
  });

  it('a .gitignore rule and a user exclude win over a default exclude (their reason is reported)', async () => {
    const dir = await makeTree({ '.gitignore': 'yarn.lock\n', 'yarn.lock': '#\n', 'CHANGELOG.md': '#\n', 'a.ts': 'a\n' });
    try {
      const r = await walkWorkspace(dir, { excludes: ['CHANGELOG.md'] });
      assert.deepEqual(reasons(r), { 'CHANGELOG.md': 'excluded', 'yarn.lock': 'gitignored' });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('BAD CALL: a default exclude too costly to match is refused, naming it', async () => {
    await assert.rejects(walkWorkspace(root, { defaultExcludes: ['**/a/**/b/**/c/**/d'] }), /default exclude pattern "\*\*\/a\/\*\*\/b\/\*\*\/c\/\*\*\/d": 4 `\*\*` segments/);
  });
});

describe('walker: minified and generated files found by their content', () => {
  let root: string;
  before(async () => {
    root = await makeTree({
      'dist/bundle.js': minified(40_000),
      'data/one-line.json': `{"rows":[${Array.from({ length: 5000 }, (_, i) => i).join(',')}]}`,
      // Small: a long line costs little to read.
      'small.js': minified(10_000),
      'src/big.ts': code(2000),
      // A long file with a few long lines in it is still read.
      'src/mixed.ts': `${code(500)}export const blob = '${'x'.repeat(5000)}';\n${code(500)}`,
    });
  });
  after(() => fs.rm(root, { recursive: true, force: true }));

  it('skips a file of 16 KB or more with most of its text on lines over 2,000 characters, saying how much', async () => {
    const r = await walkWorkspace(root);
    assert.deepEqual(paths(r), ['small.js', 'src/big.ts', 'src/mixed.ts']);
    assert.deepEqual(reasons(r), { 'data/one-line.json': 'minified', 'dist/bundle.js': 'minified' });
    assert.equal(r.skipped.find((s) => s.path === 'dist/bundle.js')!.detail, 'minified or generated: 100% of its 40,000 characters on lines over 2,000 characters');
  });

  it('reads them with skipMinified false', async () => {
    const r = await walkWorkspace(root, { skipMinified: false });
    assert.equal(r.skipped.length, 0);
    assert.equal(r.files.length, 5);
  });

  it('counts CR and CRLF line ends as line ends', () => {
    assert.equal(minifiedDetail(`${'y'.repeat(1500)}\r`.repeat(20)), null);
    assert.equal(minifiedDetail(`${'y'.repeat(1500)}\r\n`.repeat(20)), null);
    assert.match(minifiedDetail(`${'y'.repeat(2500)}\r`.repeat(10)) ?? '', /^minified or generated: 100%/);
  });
});

describe('default excludes: one list for the engine and the extension', () => {
  it("the setting famulus.defaultExcludes defaults to the walker's list, and a user can clear it", () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
    const setting = pkg.contributes.configuration.properties['famulus.defaultExcludes'];
    assert.deepEqual(setting.default, [...DEFAULT_EXCLUDES]);
    assert.equal(setting.type, 'array');
    assert.equal(pkg.contributes.configuration.properties['famulus.skipMinified'].default, true);
    // Settings that decide what is read are not taken from an untrusted workspace.
    for (const key of ['famulus.defaultExcludes', 'famulus.skipMinified']) {
      assert.ok(pkg.capabilities.untrustedWorkspaces.restrictedConfigurations.includes(key), key);
    }
  });
});
