import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveCitation } from '../../extension/citations';
import { findCitations } from '../../webview/markdown';

describe('citations: finding path:line in text', () => {
  it('finds root-relative paths with a line, with or without a column', () => {
    const found = findCitations('See src/queue.ts:12 and README.md:3, also (./scripts/report.py:7:2).');
    assert.deepEqual(
      found.map((c) => [c.path, c.line]),
      [
        ['src/queue.ts', 12],
        ['README.md', 3],
        ['./scripts/report.py', 7],
      ],
    );
  });

  it('ignores URLs with ports, times, versions and words without an extension', () => {
    assert.deepEqual(findCitations('http://localhost.io:8080 at 12:30, version 1.2:3? main:4 v2.0:1'), []);
  });
});

describe('citations: resolving inside the workspace', () => {
  let root: string;
  let outside: string;
  before(() => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'famulus-cite-'));
    root = path.join(base, 'ws');
    outside = path.join(base, 'secret.txt');
    fs.mkdirSync(path.join(root, 'src'), { recursive: true });
    fs.writeFileSync(path.join(root, 'src', 'queue.ts'), 'a\nb\nc\n');
    fs.writeFileSync(outside, 'secret\n');
    fs.symlinkSync(outside, path.join(root, 'src', 'link.txt'));
  });
  after(() => fs.rmSync(path.dirname(root), { recursive: true, force: true }));

  it('opens a root-relative path and an absolute path inside the root', () => {
    const rel = resolveCitation([root], 'src/queue.ts', 2);
    assert.deepEqual(rel, { ok: true, file: path.join(root, 'src', 'queue.ts'), line: 2, root });
    const abs = resolveCitation([root], path.join(root, 'src', 'queue.ts'), 1);
    assert.equal(abs.ok, true);
    const dotted = resolveCitation([root], './src/../src/queue.ts', 1);
    assert.equal(dotted.ok, true);
  });

  it('looks in every workspace folder', () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'famulus-cite-other-'));
    try {
      const r = resolveCitation([other, root], 'src/queue.ts', 3);
      assert.equal(r.ok && r.root, root);
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  it('EXPECTED FAILURE - refuses ../../etc/passwd', () => {
    const r = resolveCitation([root], '../../etc/passwd', 1);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : '', /outside the workspace/);
    const deep = resolveCitation([root], 'src/../../../../../../etc/passwd', 1);
    assert.equal(deep.ok, false);
  });

  it('EXPECTED FAILURE - refuses absolute paths outside the workspace', () => {
    const r = resolveCitation([root], '/etc/passwd', 1);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.reason : '', /outside the workspace/);
    assert.equal(resolveCitation([root], outside, 1).ok, false);
    // A sibling folder whose name starts like the root is not inside it.
    assert.equal(resolveCitation([root], `${root}-evil/x.ts`, 1).ok, false);
  });

  it('EXPECTED FAILURE - refuses a symlink inside the workspace that leads outside', () => {
    const r = resolveCitation([root], 'src/link.txt', 1);
    assert.equal(r.ok, false);
  });

  it('EXPECTED FAILURE - refuses URLs, NUL bytes, bad lines, missing files and folders', () => {
    assert.equal(resolveCitation([root], 'file:///etc/passwd', 1).ok, false);
    assert.equal(resolveCitation([root], 'src/queue.ts\0', 1).ok, false);
    assert.equal(resolveCitation([root], 'src/queue.ts', 0).ok, false);
    assert.equal(resolveCitation([root], 'src/queue.ts', 1.5).ok, false);
    const missing = resolveCitation([root], 'src/nope.ts', 1);
    assert.match(!missing.ok ? missing.reason : '', /does not exist/);
    assert.equal(resolveCitation([root], 'src', 1).ok, false);
    assert.equal(resolveCitation([], 'src/queue.ts', 1).ok, false);
  });
});
