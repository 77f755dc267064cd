/**
 * Issue 22 item 4: a saved memory is used only when it is this user's own and its content is sound. A state
 * used to be trusted when its SHA-256 matched, and the CLI keeps it inside the workspace, so a cloned
 * repository could ship one: another workspace's memory relabelled was used silently, NaN in the FAM gave empty
 * answers, out-of-vocabulary token ids made every later `ask` fail in onnxruntime's Gather, and a 40 MB nested
 * JSON header took 2.5 GB to parse.
 *
 * The hostile corpus is made here from real saved states (the tiny model, CPU, one thread): every file is
 * tampered with and sealed again with a valid checksum; the content cases with this user's MAC too, so that
 * only the content checks can stop them, the provenance cases with another user's key, a zeroed MAC or the old
 * MAC-less format. Each is put in a memory folder and opened by a fresh engine process, which must report it in
 * `restoreProblem` and read the workspace again from scratch (or, for a link or a FIFO at the state's path,
 * refuse it by name), then answer a question; no engine may crash, nothing may be used silently, and the
 * engine's peak RSS (VmHWM) must stay under twice that of the same engine's normal work (a read from scratch, a
 * restore).
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { promises as fs, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deflateRawSync } from 'node:zlib';
import type { EngineProcess } from '../../model/engine/client';
import { EngineError, type WorkspaceResult } from '../../model/engine/protocol';
import { IndexFileError, readIndexFile, type IndexMeta } from '../../model/index';
import { FORMAT_VERSION as INDEX_FORMAT_VERSION, decodeIndexFile, encodeIndexFile, type IndexBody } from '../../model/index/format';
import { STATE_FILE_VERSION, decodeState, encodeState, readStateFile, userKeyFile, type StateSnapshot } from '../../model/state';
import { CLI, REPO, TINY, code, openWorkspace, stateFileIn, tinyEngine, writeFigures } from '../reliability/helpers';

const scratch = mkdtempSync(path.join(os.tmpdir(), 'famulus-hardening-corpus-'));
// This suite's own per-user key, never the real one in the user's home (inherited by the engines and the CLI).
process.env.FAMULUS_KEY_FILE = path.join(scratch, 'keys', 'user.key');
const OTHER_USER_KEY = randomBytes(32);
const VOCAB = 512; // test/fixtures/tiny/config.json

// ---------------------------------------------------------------------------------------------- the layout

/** The parts of a state file (docs in model/state/state-file.ts and container.ts). */
interface Parts {
  header: Record<string, unknown>;
  /** Bytes from the first array to the seal: pending, fam, memK, memV with their padding. */
  arrays: Uint8Array;
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

function parts(bytes: Uint8Array): Parts {
  const b = Buffer.from(bytes);
  const h = b.readUInt32LE(8);
  return { header: JSON.parse(b.subarray(12, 12 + h).toString('utf8')), arrays: b.subarray(align8(12 + h), b.length - 64) };
}

/**
 * A state file from its parts, sealed as a writer would: the MAC under `key` (another user's, this user's, or
 * none: 32 zero bytes), then the SHA-256 of everything before it, so that every file here has a valid checksum.
 * `version: 1` writes the old layout, which had no MAC.
 */
function build(
  p: { header: Record<string, unknown> | string | Buffer; arrays: Uint8Array },
  opts: { key?: Buffer | 'zero'; version?: number; headerLength?: number } = {},
): Buffer {
  const header = Buffer.isBuffer(p.header) ? p.header : Buffer.from(typeof p.header === 'string' ? p.header : JSON.stringify(p.header));
  const prefix = Buffer.alloc(12);
  prefix.write('FAMS', 0, 'latin1');
  prefix.writeUInt32LE(opts.version ?? STATE_FILE_VERSION, 4);
  prefix.writeUInt32LE(opts.headerLength ?? header.length, 8);
  const pad = Buffer.alloc(align8(12 + header.length) - 12 - header.length);
  const body = Buffer.concat([prefix, header, pad, p.arrays]);
  if (opts.version === 1) return Buffer.concat([body, createHash('sha256').update(body).digest()]);
  const key = opts.key ?? readFileSync(userKeyFile());
  const mac = key === 'zero' ? Buffer.alloc(32) : createHmac('sha256', key).update(body).digest();
  const sealed = Buffer.concat([body, mac]);
  return Buffer.concat([sealed, createHash('sha256').update(sealed).digest()]);
}

/** `depth` nested JSON arrays: [[[...]]]. */
const nested = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** The good state with its snapshot changed, written by the real serializer (so sealed with this user's key). */
function edited(good: Uint8Array, change: (s: StateSnapshot) => void): Uint8Array {
  const snap = decodeState(good);
  change(snap);
  return encodeState(snap);
}

/** The good state with its header changed, sealed with this user's key. */
function withHeader(good: Uint8Array, change: (h: Record<string, unknown>) => unknown): Buffer {
  const p = parts(good);
  const header = structuredClone(p.header);
  const replaced = change(header);
  return build({ header: (replaced as Record<string, unknown> | string | undefined) ?? header, arrays: p.arrays });
}

interface Manifest {
  root: string;
  lastUpdate: string;
  files: Array<{ path: string; sha256: string; bytes: number; tokens: number }>;
}
const manifestOf = (h: Record<string, unknown>): Manifest => (h.meta as Record<string, Manifest>)['famulus.workspace']!;

// ---------------------------------------------------------------------------------------------- engine runs

/** Peak resident set size of a live process (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(m[1]) * 1024;
}

interface Run {
  result: WorkspaceResult | null;
  /** The error workspace/open ended with (a refusal), if it did not succeed. */
  error: EngineError | null;
  answered: boolean;
  /** The engine died, or was killed after RUN_DEADLINE_MS of work (a read that never ends). */
  crashed: boolean;
  peak: number;
}

/** Far beyond a run's few seconds: an engine still at work then is stuck (a FIFO read, an endless device). */
const RUN_DEADLINE_MS = 60_000;

/**
 * A fresh engine opens `root` with `memoryDir` (mode 'read'), then answers a question; its peak RSS is read
 * before it exits.
 */
async function run(root: string, memoryDir: string): Promise<Run> {
  const engine: EngineProcess = await tinyEngine();
  const out: Run = { result: null, error: null, answered: false, crashed: false, peak: 0 };
  const deadline = setTimeout(() => engine.child.kill('SIGKILL'), RUN_DEADLINE_MS);
  // Sampled too, for a run that ends in a kill; the last reading below is the one that counts otherwise.
  const sample = setInterval(() => {
    try {
      out.peak = Math.max(out.peak, peakRss(engine.child.pid!));
    } catch {
      // It has exited.
    }
  }, 500);
  try {
    out.result = (await openWorkspace(engine, root, { memoryDir })).result;
    const answer = await engine.stream('engine/ask', { question: 'What does m1.ts export?', options: { maxNewTokens: 4 } }).result;
    out.answered = answer.promptTokens > 0;
  } catch (err) {
    if (!(err instanceof EngineError)) throw err;
    out.error = err;
  }
  clearTimeout(deadline);
  clearInterval(sample);
  out.crashed = await engine.request('engine/status', {}).then(
    () => false,
    () => true,
  );
  if (!out.crashed) out.peak = peakRss(engine.child.pid!);
  await engine.shutdown();
  return out;
}

/** What is wrong with how a run treated a hostile case (empty: rebuilt or refused as it must be). */
function misuse(c: Case, r: Run, file: string, wsFiles: number): string[] {
  if (r.crashed) return [`the engine crashed or hung${r.error ? ` (${r.error.message.slice(0, 200)})` : ''}`];
  if (r.error) return [`open failed: ${r.error.code}: ${r.error.message.slice(0, 200)}`];
  const res = r.result!;
  if (c.group === 'kind') {
    // A path that is not a regular file is neither read nor written: the memory is read from the files and held,
    // answers use it, and the result says why it could not be saved there.
    const wrong: string[] = [];
    if (res.saveProblem === null || !c.says.test(res.saveProblem)) wrong.push(`saveProblem: ${res.saveProblem}`);
    if (res.restored !== null || res.read?.filesIngested !== wsFiles) wrong.push('not read from the files');
    if (!r.answered) wrong.push('no answer from the memory held');
    return wrong;
  }
  const problem = res.restoreProblem;
  if (problem === null) return [`used silently (${res.read?.filesReused ?? 0} files reused, ${res.read?.filesIngested ?? 0} read${r.answered ? '' : ', no answer'})`];
  const wrong: string[] = [];
  if (!problem.startsWith(`the saved memory in ${file} cannot be used: `) || !c.says.test(problem)) wrong.push(`restoreProblem: ${problem}`);
  if (res.restored !== null || res.read?.filesIngested !== wsFiles || res.read.filesReused !== 0) wrong.push('not read again from scratch');
  if (!r.answered) wrong.push('no answer after the rebuild');
  return wrong;
}

// ---------------------------------------------------------------------------------------------- the corpus

interface Case {
  name: string;
  group: 'provenance' | 'content' | 'size' | 'kind';
  /** The state file's bytes; or, for what is not a regular file, how to make it at `file`. */
  bytes?: () => Uint8Array;
  make?: (file: string) => Promise<void>;
  /** What the restoreProblem (or, for a refused path, the error) must say. */
  says: RegExp;
}

describe('EXPECTED FAILURE - a hostile saved state is never used: rebuilt or refused, no crash, bounded memory', () => {
  let ws: string;
  let wsFiles: number;
  let good: Uint8Array;
  let other: Uint8Array;
  const figures: Record<string, unknown> = {};

  before(async () => {
    ws = path.join(scratch, 'ws');
    const otherWs = path.join(scratch, 'other-ws');
    for (let f = 0; f < 6; f++) {
      await fs.mkdir(path.join(ws, `pkg${f % 2}`), { recursive: true });
      await fs.writeFile(path.join(ws, `pkg${f % 2}`, `m${f}.ts`), code(f, 25 + f * 7));
      await fs.mkdir(otherWs, { recursive: true });
      await fs.writeFile(path.join(otherWs, `o${f}.ts`), code(100 + f, 31 + f * 5));
    }
    wsFiles = 6;
    const engine = await tinyEngine();
    try {
      await openWorkspace(engine, ws, { memoryDir: path.join(scratch, 'good') });
      await openWorkspace(engine, otherWs, { memoryDir: path.join(scratch, 'other') });
    } finally {
      await engine.shutdown();
    }
    good = await fs.readFile(stateFileIn(path.join(scratch, 'good')));
    other = await fs.readFile(stateFileIn(path.join(scratch, 'other')));
    assert.ok(decodeState(good).pending.length > 0, 'the good state has a partial block to tamper with');
  });
  after(async () => {
    await writeFigures('state-hardening', figures);
  });

  const cases: Case[] = [
    // Provenance: sound content, but not this user's own.
    { name: 'sealed with another user\'s key', group: 'provenance', bytes: () => build(parts(good), { key: OTHER_USER_KEY }), says: /not this user's own: its MAC does not match the key in/ },
    {
      name: 'another workspace\'s memory relabelled as this one (root, files, token counts), another user\'s key',
      group: 'provenance',
      bytes: () => {
        // Everything a content check could compare agrees: only the MAC tells.
        const p = parts(other);
        const mine = manifestOf(parts(good).header);
        const h = structuredClone(p.header);
        const snap = decodeState(other);
        const tokens = mine.files.reduce((n, x) => n + x.tokens, 0);
        const pending = Int32Array.from({ length: tokens % snap.blockSize }, (_, i) => snap.pending[i % Math.max(1, snap.pending.length)] ?? 5);
        Object.assign(manifestOf(h), { root: mine.root, files: mine.files });
        Object.assign(h, { blocks: Math.floor(tokens / snap.blockSize), pendingCount: pending.length, arrays: { ...(h.arrays as object), pending: pending.byteLength } });
        const rest = p.arrays.subarray(align8(snap.pending.byteLength));
        const arrays = Buffer.concat([Buffer.from(pending.buffer), Buffer.alloc(align8(pending.byteLength) - pending.byteLength), rest]);
        return build({ header: h, arrays }, { key: OTHER_USER_KEY });
      },
      says: /not this user's own/,
    },
    {
      name: 'another workspace\'s memory relabelled (root and files), this user\'s key',
      group: 'provenance',
      bytes: () => {
        const { root, files } = manifestOf(parts(good).header);
        return withHeader(other, (h) => void Object.assign(manifestOf(h), { root, files }));
      },
      says: /its manifest lists \d+ tokens read, its state holds \d+/,
    },
    { name: 'MAC zeroed, checksum recomputed', group: 'provenance', bytes: () => build(parts(good), { key: 'zero' }), says: /not this user's own/ },
    {
      name: 'the old format without a MAC (version 1)',
      group: 'provenance',
      bytes: () => build(parts(good), { version: 1 }),
      says: /state format version 0x00000001, this engine reads version 0x00000002 \(an older engine wrote it\)/,
    },
    { name: 'a future format version', group: 'provenance', bytes: () => build(parts(good), { version: 3 }), says: /format version 0x00000003, .*\(a newer engine wrote it\)/ },
    { name: 'another model id', group: 'provenance', bytes: () => withHeader(good, (h) => void (h.modelId = 'f'.repeat(64))), says: /state was made with model ffffffffffffffff\.\.\., the loaded model is/ },

    // Content: sealed with this user's key; the checks on what is inside must stop them.
    { name: 'NaN in the FAM', group: 'content', bytes: () => edited(good, (s) => void (s.fam[0]![0] = NaN)), says: /invalid contents: fam\[0\]\[0\] is NaN, not a finite number/ },
    { name: 'the whole FAM NaN', group: 'content', bytes: () => edited(good, (s) => s.fam.forEach((a) => a.fill(NaN))), says: /fam\[0\]\[0\] is NaN/ },
    { name: '+Inf in the memory ring (K)', group: 'content', bytes: () => edited(good, (s) => void (s.memK[1]![5] = Infinity)), says: /memK\[1\]\[5\] is Infinity, not a finite number/ },
    { name: '-Inf in the memory ring (V)', group: 'content', bytes: () => edited(good, (s) => void (s.memV[0]![3] = -Infinity)), says: /memV\[0\]\[3\] is -Infinity/ },
    { name: 'token id = vocabulary size', group: 'content', bytes: () => edited(good, (s) => void (s.pending[0] = VOCAB)), says: /pending\[0\] is token id 512, outside the vocabulary \(0\.\.511\)/ },
    { name: 'token id 100000', group: 'content', bytes: () => edited(good, (s) => s.pending.fill(100000)), says: /is token id 100000, outside the vocabulary/ },
    { name: 'negative token id', group: 'content', bytes: () => edited(good, (s) => void (s.pending[0] = -1)), says: /pending\[0\] is token id -1/ },
    { name: 'negative block count', group: 'content', bytes: () => withHeader(good, (h) => void (h.blocks = -1)), says: /header: blocks is -1/ },
    { name: 'negative pending count', group: 'content', bytes: () => withHeader(good, (h) => void (h.pendingCount = -4)), says: /header: pendingCount is -4/ },
    {
      name: 'pending count inconsistent with its array',
      group: 'content',
      bytes: () => withHeader(good, (h) => void (h.pendingCount = (h.pendingCount as number) + 1)),
      says: /header: arrays\.pending is \d+, pendingCount gives \d+/,
    },
    {
      name: 'arrays truncated, seal recomputed',
      group: 'content',
      bytes: () => build({ ...parts(good), arrays: parts(good).arrays.subarray(0, parts(good).arrays.length - 256) }),
      says: /\d+ bytes, the header describes \d+/,
    },
    { name: 'block count past any position', group: 'content', bytes: () => withHeader(good, (h) => void (h.blocks = 2 ** 52)), says: /is past any position/ },
    {
      name: 'manifest: negative token count',
      group: 'content',
      bytes: () => withHeader(good, (h) => void (manifestOf(h).files[0]!.tokens = -5)),
      says: /manifest\.files\[0\]\.tokens/,
    },
    {
      name: 'manifest: token counts that do not add up to the state',
      group: 'content',
      bytes: () => withHeader(good, (h) => void (manifestOf(h).files[1]!.tokens += 7)),
      says: /its manifest lists \d+ tokens read, its state holds \d+/,
    },
    { name: 'header: valid JSON, a dimension as a string', group: 'content', bytes: () => withHeader(good, (h) => void (h.layers = String(h.layers))), says: /header: layers is "2"/ },
    { name: 'header: null', group: 'content', bytes: () => withHeader(good, () => 'null'), says: /header: not an object/ },
    { name: 'header: dtype bfloat16', group: 'content', bytes: () => withHeader(good, (h) => void (h.dtype = 'bfloat16')), says: /header: dtype "bfloat16"/ },
    { name: 'header: meta is an array', group: 'content', bytes: () => withHeader(good, (h) => void (h.meta = [])), says: /header: meta is not an object/ },
    { name: 'header: no manifest', group: 'content', bytes: () => withHeader(good, (h) => void (h.meta = {})), says: /manifest/ },
    {
      name: 'header: invalid UTF-8',
      group: 'content',
      bytes: () => withHeader(good, (h) => Buffer.from(JSON.stringify(h).replace('"famulus.workspace"', '"famulus.workspac\u00ff"'), 'latin1')),
      says: /header is not valid JSON/,
    },
    {
      name: 'dimensions consistent in the file but not the model\'s (famLength 2)',
      group: 'content',
      bytes: () =>
        edited(good, (s) => {
          s.famLength = 2;
          s.fam = s.fam.map((a) => a.slice(0, 2 * s.hiddenSize));
        }),
      says: /state has famLength=2, the model needs 4/,
    },

    // Size: refused before the header is parsed.
    {
      name: 'header length field 0xfffffff0',
      group: 'size',
      bytes: () => build(parts(good), { headerLength: 0xfffffff0 }),
      says: /header of 4294967280 bytes, more than the 16777216 a state file may have/,
    },
    { name: '40 MB nested-JSON header', group: 'size', bytes: () => build({ ...parts(good), header: nested(20 << 20) }), says: /header of 41943040 bytes, more than the 16777216/ },
    { name: '8 MB nested-JSON header (under the size cap)', group: 'size', bytes: () => build({ ...parts(good), header: nested(4 << 20) }), says: /header: nested deeper than 32 levels/ },
    {
      name: '15 MB header of five million empty objects (under the size cap)',
      group: 'size',
      bytes: () => withHeader(good, (h) => JSON.stringify(h).replace('"meta":{', `"meta":{"x":[${'{},'.repeat(5_000_000)}{}],`)),
      says: /header: more than 1048576 JSON values/,
    },
    {
      name: '17 MB header of plain text (over the size cap)',
      group: 'size',
      bytes: () => withHeader(good, (h) => void ((h.meta as Record<string, unknown>).note = 'x'.repeat(17 << 20))),
      says: /more than the 16777216 a state file may have/,
    },
  ];

  const kinds: Case[] = [
    {
      name: 'state.fams is a link to a copy of /dev/zero (a FIFO as non-root)',
      group: 'kind',
      make: async (f) => {
        const target = path.join(path.dirname(f), 'zero');
        const made = process.getuid?.() === 0 ? spawnSync('mknod', [target, 'c', '1', '5']) : spawnSync('mkfifo', [target]);
        assert.equal(made.status, 0);
        await fs.symlink(target, f);
      },
      says: /state\.fams is a symbolic link \(to .*zero\), not a regular file/,
    },
    {
      name: 'state.fams is a FIFO',
      group: 'kind',
      make: async (f) => void assert.equal(spawnSync('mkfifo', [f]).status, 0),
      says: /state\.fams is a FIFO, not a regular file/,
    },
  ];

  it(`a corpus of ${cases.length + kinds.length} hostile states: every one rebuilt or refused, no crash, peak RSS under 2x normal`, async () => {
    // Normal work of the same engine on the same workspace: a read from scratch, and a restore of the good state.
    const fresh = await run(ws, path.join(scratch, 'normal-fresh'));
    const restoreDir = path.join(scratch, 'normal-restore');
    await fs.mkdir(restoreDir);
    await fs.writeFile(stateFileIn(restoreDir), good);
    const restore = await run(ws, restoreDir);
    assert.equal(fresh.result?.read?.filesIngested, wsFiles);
    assert.ok(restore.result?.restored, `the good state restores: ${restore.result?.restoreProblem}`);
    const normal = Math.max(fresh.peak, restore.peak);

    // Two engines at a time (peak RSS is per process, so unaffected), in case order.
    const all = [...cases, ...kinds];
    const outcomes: Array<{ name: string; group: string; outcome: string; peakMB: number; says: string }> = new Array(all.length);
    const failures: string[][] = all.map(() => []);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < all.length; i = next++) {
        const c = all[i]!;
        const memoryDir = path.join(scratch, `case-${i}`);
        await fs.mkdir(memoryDir);
        const file = stateFileIn(memoryDir);
        if (c.bytes) await fs.writeFile(file, c.bytes());
        else await c.make!(file);
        const r = await run(ws, memoryDir);
        const wrong = misuse(c, r, file, wsFiles);
        if (wrong.length === 0 && r.result && c.group !== 'kind') {
          // The rebuilt memory is sound: a later open restores it.
          await readStateFile(file, undefined, VOCAB).catch((e: Error) => wrong.push(`the rebuilt state: ${e.message}`));
        }
        if (r.peak >= 2 * normal) wrong.push(`peak RSS ${(r.peak / 2 ** 20).toFixed(1)} MB, normal ${(normal / 2 ** 20).toFixed(1)} MB`);
        failures[i] = wrong.map((w) => `${c.name}: ${w}`);
        const says = r.error?.message ?? r.result?.saveProblem ?? r.result?.restoreProblem ?? '';
        const outcome = wrong.length > 0 ? 'WRONG' : r.result?.saveProblem ? 'not saved there' : 'rebuilt';
        outcomes[i] = { name: c.name, group: c.group, outcome, peakMB: +(r.peak / 2 ** 20).toFixed(1), says: says.split(scratch).join('<tmp>') };
      }
    };
    await Promise.all([worker(), worker()]);
    const wrong = failures.flat();
    assert.deepEqual(wrong, [], `${failures.filter((f) => f.length > 0).length} of ${all.length} cases were not rebuilt or refused as they must be`);
    assert.ok(outcomes.length >= 20);
    const worst = outcomes.reduce((a, b) => (b.peakMB > a.peakMB ? b : a));
    Object.assign(figures, {
      corpus: outcomes.length,
      rebuilt: outcomes.filter((o) => o.outcome === 'rebuilt').length,
      notSaved: outcomes.filter((o) => o.outcome === 'not saved there').length,
      crashes: 0,
      silentUses: 0,
      normalPeakMB: { freshRead: +(fresh.peak / 2 ** 20).toFixed(1), restore: +(restore.peak / 2 ** 20).toFixed(1) },
      hostilePeakMB: { max: worst.peakMB, case: worst.name },
      outcomes,
    });
  });

  it('the CLI: a memory committed into the workspace by someone else is noted and read again, not used', async () => {
    // The issue's case: another workspace's memory relabelled as this one and shipped in <ws>/.famulus/.
    const memoryDir = path.join(ws, '.famulus');
    await fs.mkdir(memoryDir, { recursive: true });
    try {
      await fs.writeFile(stateFileIn(memoryDir), cases[1]!.bytes!());
      const cli = spawn(process.execPath, [CLI, 'ask', ws, 'What does m1.ts export?', '--json', '--device', 'cpu', '--model', TINY, '--max-tokens', '4'], { cwd: REPO });
      let stdout = '';
      let stderr = '';
      cli.stdout.on('data', (d) => (stdout += d));
      cli.stderr.on('data', (d) => (stderr += d));
      const status = await new Promise((resolve) => cli.once('exit', resolve));
      assert.equal(status, 0, stderr);
      assert.ok(stderr.includes(`the saved memory in ${stateFileIn(memoryDir)} cannot be used: `), stderr);
      assert.match(stderr, /not this user's own/);
      const report = JSON.parse(stdout) as { ingest: { filesIngested: number } };
      assert.equal(report.ingest.filesIngested, wsFiles, 'every file read again');
      figures.cliNote = stderr.split('\n').find((l) => l.includes('cannot be used'))?.split(scratch).join('<tmp>');
    } finally {
      await fs.rm(memoryDir, { recursive: true, force: true });
    }
  });
});

describe('EXPECTED FAILURE - the index file shares the seal and the bounds', () => {
  const meta: IndexMeta = { modelId: 'a'.repeat(64), walkerKey: 'k', root: '/ws' };
  const body: IndexBody = { files: [{ path: 'a.ts', sha256: 's', lines: 3, language: 'typescript', definitions: [['f', 'f', 'function', 1, 2, '']], chunks: [[1, 3, 'code', -1]] }] };

  /** An index file from its header and compressed body, sealed under `key` as a writer would. */
  function indexFile(header: Record<string, unknown>, compressed: Buffer, key: Buffer = readFileSync(userKeyFile())): Buffer {
    const h = Buffer.from(JSON.stringify({ ...header, bodyBytes: compressed.length }));
    const prefix = Buffer.alloc(12);
    prefix.write('FAMI', 0, 'latin1');
    prefix.writeUInt32LE(INDEX_FORMAT_VERSION, 4);
    prefix.writeUInt32LE(h.length, 8);
    const withMac = Buffer.concat([prefix, h, compressed]);
    const sealed = Buffer.concat([withMac, createHmac('sha256', key).update(withMac).digest()]);
    return Buffer.concat([sealed, createHash('sha256').update(sealed).digest()]);
  }
  const goodHeader = (): Record<string, unknown> => {
    const b = Buffer.from(encodeIndexFile(meta, body));
    return JSON.parse(b.subarray(12, 12 + b.readUInt32LE(8)).toString('utf8'));
  };
  const refused = (reason: string, says: RegExp) => (e: unknown) => {
    assert.ok(e instanceof IndexFileError, String(e));
    assert.equal(e.reason, reason, e.message);
    assert.match(e.message, says);
    return true;
  };

  it('a good index decodes; another user\'s is untrusted', () => {
    assert.deepEqual(decodeIndexFile(indexFile(goodHeader(), deflateRawSync(JSON.stringify(body))), meta), body);
    assert.throws(() => decodeIndexFile(indexFile(goodHeader(), deflateRawSync(JSON.stringify(body)), OTHER_USER_KEY), meta), refused('untrusted', /not this user's own/));
  });

  it('a 40 MB nested header, a body that inflates 1000-fold, a nested body, counts that disagree with the body', () => {
    const deepHeader = Buffer.from(nested(20 << 20));
    const prefix = Buffer.alloc(12);
    prefix.write('FAMI', 0, 'latin1');
    prefix.writeUInt32LE(INDEX_FORMAT_VERSION, 4);
    prefix.writeUInt32LE(deepHeader.length, 8);
    assert.throws(() => decodeIndexFile(Buffer.concat([prefix, deepHeader, Buffer.alloc(64)]), meta), refused('corrupt', /header of 41943040 bytes, more than the 16777216/));

    const bomb = deflateRawSync(`{"files":[${' '.repeat(64 << 20)}]}`);
    assert.throws(() => decodeIndexFile(indexFile({ ...goodHeader(), files: 0, definitions: 0, chunks: 0 }, bomb), meta), refused('too-large', /body cannot be inflated/));

    // Random text keeps the deflated body large enough that only its shape is wrong, not its inflation.
    const deep = deflateRawSync(`{"files":[{"path":"a.ts","pad":"${randomBytes(4096).toString('hex')}","x":${'['.repeat(10_000)}${']'.repeat(10_000)}}]}`);
    assert.throws(() => decodeIndexFile(indexFile(goodHeader(), deep), meta), refused('corrupt', /body: nested deeper than 8 levels/));

    const more = { files: [...body.files, { ...body.files[0]!, path: 'b.ts' }] };
    const miscounted = indexFile(goodHeader(), deflateRawSync(JSON.stringify(more)));
    assert.throws(() => decodeIndexFile(miscounted, meta), refused('corrupt', /body: 2 files, 2 definitions, 2 chunks; the header counts 1, 1, 1/));
  });

  it('a link or a FIFO at the index path is not read', async () => {
    const dir = path.join(scratch, 'index-kinds');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'real.fidx'), encodeIndexFile(meta, body));
    await fs.symlink(path.join(dir, 'real.fidx'), path.join(dir, 'link.fidx'));
    await assert.rejects(readIndexFile(path.join(dir, 'link.fidx'), meta), refused('not-regular', /link\.fidx is a symbolic link \(to .*real\.fidx\), not a regular file/));
    assert.equal(spawnSync('mkfifo', [path.join(dir, 'fifo.fidx')]).status, 0);
    await assert.rejects(readIndexFile(path.join(dir, 'fifo.fidx'), meta), refused('not-regular', /fifo\.fidx is a FIFO/));
  });
});

describe('the per-user key', () => {
  it('is 32 random bytes, mode 0600, where FAMULUS_KEY_FILE says; engines starting at once agree on one key', async () => {
    const file = path.join(scratch, 'race', 'state.key');
    const script = `process.stdout.write(require(${JSON.stringify(path.join(REPO, 'model/state/user-key'))}).userKey().toString('hex'))`;
    const keys = await Promise.all(
      Array.from({ length: 4 }, () => {
        const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { cwd: REPO, env: { ...process.env, FAMULUS_KEY_FILE: file } });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        return new Promise<string>((resolve) => child.once('exit', () => resolve(out)));
      }),
    );
    assert.match(keys[0]!, /^[0-9a-f]{64}$/);
    assert.deepEqual(new Set(keys).size, 1, `one key: ${keys.join(' ')}`);
    const st = await fs.stat(file);
    assert.equal(st.mode & 0o777, 0o600);
    assert.deepEqual(await fs.readdir(path.dirname(file)), ['state.key'], 'no temporary left');
  });

  it('EXPECTED FAILURE - a key file that is not 32 bytes is refused by name, and nothing is sealed with it', async () => {
    const file = path.join(scratch, 'bad', 'state.key');
    await fs.mkdir(path.dirname(file));
    await fs.writeFile(file, 'short');
    const saved = process.env.FAMULUS_KEY_FILE;
    process.env.FAMULUS_KEY_FILE = file;
    try {
      assert.throws(() => encodeState(tinySnapshot()), new RegExp(`the per-user key ${file} cannot be used \\(not a regular file of 32 bytes\\)`));
    } finally {
      process.env.FAMULUS_KEY_FILE = saved;
    }
  });
});

/** A minimal consistent snapshot (what it holds does not matter to the key). */
function tinySnapshot(): StateSnapshot {
  return {
    modelId: 'a'.repeat(64), dtype: 'float32', layers: 1, famLength: 1, hiddenSize: 4, memSlots: 0, kvDim: 4, blockSize: 4, blocks: 0,
    pending: new Int32Array(0), fam: [new Float32Array(4)], memK: [new Float32Array(0)], memV: [new Float32Array(0)], meta: {},
  };
}

after(() => rmSync(scratch, { recursive: true, force: true }));
