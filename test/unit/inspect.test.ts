/**
 * inspectModelDir: what the model picker shows of a folder, from config.json, the tokenizer's presence and the
 * weight files' headers. Checked against loadModelDir on the same folders: a folder it describes loads with the
 * same parameters and notes, and a folder it refuses fails to load with the same message (one set of rules).
 * The memory estimate is checked against the bench's measured rows (docs/perf.md).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  type FamConfig,
  ModelFileError,
  cpuWeightPlacement,
  estimateMemory,
  expectedTensorTable,
  inspectModelDir,
  loadModelDir,
  parseFamConfig,
  type ModelInspection,
  type ModelReport,
} from '../../model/loader';
import { DEFAULT_SIZE, LARGE_SIZE, QWEN2_5_0_5B, QWEN2_5_1_5B } from '../bench/random-model';
import { tempDir } from './loader-fixtures';

const REPO = path.resolve(__dirname, '../..');
const FAMILIES = path.join(REPO, 'test/fixtures/families');
const BUILT_IN = path.join(REPO, 'model/weights/default');
const MiB = 2 ** 20;

/** The family fixtures with what each must be described as. */
const EXPECTED: Record<string, { modelType: string; label: string; dtype: string; files: number }> = {
  llama3: { modelType: 'llama', label: 'Llama 3 (llama)', dtype: 'BF16', files: 2 },
  mistral: { modelType: 'mistral', label: 'Mistral (mistral)', dtype: 'F16', files: 1 },
  'qwen2.5': { modelType: 'qwen2', label: 'Qwen2/Qwen2.5 (qwen2)', dtype: 'BF16', files: 1 },
  qwen3: { modelType: 'qwen3', label: 'Qwen3 (qwen3)', dtype: 'BF16', files: 1 },
  smollm2: { modelType: 'llama', label: 'Llama (llama)', dtype: 'BF16', files: 1 },
};

function described(r: ModelInspection): ModelReport {
  assert.ok(r.ok, `expected a model, got: ${r.ok ? '' : r.reason}`);
  return r;
}

/** A copy of a fixture folder to break. */
function copyOf(dir: string): string {
  const to = path.join(tempDir('famulus-inspect-'), path.basename(dir));
  fs.cpSync(dir, to, { recursive: true });
  return to;
}

/** The folder is refused, and loading it fails with the very same message. */
async function refusedAsLoaderDoes(dir: string, pattern: RegExp): Promise<string> {
  const r = inspectModelDir(dir);
  assert.equal(r.ok, false, `${dir} was described as a model`);
  const reason = (r as { reason: string }).reason;
  assert.match(reason, pattern);
  await assert.rejects(loadModelDir(dir), (e: unknown) => {
    assert.ok(e instanceof ModelFileError, String(e));
    assert.equal(reason, e.message, 'the same words as a load');
    return true;
  });
  return reason;
}

describe('inspectModelDir: a model folder described from its headers', () => {
  for (const [name, want] of Object.entries(EXPECTED)) {
    it(`${name}: family, size, dtype, memory mode and estimates, as a load sees the folder`, async () => {
      const dir = path.join(FAMILIES, name);
      const r = described(inspectModelDir(dir));
      const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { model_type: string };
      assert.equal(r.dir, dir);
      assert.equal(config.model_type, want.modelType);
      assert.deepEqual(r.family, { modelType: want.modelType, label: want.label });
      assert.equal(r.dtype, want.dtype);
      assert.equal(r.weightFiles, want.files);
      const weightFiles = fs.readdirSync(dir).filter((f) => f.startsWith('model') && f.endsWith('.safetensors'));
      assert.equal(r.weightBytes, weightFiles.reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0));
      assert.deepEqual(r.memory, {
        fam: false,
        short: 'BSWA: no trained working memory',
        text: 'no trained working memory (FAM length 0, block sliding-window attention): answers use the last 1024 or fewer tokens read and the re-read',
      });
      // What a load finds in the same folder: the same tensors' elements and the same notes.
      const loaded = await loadModelDir(dir);
      assert.deepEqual(r.config, loaded.config);
      const used = [...expectedTensorTable(loaded.config).keys()];
      assert.equal(r.parameters, used.reduce((n, t) => n + loaded.tensors.get(t)!.size, 0));
      assert.deepEqual(r.notes, loaded.notes);
      assert.deepEqual(r.estimate, estimateMemory(loaded.config, r.weightBytes));
      assert.equal(r.estimate.cpu.placement, 'initializers');
    });
  }

  it('the built-in model: FAM with 64 rows, three fp16 shards, and the memory the bench measured for it', () => {
    const r = described(inspectModelDir(BUILT_IN));
    assert.deepEqual(r.family, { modelType: 'llama', label: 'Llama (llama)' });
    assert.equal(r.parameters, 23_960_064);
    assert.equal(r.weightFiles, 3);
    assert.equal(r.dtype, 'F16');
    assert.equal(r.memory.fam, true);
    assert.equal(r.memory.short, 'FAM, 64 rows');
    assert.match(r.memory.text, /^FAM: 64 rows of trained working memory per layer/);
    // docs/perf.md "Figures": peak RSS 1041 MiB reading the shipped weights on the CPU.
    assert.ok(Math.abs(r.estimate.cpu.bytes / MiB / 1041 - 1) < 0.1, `${r.estimate.cpu.bytes / MiB} MiB`);
  });

  it('reads headers only: a checkpoint of over 4 GiB (a sparse file) is described at once, without reading its weights', () => {
    const json = {
      model_type: 'llama', vocab_size: 32000, hidden_size: 4096, num_hidden_layers: 12, num_attention_heads: 32,
      num_key_value_heads: 8, intermediate_size: 11008, tie_word_embeddings: false,
    };
    const dir = tempDir('famulus-inspect-big-');
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json));
    fs.copyFileSync(path.join(FAMILIES, 'mistral', 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    const header: Record<string, unknown> = {};
    let offset = 0;
    for (const [name, shape] of expectedTensorTable(parseFamConfig(json, 'config.json'))) {
      const bytes = shape.reduce((a, b) => a * b, 1) * 2;
      header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
    }
    const head = Buffer.from(JSON.stringify(header));
    const fd = fs.openSync(path.join(dir, 'model.safetensors'), 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(head.length));
    fs.writeSync(fd, len);
    fs.writeSync(fd, head);
    fs.ftruncateSync(fd, 8 + head.length + offset); // the data: a hole, never written
    fs.closeSync(fd);
    assert.ok(offset > 4 * 2 ** 30, `${offset} bytes of weights`);

    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    const r = described(inspectModelDir(dir));
    const seconds = (performance.now() - t0) / 1000;
    assert.ok(seconds < 2, `${seconds} s`);
    assert.ok(process.memoryUsage().rss - rssBefore < 256 * MiB, 'the weights were not read into memory');
    assert.equal(r.weightBytes, 8 + head.length + offset);
    assert.equal(r.parameters, offset / 2);
    assert.equal(r.dtype, 'BF16');
  });

  it('EXPECTED FAILURE - folders that are not models are refused with the reason a load would give', async () => {
    const empty = tempDir('famulus-empty-');
    await refusedAsLoaderDoes(empty, /: no config\.json \(a model directory needs config\.json, model\.safetensors or a shard index, and tokenizer\.json\)$/);
    // A folder of source code.
    await refusedAsLoaderDoes(path.join(REPO, 'samples', 'demo-workspace'), /demo-workspace: no config\.json/);
    await refusedAsLoaderDoes(path.join(empty, 'nowhere'), /^model directory .*nowhere does not exist$/);
    await refusedAsLoaderDoes(path.join(FAMILIES, 'README.md'), /README\.md is not a directory \(expected a model directory\)$/);
  });

  it('EXPECTED FAILURE - a config the engine cannot run: refused with the field, as the loader words it', async () => {
    const dir = copyOf(path.join(FAMILIES, 'qwen3'));
    const configPath = path.join(dir, 'config.json');
    const config = JSON.parse(fs.readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(configPath, JSON.stringify({ ...config, hidden_act: 'gelu', rope_scaling: { rope_type: 'yarn', factor: 4 } }));
    const reason = await refusedAsLoaderDoes(dir, /config\.json: invalid config:/);
    assert.match(reason, /"hidden_act" must be "silu" \(SwiGLU\), got "gelu"/);
    assert.match(reason, /"rope_scaling" type "yarn" is not run by this engine/);
    fs.writeFileSync(configPath, JSON.stringify({ ...config, model_type: 'gemma2' }));
    await refusedAsLoaderDoes(dir, /"model_type" must be "llama" or "mistral" or "qwen2" or "qwen3", got "gemma2"/);
    fs.writeFileSync(configPath, '{ "vocab_size": ');
    await refusedAsLoaderDoes(dir, /config\.json: not valid JSON/);
  });

  it('EXPECTED FAILURE - no tokenizer.json, or no weights', async () => {
    const noTokenizer = copyOf(path.join(FAMILIES, 'smollm2'));
    fs.rmSync(path.join(noTokenizer, 'tokenizer.json'));
    await refusedAsLoaderDoes(noTokenizer, /smollm2: no tokenizer\.json \(/);
    const noWeights = copyOf(path.join(FAMILIES, 'smollm2'));
    fs.rmSync(path.join(noWeights, 'model.safetensors'));
    await refusedAsLoaderDoes(noWeights, /: no weights: neither model\.safetensors nor model\.safetensors\.index\.json is there$/);
  });

  it('EXPECTED FAILURE - weights that do not match: a shard missing, a tensor the index maps elsewhere, a truncated file, the wrong shape', async () => {
    const lostShard = copyOf(path.join(FAMILIES, 'llama3'));
    fs.rmSync(path.join(lostShard, 'model-00002-of-00002.safetensors'));
    await refusedAsLoaderDoes(lostShard, /model-00002-of-00002\.safetensors: cannot read weights: ENOENT/);

    const badIndex = copyOf(path.join(FAMILIES, 'llama3'));
    const indexPath = path.join(badIndex, 'model.safetensors.index.json');
    const index = JSON.parse(fs.readFileSync(indexPath, 'utf8')) as { weight_map: Record<string, string> };
    const [moved] = Object.entries(index.weight_map).find(([, shard]) => shard === 'model-00001-of-00002.safetensors')!;
    index.weight_map[moved] = 'model-00002-of-00002.safetensors';
    fs.writeFileSync(indexPath, JSON.stringify(index));
    await refusedAsLoaderDoes(badIndex, new RegExp(`shards disagree with the index:[^]*"${moved.replace(/\./g, '\\.')}" is mapped to model-00002-of-00002\\.safetensors but that file does not hold it`));

    const truncated = copyOf(path.join(FAMILIES, 'qwen2.5'));
    const weights = path.join(truncated, 'model.safetensors');
    fs.truncateSync(weights, fs.statSync(weights).size - 100);
    await refusedAsLoaderDoes(truncated, /model\.safetensors: not a valid safetensors file: .* run past the data size \d+: truncated\?/);

    // Weights of another shape than config.json says: the loader's weight table check, from the headers.
    const otherShape = copyOf(path.join(FAMILIES, 'mistral'));
    const configPath = path.join(otherShape, 'config.json');
    const config = JSON.parse(fs.readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(configPath, JSON.stringify({ ...config, num_hidden_layers: 3 }));
    await refusedAsLoaderDoes(otherShape, /the weights do not match config\.json \(L=3, [^]*missing \(\d+\):\n {4}model\.layers\.2\./);
  });
});

describe('estimateMemory: the engine\'s peak memory per device, against the bench (docs/perf.md)', () => {
  // [shape, weight file bytes the loader holds, CPU peak RSS MiB, GPU MiB], each at 4k tokens.
  const measured: [string, FamConfig, number, number, number][] = [
    ['default (shipped fp16 weights)', DEFAULT_SIZE, 47_926_320, 1041, 361],
    ['large 129M (random)', LARGE_SIZE, 0, 3826, 1113],
    ['Qwen2.5-0.5B shape (random)', QWEN2_5_0_5B, 0, 9043, 2717],
    ['Qwen2.5-1.5B shape (random)', QWEN2_5_1_5B, 0, 6722, 7046],
  ];
  for (const [name, cfg, files, cpuMiB, gpuMiB] of measured) {
    it(`${name}: CPU ${cpuMiB} MiB and WebGPU ${gpuMiB} MiB measured, estimated within 10%`, () => {
      const e = estimateMemory(cfg, files);
      assert.ok(Math.abs(e.cpu.bytes / MiB / cpuMiB - 1) < 0.1, `CPU ${(e.cpu.bytes / MiB).toFixed(0)} MiB`);
      assert.ok(Math.abs(e.webgpu.bytes / MiB / gpuMiB - 1) < 0.1, `WebGPU ${(e.webgpu.bytes / MiB).toFixed(0)} MiB`);
    });
  }

  it('the CPU weights are initializers while float32 weights fit in one ONNX graph, graph inputs above', () => {
    assert.equal(cpuWeightPlacement(QWEN2_5_0_5B), 'initializers');
    assert.equal(cpuWeightPlacement(QWEN2_5_1_5B), 'inputs');
    // Prepacked initializers cost about four copies: the 0.5B needs more memory on the CPU than the 1.5B.
    assert.ok(estimateMemory(QWEN2_5_0_5B, 0).cpu.bytes > estimateMemory(QWEN2_5_1_5B, 0).cpu.bytes);
  });
});
