/**
 * Issue 7, part 1: the bad-input corpus (test/reliability/make-bad-corpus.ts, generated into a temporary folder)
 * read by the real engine process (dist/engine.js) with the tiny model, while files change under it.
 * Expected: no crash, every skip reported with a reason, the read finished, and the saved memory restores.
 * Also the walker alone on races it cannot be shown deterministically through the engine: a file deleted,
 * turned binary or grown between listing and reading, and a folder deleted between listing and entering.
 */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import type { EngineProcess } from '../../model/engine/client';
import type { ReadChunk, SkippedEntry, WorkspaceResult } from '../../model/engine/protocol';
import { readStateFile } from '../../model/state';
import { SKIP_REASONS, walkWorkspace } from '../../model/workspace/walker';
import { openWorkspace, stateFileIn, tempDir, tinyEngine, walkedChunk, writeFigures } from '../reliability/helpers';
import { listCorpus, makeBadCorpus, unlockCorpus, type Corpus } from '../reliability/make-bad-corpus';

const KNOWN_REASONS = new Set<string>(SKIP_REASONS);

describe('reliability: the bad-input corpus through the engine process', () => {
  let dir: string;
  let corpus: Corpus;
  let engine: EngineProcess;
  let stderr = '';
  let memoryDir: string;
  let walked: Extract<ReadChunk, { kind: 'walked' }>;
  let result: WorkspaceResult;
  let readPaths: Set<string>;
  let churnOps = 0;
  let generateSeconds = 0;

  before(async () => {
    dir = await tempDir('corpus');
    const t = performance.now();
    corpus = makeBadCorpus(path.join(dir, 'corpus'));
    memoryDir = path.join(dir, 'memory');
    generateSeconds = (performance.now() - t) / 1000;
    engine = await tinyEngine({}, (text) => (stderr += text));
  });
  after(async () => {
    await engine?.shutdown();
    unlockCorpus(corpus.root);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it(`reads the whole corpus while files change under it: no crash, finished, every case as expected`, async () => {
    const stopChurn = corpus.startChurn();
    let stopped: Promise<number> | null = null;
    const run = await openWorkspace(engine, corpus.root, {
      memoryDir,
      onChunk: (c) => {
        if (c.kind === 'walked') stopped ??= stopChurn();
      },
    });
    churnOps = await (stopped ?? stopChurn());
    result = run.result;
    walked = walkedChunk(run.chunks);
    assert.equal(run.chunks[0], walked);
    const read = result.read!;
    assert.equal(result.cancelled, false);
    assert.equal(read.filesIngested, walked.filesTotal, 'every listed file was read');
    assert.deepEqual(read.skipped, walked.skipped);
    assert.equal(engine.child.exitCode, null, 'the engine is alive');
    assert.equal(engine.child.signalCode, null);
    assert.doesNotMatch(stderr, / failed: /, 'no handler failed inside the engine');

    // The memory is valid: saved, then restored by a fresh engine, and it lists what was read.
    assert.ok(result.saved, 'the memory was saved');
    assert.equal(result.state?.files, read.filesIngested);
    const second = await tinyEngine();
    try {
      const restored = await openWorkspace(second, corpus.root, { memoryDir, mode: 'restore' });
      assert.equal(restored.result.restoreProblem, null);
      assert.ok(restored.result.restored);
      assert.deepEqual(restored.result.state, result.state);
    } finally {
      await second.shutdown();
    }
    const stateFile = stateFileIn(memoryDir);
    const snap = await readStateFile(stateFile);
    const manifest = snap.meta['famulus.workspace'] as { files: Array<{ path: string }> };
    readPaths = new Set(manifest.files.map((f) => f.path));
    assert.equal(readPaths.size, read.filesIngested);

    // Every skip has a known reason and a detail.
    for (const s of walked.skipped) {
      assert.ok(KNOWN_REASONS.has(s.reason), `${s.path}: unknown reason ${s.reason}`);
      assert.ok(s.detail.length > 0, `${s.path}: no detail`);
    }
    // Every case: each of its paths read or skipped (itself, or a folder above it) as the case expects.
    const skipOf = (p: string): SkippedEntry | undefined => {
      const own = walked.skipped.find((s) => s.path === p || s.path === `${p}/`);
      if (own) return own;
      const parts = p.split('/');
      for (let i = parts.length - 1; i > 0; i--) {
        const folder = `${parts.slice(0, i).join('/')}/`;
        const hit = walked.skipped.find((s) => s.path === folder);
        if (hit) return hit;
      }
      return undefined;
    };
    const failures: string[] = [];
    for (const c of corpus.cases) {
      for (const e of c.entries) {
        const p = e.path.replace(/\/$/, '');
        const isRead = readPaths.has(p);
        const skipped = skipOf(p);
        const what = isRead ? 'read' : skipped ? `skipped (${skipped.reason}: ${skipped.detail})` : 'neither read nor skipped';
        if (e.expect.kind === 'read' && !isRead) failures.push(`${c.id} ${JSON.stringify(e.path)}: expected read, ${what}`);
        if (e.expect.kind === 'skip' && !(skipped && e.expect.reasons.includes(skipped.reason))) {
          failures.push(`${c.id} ${JSON.stringify(e.path)}: expected skip ${e.expect.reasons.join('|')}, ${what}`);
        }
        if (e.expect.kind === 'racy' && skipped && !e.expect.reasons.includes(skipped.reason)) {
          failures.push(`${c.id} ${JSON.stringify(e.path)}: changed file, unexpected ${what}`);
        }
      }
    }
    assert.deepEqual(failures, []);

    // Nothing on disk is silently dropped: each path (but the churning ones) is read, skipped, or a folder.
    const silent = listCorpus(corpus.root).filter(
      (p) => !p.startsWith('churn/') && !p.endsWith('/') && !readPaths.has(p) && !skipOf(p),
    );
    assert.deepEqual(silent, [], 'entries neither read nor reported');

    const byReason: Record<string, number> = {};
    for (const s of walked.skipped) byReason[s.reason] = (byReason[s.reason] ?? 0) + 1;
    await writeFigures('corpus', {
      cases: corpus.cases.length,
      caseGroups: Object.fromEntries([...new Set(corpus.cases.map((c) => c.group))].map((g) => [g, corpus.cases.filter((c) => c.group === g).length])),
      entriesChecked: corpus.cases.reduce((n, c) => n + c.entries.length, 0),
      crashes: 0,
      filesRead: read.filesIngested,
      skipped: walked.skipped.length,
      skipsByReason: byReason,
      tokens: read.tokensIngested,
      bytesRead: walked.bytesTotal,
      ingestSeconds: read.seconds,
      tokensPerSecond: read.tokensPerSecond,
      generateSeconds,
      churnOperationsDuringWalk: churnOps,
      chmodStopsReads: corpus.chmodStopsReads,
      uid: process.getuid?.() ?? null,
      treeFiles: corpus.treeFiles,
      bigFileBytes: corpus.bigFileBytes,
      stateFileBytes: (await fs.stat(stateFile)).size,
    });
  });

  it('an update of the changed corpus finishes again from the held memory', async () => {
    await fs.writeFile(path.join(corpus.root, 'zz-added-last.txt'), 'added after the first read\n');
    const stream = engine.stream('workspace/update', {});
    const chunks: ReadChunk[] = [];
    for await (const c of stream) chunks.push(c);
    const again = await stream.result;
    assert.equal(again.cancelled, false);
    const w = walkedChunk(chunks);
    assert.equal(again.read!.filesIngested + again.read!.filesReused, w.filesTotal);
    assert.ok(again.state!.files >= result.read!.filesIngested - 40, 'about the same files as before');
  });
});

describe('reliability: the walker when files change between listing and reading', () => {
  let root: string;
  before(async () => {
    root = await tempDir('race');
    for (const name of ['a.txt', 'deleted.txt', 'to-binary.txt', 'grows.txt', 'z.txt']) await fs.writeFile(path.join(root, name), `${name}\n`);
    await fs.mkdir(path.join(root, 'gone-dir'));
    await fs.writeFile(path.join(root, 'gone-dir', 'inner.txt'), 'inner\n');
  });
  after(() => fs.rm(root, { recursive: true, force: true }));

  it('a file deleted, turned binary or grown past the limit after it was listed is skipped with the reason', async () => {
    const readFile = fs.readFile.bind(fs);
    const spy = mock.method(fs, 'readFile', async (file: Parameters<typeof fs.readFile>[0], ...rest: unknown[]) => {
      const name = path.basename(String(file));
      if (name === 'deleted.txt') await fs.rm(String(file), { force: true });
      if (name === 'to-binary.txt') await fs.writeFile(String(file), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0]));
      if (name === 'grows.txt') await fs.writeFile(String(file), Buffer.alloc(2048, 0x61));
      return (readFile as (...a: unknown[]) => Promise<unknown>)(file, ...rest);
    });
    try {
      const r = await walkWorkspace(root, { maxFileBytes: 1024 });
      assert.deepEqual(r.files.map((f) => f.path), ['a.txt', 'gone-dir/inner.txt', 'z.txt']);
      const reasons = Object.fromEntries(r.skipped.map((s) => [s.path, `${s.reason}: ${s.detail}`]));
      assert.deepEqual(reasons, {
        'deleted.txt': 'unreadable: ENOENT',
        'grows.txt': 'too-large: 2048 bytes > limit 1024',
        'to-binary.txt': 'binary: NUL byte at offset 4',
      });
      assert.ok(spy.mock.callCount() >= 5);
    } finally {
      spy.mock.restore();
    }
  });

  it('a folder deleted between listing and entering is skipped as unreadable, and the walk finishes', async () => {
    // The walker resolves a folder's real path before entering it: delete the folder right there.
    const realpath = fs.realpath.bind(fs);
    const spy = mock.method(fs, 'realpath', async (p: string, ...rest: unknown[]) => {
      if (path.basename(String(p)) === 'gone-dir') await fs.rm(String(p), { recursive: true, force: true });
      return (realpath as (...a: unknown[]) => Promise<string>)(p, ...rest);
    });
    try {
      const r = await walkWorkspace(root);
      assert.ok(r.files.some((f) => f.path === 'z.txt'), 'files after the folder are still read');
      const gone = r.skipped.find((s) => s.path === 'gone-dir/');
      assert.equal(gone?.reason, 'unreadable');
      assert.match(gone!.detail, /ENOENT/);
    } finally {
      spy.mock.restore();
    }
  });
});
