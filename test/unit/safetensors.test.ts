import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  ModelFileError,
  WeightTensor,
  parseSafetensors,
  readCheckpointDir,
  readSafetensors,
  readSafetensorsIndex,
  toHalfBits,
  writeSafetensors,
} from '../../model/loader';
import { fromBf16Bits } from '../../model/loader/half';
import { tempDir } from './loader-fixtures';

/** A safetensors file made by hand: header object as given, `data` bytes after it, `pad` extra header spaces. */
function rawFile(header: unknown, data: Uint8Array, pad = 0): Uint8Array {
  const json = Buffer.from(JSON.stringify(header) + ' '.repeat(pad), 'utf8');
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function assertBadFile(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => parseSafetensors(bytes, 'bad.safetensors'),
    (e: unknown) => e instanceof ModelFileError && /^bad\.safetensors: not a valid safetensors file: /.test(e.message) && pattern.test(e.message),
  );
}

describe('UnitTests - safetensors', () => {
  it('round trip: F32, F16 and BF16 tensors, metadata, 8-byte aligned data, views not copies', () => {
    const dir = tempDir();
    const file = path.join(dir, 'a.safetensors');
    const a = Float32Array.of(1, -2.5, 3.25, 0.1, 65520, 1e-8);
    writeSafetensors(
      file,
      [
        ['a', { dtype: 'F32', shape: [2, 3], data: a }],
        ['h', { dtype: 'F16', shape: [6], data: a }],
        ['b', { dtype: 'BF16', shape: [3, 2], data: a }],
        ['bits', { dtype: 'F16', shape: [2], data: Uint16Array.of(0x3c00, 0xfc00) }],
        ['scalar', { dtype: 'F32', shape: [], data: Float32Array.of(7) }],
        ['empty', { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }],
      ],
      { format: 'pt' },
    );
    const raw = fs.readFileSync(file);
    assert.equal(Number(raw.readBigUInt64LE(0)) % 8, 0, 'header padded so the data start 8-byte aligned');

    const set = readSafetensors(file);
    assert.deepEqual(set.metadata, { format: 'pt' });
    assert.deepEqual([...set.tensors.keys()], ['a', 'h', 'b', 'bits', 'scalar', 'empty']);
    const t = set.tensors.get('a')!;
    assert.deepEqual([t.dtype, t.shape, t.size], ['F32', [2, 3], 6]);
    const f = t.toFloat32();
    assert.deepEqual(Array.from(f), Array.from(a));
    assert.equal(f.buffer, set.files[0]!.bytes.buffer, 'aligned F32 is a view of the file buffer');

    const h = set.tensors.get('h')!;
    assert.deepEqual(Array.from(h.toFloat16Bits()), Array.from(a, (v) => toHalfBits(v)));
    assert.equal(h.toFloat16Bits().buffer, set.files[0]!.bytes.buffer, 'aligned F16 bits are a view too');
    assert.equal(h.toFloat32()[4], Infinity, '65520 rounds to Inf in fp16');

    const b = set.tensors.get('b')!.toFloat32();
    assert.equal(b[0], 1);
    assert.equal(b[2], 3.25);
    assert.equal(b[3], fromBf16Bits(0x3dcd), '0.1 rounds to the nearest bf16');
    assert.deepEqual(Array.from(set.tensors.get('b')!.toFloat16Bits().subarray(0, 3)), [0x3c00, 0xc100, 0x4280]);

    assert.deepEqual(Array.from(set.tensors.get('bits')!.toFloat32()), [1, -Infinity]);
    assert.deepEqual(Array.from(set.tensors.get('scalar')!.toFloat32()), [7]);
    assert.equal(set.tensors.get('empty')!.toFloat32().length, 0);
    assert.deepEqual(Array.from(set.tensors.get('a')!.toFloat16Bits()), Array.from(a, (v) => toHalfBits(v)));
  });

  it('integer tensors (token ids in fixtures): I32 and I64 read as numbers, also misaligned', () => {
    const dir = tempDir();
    const file = path.join(dir, 'ids.safetensors');
    writeSafetensors(file, [
      ['b', { dtype: 'F16', shape: [1], data: Float32Array.of(1) }], // 2 bytes: what follows is misaligned
      ['ids64', { dtype: 'I64', shape: [3], data: BigInt64Array.of(0n, 511n, -7n) }],
      ['ids32', { dtype: 'I32', shape: [2], data: Int32Array.of(16, 1 << 24) }],
    ]);
    const set = readSafetensors(file);
    const t64 = set.tensors.get('ids64')!;
    assert.notEqual(t64.bytes.byteOffset % 8, 0);
    assert.deepEqual(Array.from(t64.toFloat32()), [0, 511, -7]);
    assert.deepEqual(Array.from(set.tensors.get('ids32')!.toFloat32()), [16, 1 << 24]);
    assert.deepEqual(Array.from(set.tensors.get('ids32')!.toFloat16Bits()), [0x4c00, 0x7c00]);
  });

  it('misaligned F32 data (odd header length) are copied, not viewed', () => {
    const data = new Uint8Array(Float32Array.of(1.5, -2).buffer);
    const header = { x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    const bytes = rawFile(header, data, (4 + 2 - (JSON.stringify(header).length % 4)) % 4); // data start = 2 mod 4
    const buf = new Uint8Array(bytes.length + 1);
    buf.set(bytes, 1); // and the whole file at an odd offset of its buffer
    for (const b of [bytes, buf.subarray(1)]) {
      const t = parseSafetensors(b, 'm.safetensors').tensors.get('x')!;
      assert.notEqual(t.bytes.byteOffset % 4, 0);
      assert.deepEqual(Array.from(t.toFloat32()), [1.5, -2]);
    }
  });

  it('WeightTensor converts F16 data at an odd offset', () => {
    const buf = new Uint8Array(5);
    buf.set(new Uint8Array(Uint16Array.of(0x3c00, 0xc000).buffer), 1);
    const t = new WeightTensor('F16', [2], buf.subarray(1));
    assert.deepEqual(Array.from(t.toFloat32()), [1, -2]);
  });

  it('sharded checkpoint: index + shards read into one table, files sorted', () => {
    const dir = tempDir();
    writeSafetensors(path.join(dir, 'model-00002-of-00002.safetensors'), [['w2', { dtype: 'F32', shape: [2], data: Float32Array.of(3, 4) }]]);
    writeSafetensors(path.join(dir, 'model-00001-of-00002.safetensors'), [
      ['w1', { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) }],
      ['w0', { dtype: 'BF16', shape: [1], data: Float32Array.of(-1) }],
    ]);
    const index = {
      metadata: { total_size: 18 },
      weight_map: { w0: 'model-00001-of-00002.safetensors', w1: 'model-00001-of-00002.safetensors', w2: 'model-00002-of-00002.safetensors' },
    };
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    const set = readCheckpointDir(dir);
    assert.deepEqual([...set.tensors.keys()].sort(), ['w0', 'w1', 'w2']);
    assert.deepEqual(Array.from(set.tensors.get('w2')!.toFloat32()), [3, 4]);
    assert.deepEqual(Array.from(set.tensors.get('w0')!.toFloat32()), [-1]);
    assert.deepEqual(set.files.map((f) => path.basename(f.path)), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  });

  it('EXPECTED FAILURE - index and shards disagree: all disagreements in one error', () => {
    const dir = tempDir();
    writeSafetensors(path.join(dir, 's1.safetensors'), [
      ['a', { dtype: 'F32', shape: [1], data: Float32Array.of(1) }],
      ['stray', { dtype: 'F32', shape: [1], data: Float32Array.of(1) }],
    ]);
    const indexFile = path.join(dir, 'model.safetensors.index.json');
    fs.writeFileSync(indexFile, JSON.stringify({ weight_map: { a: 's1.safetensors', b: 's1.safetensors' } }));
    assert.throws(
      () => readSafetensorsIndex(indexFile),
      (e: unknown) =>
        e instanceof ModelFileError &&
        /"b" is mapped to s1\.safetensors but that file does not hold it/.test(e.message) &&
        /s1\.safetensors holds "stray", which weight_map does not list/.test(e.message),
    );
  });

  it('EXPECTED FAILURE - index without weight_map, with a path outside the directory, or naming a missing shard', () => {
    const dir = tempDir();
    const indexFile = path.join(dir, 'model.safetensors.index.json');
    fs.writeFileSync(indexFile, JSON.stringify({ metadata: {} }));
    assert.throws(() => readSafetensorsIndex(indexFile), /no "weight_map" object/);
    fs.writeFileSync(indexFile, JSON.stringify({ weight_map: { a: '../x.safetensors' } }));
    assert.throws(() => readSafetensorsIndex(indexFile), /weight_map\["a"\] is "\.\.\/x\.safetensors", not a file name in the same directory/);
    fs.writeFileSync(indexFile, JSON.stringify({ weight_map: { a: 'gone.safetensors' } }));
    assert.throws(() => readSafetensorsIndex(indexFile), (e: unknown) => e instanceof ModelFileError && /gone\.safetensors: cannot read weights: ENOENT/.test(e.message));
    fs.writeFileSync(indexFile, '{ nope');
    assert.throws(() => readSafetensorsIndex(indexFile), /cannot read the shard index/);
  });

  it('EXPECTED FAILURE - directory without weights', () => {
    assert.throws(() => readCheckpointDir(tempDir()), /no weights: neither model\.safetensors nor model\.safetensors\.index\.json/);
  });

  it('EXPECTED FAILURE - bad headers and offsets are refused with the numbers', () => {
    const f32x2 = new Uint8Array(8);
    assertBadFile(new Uint8Array(5), /5 bytes, shorter than the 8-byte header length/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    assertBadFile(huge, /header length 1099511627776 exceeds 100000000 bytes/);
    const past = rawFile({}, new Uint8Array(0));
    new DataView(past.buffer).setBigUint64(0, 100n, true);
    assertBadFile(past, /header length 100 runs past the end of the file \(10 bytes\): truncated\?/);
    const notJson = rawFile({}, new Uint8Array(0));
    notJson[8] = 0x7b;
    notJson[9] = 0x7b;
    assertBadFile(notJson, /header is not UTF-8 JSON/);
    assertBadFile(rawFile([1], f32x2), /header is not a JSON object/);
    assertBadFile(rawFile({ x: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, f32x2), /tensor "x" has dtype "F64"; Famulus reads F32, F16, BF16, I32, I64/);
    assertBadFile(rawFile({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 8] } }, f32x2), /tensor "x" has shape \[-1\]/);
    assertBadFile(rawFile({ x: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, f32x2), /data_offsets \[8,0\], not \[begin, end\]/);
    assertBadFile(rawFile({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }, f32x2), /data_offsets \[0, 12\] run past the data size 8: truncated\?/);
    assertBadFile(rawFile({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32x2), /"x" F32 \[3\] needs 12 bytes, data_offsets \[0, 8\] give 8/);
    assertBadFile(
      rawFile(
        {
          x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
          y: { dtype: 'F16', shape: [2], data_offsets: [2, 6] },
        },
        f32x2,
      ),
      /tensors "x" \[0, 4\] and "y" \[2, 6\] overlap/,
    );
    assertBadFile(rawFile({ __metadata__: { n: 1 } }, f32x2), /__metadata__\.n is not a string/);
  });

  it('EXPECTED FAILURE - truncated file on disk names the file', () => {
    const dir = tempDir();
    const file = path.join(dir, 'cut.safetensors');
    writeSafetensors(file, [['w', { dtype: 'F32', shape: [16], data: new Float32Array(16) }]]);
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 4));
    assert.throws(() => readSafetensors(file), (e: unknown) => e instanceof ModelFileError && e.file === file && /run past the data size 60: truncated\?/.test(e.message));
  });

  it('BAD CALL - writeSafetensors with data that do not fit the shape or dtype', () => {
    const file = path.join(tempDir(), 'w.safetensors');
    assert.throws(() => writeSafetensors(file, [['w', { dtype: 'F32', shape: [3], data: new Float32Array(2) }]]), /shape \[3\] needs 3 values, got 2/);
    assert.throws(() => writeSafetensors(file, [['w', { dtype: 'F32', shape: [2], data: new Uint16Array(2) }]]), /"w" is F32 but its data are a Uint16Array; pass a Float32Array/);
    assert.throws(() => writeSafetensors(file, [['w', { dtype: 'I64', shape: [2], data: new Int32Array(2) }]]), /pass a BigInt64Array/);
  });
});
