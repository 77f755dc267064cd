import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { walkWorkspace, type WalkResult } from '../../model/workspace/walker';

/** Writes a tree of files: keys are root-relative paths, values are contents. */
async function makeTree(files: Record<string, string | Uint8Array>): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-walker-'));
  for (const [rel, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), content);
  }
  return root;
}

const paths = (r: WalkResult) => r.files.map((f) => f.path);
const skip = (r: WalkResult, p: string) => r.skipped.find((s) => s.path === p);

describe('walker: .gitignore', () => {
  let root: string;
  before(async () => {
    root = await makeTree({
      '.gitignore': '*.log\n!keep.log\nbuild/\n/only-root.txt\n',
      'a.log': 'x',
      'keep.log': 'kept by a negation\n',
      'only-root.txt': 'ignored at the root only',
      'build/out.js': 'ignored folder',
      'src/main.ts': 'export const a = 1;\n',
      'src/only-root.txt': 'not ignored: the rule is anchored to the root',
      'src/build/x.ts': 'ignored: build/ matches at any depth',
      'src/.gitignore': 'generated/\n*.tmp\n!important.tmp\nkeep.log\n',
      'src/generated/g.ts': 'ignored by the nested file',
      'src/t.tmp': 'ignored by the nested file',
      'src/important.tmp': 'negated in the nested file',
      'src/keep.log': 'the nested file overrides the root negation',
      'generated/top.ts': 'not ignored: nested rules are relative to their folder',
      'lib/z.tmp': 'not ignored: *.tmp is only in src/.gitignore',
    });
  });
  after(() => fs.rm(root, { recursive: true, force: true }));

  it('applies root and nested rules, negations and anchors, and reports each skip with its rule', async () => {
    const r = await walkWorkspace(root);
    assert.deepEqual(paths(r), [
      '.gitignore',
      'generated/top.ts',
      'keep.log',
      'lib/z.tmp',
      'src/.gitignore',
      'src/important.tmp',
      'src/main.ts',
      'src/only-root.txt',
    ]);
    assert.equal(skip(r, 'a.log')?.reason, 'gitignored');
    assert.match(skip(r, 'a.log')!.detail, /\*\.log \(from \.gitignore\)/);
    assert.equal(skip(r, 'build/')?.reason, 'gitignored');
    assert.equal(skip(r, 'build/out.js'), undefined, 'an ignored folder is not entered');
    assert.equal(skip(r, 'src/build/')?.reason, 'gitignored');
    assert.match(skip(r, 'src/generated/')!.detail, /generated\/ \(from src\/\.gitignore\)/);
    assert.match(skip(r, 'src/keep.log')!.detail, /keep\.log \(from src\/\.gitignore\)/);
    assert.equal(skip(r, 'src/t.tmp')?.reason, 'gitignored');
  });

  it('ignores .gitignore files when asked to', async () => {
    const r = await walkWorkspace(root, { gitignore: false });
    assert.ok(paths(r).includes('a.log'));
    assert.ok(paths(r).includes('src/generated/g.ts'));
  });
});

describe('walker: excludes and includes', () => {
  let root: string;
  before(async () => {
    root = await makeTree({
      '.git/HEAD': 'ref: refs/heads/main\n',
      'node_modules/dep/index.js': 'module.exports = 1;\n',
      '.famulus/state.fams': 'state',
      'src/a.ts': 'a\n',
      'src/a.test.ts': 'test\n',
      'docs/readme.md': '# doc\n',
    });
  });
  after(() => fs.rm(root, { recursive: true, force: true }));

  it('skips .git/, node_modules/ and .famulus/ by default, reporting each folder once', async () => {
    const r = await walkWorkspace(root);
    assert.deepEqual(paths(r), ['docs/readme.md', 'src/a.test.ts', 'src/a.ts']);
    assert.deepEqual(
      r.skipped.map((s) => [s.path, s.reason]),
      [
        ['.famulus/', 'excluded'],
        ['.git/', 'excluded'],
        ['node_modules/', 'excluded'],
      ],
    );
  });

  it('adds user excludes, can drop the defaults, and keeps only included files', async () => {
    const r1 = await walkWorkspace(root, { excludes: ['*.test.ts'] });
    assert.deepEqual(paths(r1), ['docs/readme.md', 'src/a.ts']);
    assert.equal(skip(r1, 'src/a.test.ts')?.reason, 'excluded');

    const r2 = await walkWorkspace(root, { useDefaultExcludes: false });
    assert.ok(paths(r2).includes('.git/HEAD'));
    assert.ok(paths(r2).includes('node_modules/dep/index.js'));

    const r3 = await walkWorkspace(root, { includes: ['*.ts'] });
    assert.deepEqual(paths(r3), ['src/a.test.ts', 'src/a.ts']);
    assert.equal(skip(r3, 'docs/readme.md')?.reason, 'not-included');
  });
});

describe('walker: file content checks', () => {
  let root: string;
  const text = 'const π = 3.14159; // ünïcödé\n';
  before(async () => {
    const bigMultibyte = 'é'.repeat(5000); // 10000 bytes: a 2-byte character straddles the 8 KB boundary
    root = await makeTree({
      'text.ts': text,
      'bom.txt': new Uint8Array([0xef, 0xbb, 0xbf, ...Buffer.from('with bom\n')]),
      'empty.txt': '',
      'multibyte.txt': bigMultibyte,
      'image.png': new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d]),
      'latin1.txt': new Uint8Array([...Buffer.from('caf'), 0xe9, 0x0a]),
      'late-invalid.txt': new Uint8Array([...Buffer.alloc(9000, 0x61), 0xff, 0x0a]),
      'huge.txt': 'x'.repeat(2048),
    });
  });
  after(() => fs.rm(root, { recursive: true, force: true }));

  it('reads text, hashes the raw bytes, counts total bytes, and skips binary, invalid UTF-8 and huge files', async () => {
    const r = await walkWorkspace(root, { maxFileBytes: 1024 * 12 });
    assert.deepEqual(paths(r), ['bom.txt', 'empty.txt', 'huge.txt', 'multibyte.txt', 'text.ts']);
    const t = r.files.find((f) => f.path === 'text.ts')!;
    assert.equal(t.text, text);
    assert.equal(t.sha256, createHash('sha256').update(text).digest('hex'));
    assert.equal(t.size, Buffer.byteLength(text));
    assert.equal(t.absPath, path.join(root, 'text.ts'));
    assert.equal(r.files.find((f) => f.path === 'bom.txt')!.text, 'with bom\n');
    assert.equal(r.files.find((f) => f.path === 'multibyte.txt')!.text.length, 5000);
    assert.equal(r.totalBytes, r.files.reduce((n, f) => n + f.size, 0));
    assert.equal(r.totalBytes, 12 + 0 + 2048 + 10000 + Buffer.byteLength(text));

    assert.deepEqual(skip(r, 'image.png'), { path: 'image.png', reason: 'binary', detail: 'NUL byte at offset 8' });
    assert.equal(skip(r, 'latin1.txt')?.reason, 'invalid-utf8');
    assert.match(skip(r, 'latin1.txt')!.detail, /first 8192 bytes/);
    assert.deepEqual(skip(r, 'late-invalid.txt'), { path: 'late-invalid.txt', reason: 'invalid-utf8', detail: 'invalid UTF-8' });
  });

  it('skips files over the size limit (1 MB by default) with the size in the detail', async () => {
    const small = await walkWorkspace(root, { maxFileBytes: 1024 });
    assert.deepEqual(skip(small, 'huge.txt'), { path: 'huge.txt', reason: 'too-large', detail: '2048 bytes > limit 1024' });
    const dflt = await walkWorkspace(root);
    assert.ok(paths(dflt).includes('huge.txt'));
    await fs.writeFile(path.join(root, 'huge.txt'), 'y'.repeat(1024 * 1024 + 1));
    const big = await walkWorkspace(root);
    assert.equal(skip(big, 'huge.txt')?.reason, 'too-large');
  });
});

describe('walker: unreadable entries and symlinks', () => {
  let root: string;
  before(async () => {
    root = await makeTree({ 'a/file.ts': 'a\n', 'b/inner/file.ts': 'b\n', 'secret.txt': 'no\n' });
    await fs.symlink('does-not-exist', path.join(root, 'broken-link'));
    await fs.symlink('..', path.join(root, 'a/up')); // a loop: a/up -> root
    await fs.symlink('self-loop', path.join(root, 'self-loop')); // stat fails with ELOOP
    await fs.symlink('b/inner', path.join(root, 'c-link')); // the same folder reached twice
    await fs.symlink('a/file.ts', path.join(root, 'file-link.ts'));
    await fs.writeFile(`${root}-outside.txt`, 'a file beside the workspace\n');
    await fs.symlink(`${root}-outside.txt`, path.join(root, 'outside-link.txt')); // leads out of the root
    if (process.getuid?.() === 0) {
      // root reads any file whatever its mode; /proc/self/mem is a regular file whose read fails with EIO.
      await fs.symlink('/proc/self/mem', path.join(root, 'unreadable.txt'));
    } else {
      await fs.copyFile(path.join(root, 'secret.txt'), path.join(root, 'unreadable.txt'));
      await fs.chmod(path.join(root, 'unreadable.txt'), 0o000);
    }
  });
  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
    await fs.rm(`${root}-outside.txt`, { force: true });
  });

  it('reports unreadable files and broken links, and does not follow symlinked folders by default', async () => {
    const r = await walkWorkspace(root);
    assert.deepEqual(paths(r), ['a/file.ts', 'b/inner/file.ts', 'file-link.ts', 'secret.txt']);
    assert.equal(r.files.find((f) => f.path === 'file-link.ts')!.text, 'a\n');
    if (process.getuid?.() === 0) {
      // The /proc/self/mem link leads out of the root: skipped before any read (else EIO).
      assert.equal(skip(r, 'unreadable.txt')?.reason, 'symlink-outside');
    } else {
      assert.equal(skip(r, 'unreadable.txt')?.reason, 'unreadable');
      assert.match(skip(r, 'unreadable.txt')!.detail, /EACCES/);
    }
    assert.deepEqual(skip(r, 'outside-link.txt'), { path: 'outside-link.txt', reason: 'symlink-outside', detail: 'file link leads outside the workspace' });
    assert.deepEqual(skip(r, 'broken-link'), { path: 'broken-link', reason: 'unreadable', detail: 'symlink: ENOENT' });
    assert.deepEqual(skip(r, 'self-loop'), { path: 'self-loop', reason: 'symlink-loop', detail: 'symlink: ELOOP' });
    assert.equal(skip(r, 'a/up/')?.reason, 'symlink-dir');
    assert.equal(skip(r, 'c-link/')?.reason, 'symlink-dir');
  });

  it('follows symlinked folders when asked, and stops at loops and folders already walked', async () => {
    const r = await walkWorkspace(root, { followSymlinks: true });
    // Asked to follow links, it also reads the file link that leads out of the root.
    assert.deepEqual(paths(r), ['a/file.ts', 'b/inner/file.ts', 'file-link.ts', 'outside-link.txt', 'secret.txt']);
    assert.equal(skip(r, 'unreadable.txt')?.reason, 'unreadable'); // EIO from /proc/self/mem as root, else EACCES
    assert.match(skip(r, 'unreadable.txt')!.detail, /EIO|EACCES/);
    assert.equal(skip(r, 'a/up/')?.reason, 'symlink-loop');
    assert.equal(skip(r, 'c-link/')?.reason, 'symlink-duplicate');
  });
});

describe('walker: order and cancellation', () => {
  it('sorts by path in code-unit order across folders, the same on every run', async () => {
    const root = await makeTree({ 'a/b.ts': '1', 'a-c.ts': '2', 'a.ts': '3', 'B.ts': '4', 'a/a/z.ts': '5', '_x.ts': '6' });
    try {
      const r1 = await walkWorkspace(root);
      assert.deepEqual(paths(r1), ['B.ts', '_x.ts', 'a-c.ts', 'a.ts', 'a/a/z.ts', 'a/b.ts']);
      const r2 = await walkWorkspace(root);
      assert.deepEqual(r2, r1);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('EXPECTED FAILURE - an aborted walk rejects with AbortError', async () => {
    const root = await makeTree({ 'a.ts': '1' });
    try {
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(walkWorkspace(root, { signal: controller.signal }), { name: 'AbortError' });
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('BAD CALL - walking a missing path or a file rejects with the path in the message', async () => {
    await assert.rejects(walkWorkspace('/nonexistent/famulus'), /cannot walk \/nonexistent\/famulus: ENOENT/);
    await assert.rejects(walkWorkspace(__filename), /not a directory/);
  });
});
