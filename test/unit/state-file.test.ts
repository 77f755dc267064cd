import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it, mock } from 'node:test';
import {
  STATE_FILE_VERSION,
  StateFileError,
  type StateFileErrorReason,
  type StateSnapshot,
  copySnapshot,
  decodeState,
  encodeState,
  encodedStateSize,
  readStateFile,
  removeStaleTempFiles,
  tokenCount,
  writeStateFile,
} from '../../model/state';
import { randomValues, tempDir } from './loader-fixtures';

const MODEL = 'a'.repeat(64);

/** A snapshot with distinct values everywhere: L=3, F=4, D=8, m*B=2*8, G*d=4. */
function snapshot(dtype: StateSnapshot['dtype'] = 'float32', over: Partial<StateSnapshot> = {}): StateSnapshot {
  const L = 3;
  // Half bits with bit 10 clear: never an Inf or NaN pattern, which a reader refuses.
  const arr = (n: number, seed: number): Float32Array | Uint16Array =>
    dtype === 'float32' ? randomValues(n, seed) : Uint16Array.from(randomValues(n, seed), (v) => Math.floor((v + 0.1) * 300000) & 0xfbff);
  return {
    modelId: MODEL,
    dtype,
    layers: L,
    famLength: 4,
    hiddenSize: 8,
    memSlots: 16,
    kvDim: 4,
    blockSize: 8,
    blocks: 5,
    pending: Int32Array.of(11, 12, 13),
    fam: Array.from({ length: L }, (_, l) => arr(32, 10 + l)),
    memK: Array.from({ length: L }, (_, l) => arr(64, 20 + l)),
    memV: Array.from({ length: L }, (_, l) => arr(64, 30 + l)),
    meta: { files: [{ path: 'src/a.ts', sha: 'x' }], note: 'é🦙' },
    ...over,
  };
}

function assertSameSnapshot(actual: StateSnapshot, expected: StateSnapshot): void {
  const plain = (s: StateSnapshot) => ({
    ...s,
    pending: Array.from(s.pending),
    fam: s.fam.map((a) => [a.constructor.name, Array.from(a)]),
    memK: s.memK.map((a) => [a.constructor.name, Array.from(a)]),
    memV: s.memV.map((a) => [a.constructor.name, Array.from(a)]),
  });
  assert.deepEqual(plain(actual), plain(expected));
}

/** Asserts a StateFileError with the given reason whose message matches and tells the user to re-ingest. */
function isStateError(reason: StateFileErrorReason, pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof StateFileError, `expected StateFileError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    assert.match(e.message, pattern);
    assert.match(e.message, reason === 'not-found' ? /ingest the workspace/ : /re-ingest the workspace/);
    return true;
  };
}

describe('UnitTests - state snapshot and state file', () => {
  it('encode -> decode round trip, float32 and float16, with the byte layout of the file comment', () => {
    for (const dtype of ['float32', 'float16'] as const) {
      const snap = snapshot(dtype);
      const bytes = encodeState(snap);
      assert.equal(bytes.length, encodedStateSize(snap));
      assert.equal(new TextDecoder().decode(bytes.subarray(0, 4)), 'FAMS');
      const dv = new DataView(bytes.buffer);
      assert.equal(dv.getUint32(4, true), STATE_FILE_VERSION);
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + dv.getUint32(8, true))));
      assert.equal(header.modelId, MODEL);
      assert.equal(header.pendingCount, 3);
      assert.match(header.engineVersion, /^\d+\.\d+\.\d+/);
      assert.deepEqual(header.arrays.fam, [32, 32, 32].map((n) => n * (dtype === 'float32' ? 4 : 2)));
      const back = decodeState(bytes, MODEL);
      assertSameSnapshot(back, snap);
      assert.equal(tokenCount(back), 5 * 8 + 3);
    }
  });

  it('m = 0 and F = 0 (empty arrays) round-trip too', () => {
    const snap = snapshot('float32', { memSlots: 0, famLength: 0, fam: [new Float32Array(0), new Float32Array(0), new Float32Array(0)], memK: [0, 1, 2].map(() => new Float32Array(0)), memV: [0, 1, 2].map(() => new Float32Array(0)), pending: new Int32Array(0), blocks: 0 });
    assertSameSnapshot(decodeState(encodeState(snap)), snap);
    assert.equal(tokenCount(snap), 0);
  });

  it('decodeState copies: the result does not change when the bytes do, and works from a misaligned buffer', () => {
    const snap = snapshot();
    const bytes = encodeState(snap);
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const back = decodeState(shifted.subarray(3));
    assertSameSnapshot(back, snap);
    shifted.fill(0);
    assertSameSnapshot(back, snap);
    // The same from a Node Buffer (whose slice() would not copy) at an odd offset.
    const buf = Buffer.alloc(bytes.length + 1);
    buf.set(bytes, 1);
    const fromBuffer = decodeState(buf.subarray(1));
    buf.fill(0);
    assertSameSnapshot(fromBuffer, snap);
  });

  it('copySnapshot shares no memory with the original', () => {
    const snap = snapshot();
    const copy = copySnapshot(snap);
    assertSameSnapshot(copy, snap);
    copy.fam[0]![0] = 42;
    copy.memK[2]![5] = 42;
    copy.pending[0] = 42;
    (copy.meta.files as { path: string }[])[0]!.path = 'changed';
    assert.notEqual(snap.fam[0]![0], 42);
    assert.notEqual(snap.memK[2]![5], 42);
    assert.equal(snap.pending[0], 11);
    assert.equal((snap.meta.files as { path: string }[])[0]!.path, 'src/a.ts');
  });

  it('writeStateFile -> readStateFile round trip, replacing an older file, no temporary file left', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'state.fams');
    await writeStateFile(file, snapshot('float16', { blocks: 1 }));
    await writeStateFile(file, snapshot('float16'));
    assertSameSnapshot(await readStateFile(file, MODEL), snapshot('float16'));
    assert.deepEqual(fs.readdirSync(dir), ['state.fams']);
  });

  it('EXPECTED FAILURE - no file', async () => {
    await assert.rejects(readStateFile(path.join(tempDir(), 'none.fams')), isStateError('not-found', /no saved state there/));
  });

  it('EXPECTED FAILURE - truncated file, at every kind of cut', async () => {
    const bytes = encodeState(snapshot());
    const file = path.join(tempDir(), 's.fams');
    for (const keep of [0, 3, 11, 40, 200, bytes.length - 100, bytes.length - 1]) {
      fs.writeFileSync(file, bytes.subarray(0, keep));
      await assert.rejects(readStateFile(file), isStateError('truncated', /bytes/), `cut at ${keep}`);
    }
  });

  it('EXPECTED FAILURE - one flipped bit in the data, the header or the checksum', () => {
    const bytes = encodeState(snapshot());
    const headerLen = new DataView(bytes.buffer).getUint32(8, true);
    const flip = (at: number, bit: number): Uint8Array => {
      const b = bytes.slice();
      b[at]! ^= 1 << bit;
      return b;
    };
    assert.throws(() => decodeState(flip(bytes.length - 100, 3)), isStateError('corrupt', /checksum mismatch/));
    assert.throws(() => decodeState(flip(bytes.length - 1, 0)), isStateError('corrupt', /checksum mismatch/));
    // In the meta text of the header: still valid JSON, only the checksum can tell.
    const metaAt = new TextDecoder().decode(bytes.subarray(12, 12 + headerLen)).indexOf('src/a.ts') + 12;
    assert.throws(() => decodeState(flip(metaAt, 0)), isStateError('corrupt', /checksum mismatch/));
    // A header that no longer parses.
    assert.throws(() => decodeState(flip(12, 1)), isStateError('corrupt', /header is not valid JSON/));
  });

  it('EXPECTED FAILURE - not a state file: magic shown in hex', () => {
    const bytes = encodeState(snapshot());
    bytes.set(new TextEncoder().encode('GGUF'), 0);
    assert.throws(() => decodeState(bytes), isStateError('bad-magic', /magic is 0x47475546, expected 0x46414d53 \('FAMS'\)/));
    assert.throws(() => decodeState(new TextEncoder().encode('{"json": true}')), isStateError('bad-magic', /not a Famulus state file/));
  });

  it('EXPECTED FAILURE - another format version: both versions shown in hex', () => {
    const bytes = encodeState(snapshot());
    new DataView(bytes.buffer).setUint32(4, 0x102, true);
    assert.throws(() => decodeState(bytes), isStateError('version', /state format version 0x00000102, this engine reads version 0x00000002/));
  });

  it('EXPECTED FAILURE - a state made with another model', async () => {
    const file = path.join(tempDir(), 's.fams');
    await writeStateFile(file, snapshot());
    await assert.rejects(readStateFile(file, 'b'.repeat(64)), isStateError('model-mismatch', /state was made with model aaaaaaaaaaaaaaaa\.\.\., the loaded model is bbbbbbbbbbbbbbbb\.\.\./));
  });

  it('EXPECTED FAILURE - a self-consistent file whose header disagrees with its dimensions', () => {
    // Re-encode by hand: header says fam arrays are 8 bytes shorter than the dims give, checksum recomputed.
    const snap = snapshot();
    const bytes = encodeState(snap);
    const dv = new DataView(bytes.buffer);
    const headerLen = dv.getUint32(8, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLen)));
    header.hiddenSize = 9;
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(bytes.length - headerLen + json.length);
    out.set(bytes.subarray(0, 12));
    new DataView(out.buffer).setUint32(8, json.length, true);
    out.set(json, 12);
    assert.throws(() => decodeState(out), isStateError('corrupt', /arrays\.fam is \[128,128,128\], the dimensions give 3 x 144 bytes/));
  });

  it('atomic write: when the rename never happens the previous file stays whole and no temporary is left', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'state.fams');
    const old = snapshot('float32', { blocks: 1 });
    await writeStateFile(file, old);
    const before = fs.readFileSync(file);
    const rename = mock.method(fs.promises, 'rename', async () => {
      throw Object.assign(new Error('simulated crash before rename'), { code: 'EIO' });
    });
    try {
      await assert.rejects(writeStateFile(file, snapshot('float32', { blocks: 9 })), /simulated crash before rename/);
      assert.equal(rename.mock.callCount(), 1);
    } finally {
      rename.mock.restore();
    }
    assert.deepEqual(fs.readFileSync(file), before);
    assert.equal((await readStateFile(file, MODEL)).blocks, 1);
    assert.deepEqual(fs.readdirSync(dir), ['state.fams']);
  });

  it('atomic write: a writer process killed (SIGKILL) after writing, before the rename, leaves the previous file whole', async () => {
    // The child's first fsync (of the temporary file, which it has fully written) kills the child: the moment
    // a crash would hurt most, made deterministic.
    const dir = tempDir();
    const file = path.join(dir, 'state.fams');
    await writeStateFile(file, snapshot('float32', { blocks: 1 }));
    const before = fs.readFileSync(file);
    const script = `
      const fsp = require('node:fs').promises;
      const open = fsp.open;
      fsp.open = async (...args) => {
        const fh = await open(...args);
        fh.sync = async () => process.kill(process.pid, 'SIGKILL');
        return fh;
      };
      const { writeStateFile } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'model', 'state'))});
      writeStateFile(${JSON.stringify(file)}, { modelId: 'x', dtype: 'float32', layers: 1, famLength: 1, hiddenSize: 4,
        memSlots: 0, kvDim: 4, blockSize: 4, blocks: 7, pending: new Int32Array(0), fam: [new Float32Array(4)],
        memK: [new Float32Array(0)], memV: [new Float32Array(0)], meta: {} });`;
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: 'ignore', cwd: path.join(__dirname, '..', '..') });
    const signal = await new Promise((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
    assert.equal(signal, 'SIGKILL', 'the writer died at its fsync');
    const left = fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'));
    assert.equal(left.length, 1, 'the dead writer left its temporary file');
    assert.equal(fs.statSync(path.join(dir, left[0]!)).size > 0, true);
    assert.deepEqual(fs.readFileSync(file), before, 'the previous state file is unchanged');
    assert.equal((await readStateFile(file, MODEL)).blocks, 1);

    // The next write removes what the dead writer left, and keeps the temporary of a live process.
    const live = `.state.fams.${process.ppid}.0123456789ab.tmp`;
    fs.writeFileSync(path.join(dir, live), 'a live writer is still at it');
    fs.writeFileSync(path.join(dir, 'unrelated.tmp'), 'not ours');
    await writeStateFile(file, snapshot('float32', { blocks: 2 }));
    assert.deepEqual(fs.readdirSync(dir).sort(), [live, 'state.fams', 'unrelated.tmp'].sort());
    assert.equal((await readStateFile(file, MODEL)).blocks, 2);
  });

  it('removeStaleTempFiles: only temporaries of this file whose process is gone', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'state.fams');
    const { spawnSync } = await import('node:child_process');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // exited: its pid names no process (barring reuse)
    const names = [
      `.state.fams.${dead}.a1b2c3d4e5f6.tmp`,
      `.state.fams.${process.pid}.a1b2c3d4e5f6.tmp`,
      `.other.fams.${dead}.a1b2c3d4e5f6.tmp`,
      `.state.fams.${dead}.not-hex.tmp`,
    ];
    for (const n of names) fs.writeFileSync(path.join(dir, n), 'x');
    assert.deepEqual(await removeStaleTempFiles(file), [names[0]]);
    assert.deepEqual(fs.readdirSync(dir).sort(), names.slice(1).sort());
    assert.deepEqual(await removeStaleTempFiles(path.join(dir, 'missing-dir', 'state.fams')), []);
  });

  it('BAD CALL - encodeState of an inconsistent snapshot lists the problems', () => {
    assert.throws(
      () => encodeState(snapshot('float32', { pending: new Int32Array(8), memSlots: 12 })),
      (e: unknown) =>
        e instanceof RangeError &&
        /memSlots 12 is not a multiple of blockSize 8/.test(e.message) &&
        /pending holds 8 tokens, a partial block holds fewer than blockSize 8/.test(e.message) &&
        /memK\[0\] has 64 values, dims give 48/.test(e.message),
    );
    assert.throws(() => encodeState(snapshot('float16', { fam: snapshot('float32').fam })), /fam\[0\] must be a Uint16Array for dtype float16/);
    assert.throws(() => encodeState(snapshot('float32', { layers: 2 })), /fam must hold one array per layer \(2\), got 3/);
    assert.throws(() => encodeState(snapshot('float32', { meta: { big: 1n } })), (e: unknown) => e instanceof TypeError && /meta is not JSON-serialisable/.test(e.message));
  });
});
