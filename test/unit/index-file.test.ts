/** The index file: round trip, determinism, atomic writes, and every way a file can be refused. */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FORMAT_VERSION, IndexFileError, WorkspaceIndex, readIndexFile, writeIndexFile, type IndexFileErrorReason, type IndexMeta } from '../../model/index';
import { encodeIndexFile } from '../../model/index/format';
import { walkWorkspace, type WalkedFile } from '../../model/workspace/walker';

const FILES: Record<string, string> = {
  'README.md': '# Demo\n\nA demo workspace.\n\n## Usage\n\nRun it.\n',
  'lib/app.js': "'use strict';\n\n/** Starts listening. */\napp.listen = function listen(port) {\n  return server.listen(port);\n};\n",
  'src/queue.ts': 'export class Queue {\n  /** Retries. */\n  retryWithBackoff(): void {\n    return;\n  }\n}\n',
  'tools/build.py': '"""Build script."""\n\ndef build(target):\n    """Builds target."""\n    return target\n',
  'notes.txt': 'plain text, no grammar\n',
};

let root: string;
let walked: WalkedFile[];
let meta: IndexMeta;

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-index-'));
  for (const [rel, text] of Object.entries(FILES)) {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), text);
  }
  walked = (await walkWorkspace(root)).files;
  meta = { modelId: 'a'.repeat(64), walkerKey: 'b'.repeat(64), root };
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function build(files = walked): Promise<WorkspaceIndex> {
  const index = await WorkspaceIndex.create();
  for (const f of files) index.addFile(f.path, f.text, f.sha256);
  return index;
}

/** Everything an index answers, chunk ids left out (they are per index). */
function contents(index: WorkspaceIndex) {
  const noId = ({ id: _, ...c }: { id: number }) => c;
  return {
    size: index.size,
    files: index.files(),
    outlines: index.files().map((f) => index.outline(f.path)),
    chunks: index.files().map((f) => index.chunksOf(f.path).map(noId)),
    listen: index.definitions('listen'),
    search: ['retry backoff', 'listen port', 'usage', 'build target'].map((q) => index.search(q).map((h) => ({ ...noId(h.chunk), score: h.score }))),
  };
}

function refusedWith(reason: IndexFileErrorReason, pattern: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof IndexFileError, String(e));
    assert.equal(e.reason, reason, e.message);
    assert.match(e.message, pattern);
    return true;
  };
}

describe('index file: round trip', () => {
  it('deserialize(serialize(index)) answers everything the same, and serializes to the same bytes', async () => {
    const index = await build();
    const bytes = index.serialize(meta);
    const back = await WorkspaceIndex.deserialize(bytes, meta);
    assert.deepEqual(contents(back), contents(index));
    assert.ok(contents(index).search.every((hits) => hits.length > 0), 'the search was rebuilt');
    assert.deepEqual(back.serialize(meta), bytes);
  });

  it('is deterministic: the same content in another order, or re-added, gives the same bytes', async () => {
    const a = await build();
    const b = await build([...walked].reverse());
    b.addFile(walked[0]!.path, walked[0]!.text, walked[0]!.sha256);
    assert.deepEqual(b.serialize(meta), a.serialize(meta));
  });

  it('writes atomically: no temporary file is left, and the byte count is the file size', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-index-write-'));
    try {
      const file = path.join(dir, 'index.fami');
      // A temporary file a killed writer left (a pid that cannot be running) is cleaned up by the next write.
      const stale = `.index.fami.999999999.abcdef.tmp`;
      await fs.writeFile(path.join(dir, stale), 'partial');
      const bytes = await writeIndexFile(file, await build(), meta);
      assert.deepEqual(await fs.readdir(dir), ['index.fami']);
      assert.equal((await fs.stat(file)).size, bytes);
      // Overwriting keeps a single file too.
      await writeIndexFile(file, await build(walked.slice(1)), meta);
      assert.deepEqual(await fs.readdir(dir), ['index.fami']);
      assert.equal((await readIndexFile(file, meta)).size.files, walked.length - 1);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('is small: the text is not stored, so the file is a small fraction of the source', async () => {
    // 300 functions with varied bodies (so that the source does not compress away) and one-line docs.
    let seed = 7;
    const word = (): string => ((seed = (seed * 48271) % 2147483647), `v${seed.toString(36)}`);
    const source = Array.from({ length: 300 }, (_, i) => {
      const body = Array.from({ length: 8 }, () => `  const ${word()} = ${word()}(${word()}, ${word()}.${word()});`).join('\n');
      return `/** Step ${i}. */\nexport function step${i}(${word()}: number): number {\n${body}\n  return ${i};\n}\n`;
    }).join('\n');
    const index = await WorkspaceIndex.create();
    index.addFile('src/steps.ts', source, 'sha');
    const bytes = index.serialize(meta);
    assert.equal(index.size.definitions, 300);
    assert.ok(bytes.length < source.length * 0.1, `${bytes.length} bytes for ${source.length} bytes of source`);
  });

  it('a file changed on disk since the save keeps its definitions but leaves the search until it is added again', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-index-stale-'));
    try {
      await fs.cp(root, dir, { recursive: true });
      const local = { ...meta, root: dir };
      const bytes = (await build()).serialize(local);
      await fs.writeFile(path.join(dir, 'src/queue.ts'), 'export const changed = 1;\n');
      const back = await WorkspaceIndex.deserialize(bytes, local);
      assert.deepEqual(back.definitions('retryWithBackoff').map((d) => d.path), ['src/queue.ts']);
      assert.ok(back.search('retryWithBackoff').every((h) => h.chunk.path !== 'src/queue.ts'));
      assert.equal(back.search('listen')[0]?.chunk.path, 'lib/app.js');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('index file: refused', () => {
  let bytes: Uint8Array;
  before(async () => {
    bytes = (await build()).serialize(meta);
  });
  const copy = (): Uint8Array => new Uint8Array(bytes);

  it('not-found: no file there', async () => {
    await assert.rejects(readIndexFile(path.join(root, 'missing.fami'), meta), refusedWith('not-found', /no saved index/));
  });

  it('bad-magic: not an index file', async () => {
    const b = copy();
    b[0] = 0x7b; // '{'
    await assert.rejects(WorkspaceIndex.deserialize(b, meta), refusedWith('bad-magic', /not a Famulus index file/));
  });

  it('version: another format version', async () => {
    const b = copy();
    new DataView(b.buffer).setUint32(4, FORMAT_VERSION + 1, true);
    await assert.rejects(WorkspaceIndex.deserialize(b, meta), refusedWith('version', new RegExp(`format version 0x0+${FORMAT_VERSION + 1}, this engine reads version 0x0+${FORMAT_VERSION}`)));
  });

  it('truncated: cut anywhere', async () => {
    for (const length of [10, 40, Math.floor(bytes.length / 2), bytes.length - 1]) {
      await assert.rejects(WorkspaceIndex.deserialize(bytes.subarray(0, length), meta), refusedWith('truncated', /bytes/), `cut at ${length}`);
    }
  });

  it('corrupt: a flipped byte in the body or in the checksum', async () => {
    for (const at of [bytes.length - 100, bytes.length - 1]) {
      const b = copy();
      b[at]! ^= 0x01;
      await assert.rejects(WorkspaceIndex.deserialize(b, meta), refusedWith('corrupt', /checksum mismatch/), `flipped at ${at}`);
    }
  });

  it('corrupt: a well-formed file whose body is wrong (a path out of the root) is refused after the checksum', async () => {
    const body = { files: [{ path: '../secret.txt', sha256: 'x', lines: 1, language: null, definitions: [], chunks: [] }] };
    await assert.rejects(WorkspaceIndex.deserialize(encodeIndexFile(meta, body), meta), refusedWith('corrupt', /path "..\/secret.txt"/));
    const badLine = { files: [{ path: 'a.js', sha256: 'x', lines: 3, language: 'javascript', definitions: [['f', 'f', 'function', 2, 9, '']], chunks: [] }] };
    await assert.rejects(WorkspaceIndex.deserialize(encodeIndexFile(meta, badLine as never), meta), refusedWith('corrupt', /definition/));
  });

  it('mismatch: made for another model, other walker settings, or another root', async () => {
    for (const [key, value] of [['modelId', 'c'.repeat(64)], ['walkerKey', 'other'], ['root', '/elsewhere']] as const) {
      await assert.rejects(WorkspaceIndex.deserialize(bytes, { ...meta, [key]: value }), refusedWith('mismatch', new RegExp(`made for ${key}`)), key);
    }
  });
});
