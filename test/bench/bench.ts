/**
 * The benchmark (`npm run bench`; on the GPU machine `node out/tools/bench.js --device webgpu`, see docs/perf.md).
 * Rows, each in a child process of its own so that its peak RSS is its own:
 *   tiny          the test fixture (test/fixtures/tiny)
 *   default       the shipped model (model/weights/default), or random weights of its config.json when the weight
 *                 shards are not there (the GPU machine gets no shards: the upload limit)
 *   large         random weights of LARGE_SIZE (~130M parameters)
 *   qwen2.5-0.5b, qwen2.5-1.5b
 *                 random weights of those published shapes (random-model.ts), run as the engine runs such a
 *                 checkpoint without trained FAM: BSWA, block 1024, no memory segments
 *   load-qwen2.5-1.5b-fp16
 *                 not a speed row: the loader's peak RSS on a 1.5B fp16 checkpoint against its file size (runLoadCheck)
 * Per row: ingest tok/s at 4k, 64k and 1M tokens (cumulative from the first timed token, plus the rate of the
 * span since the previous point), peak RSS and GPU memory at each point, decode ms/token after 1k tokens and
 * after the longest context reached, state snapshot/encode/write/read/restore ms and bytes, and the FLOPs
 * per token the graphs execute. A point whose projected time exceeds the row's time budget is skipped and
 * the output says so. Then the products ceiling: the same session options and EP running only the matrix
 * products of one block step (an ONNX graph of MatMuls of the model's shapes), expressed in tok/s. Tokenizer
 * MB/s on the repository's own .ts sources (they travel to the GPU machine, node_modules does not).
 *
 * Timing: 1k warm-up tokens (and a warm-up decode) before any timed span; every timed ingest span ends with a
 * run that reads logits back to the host, since on WebGPU run() may return before the GPU has finished.
 *
 * Output: test/bench/results/<machine>-<date>.json and .md (machine = slug of the CPU or GPU name), and the
 * markdown table on stdout. Options: --device cpu|webgpu, --rows tiny,default,large (the default; any of the
 * rows above), --out <dir>,
 * --budget-scale <x> (multiplies every row's time budget), --torch <json> (a PyTorch result file from
 * test/bench/torch_ceiling.py, merged into the report).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { FamTokenizer, expectedTensorTable, loadModelDir, packageRoot, parseFamConfig, writeSafetensors, type FamConfig, type TensorToWrite } from '../../model/loader';
import { encodeState, readStateFile, writeStateFile } from '../../model/state';
import { FamSession, type FamState, type ModelWeights } from '../../model/runtime/fam-session';
import { GraphBuilder } from '../../model/onnx/builder';
import { float32ToFloat16Bits } from '../../model/loader/half';
import {
  LARGE_SIZE,
  QWEN2_5_0_5B,
  QWEN2_5_1_5B,
  QWEN2_5_JSON,
  ingestLcgTokens,
  lcgTokens,
  parameterCount,
  randomModel,
} from './random-model';

type Device = 'cpu' | 'webgpu';

const ROOT = packageRoot(__dirname); // from the sources and from out/tools/ alike
const CHECKPOINTS = [4096, 65536, 1048576];

interface RowSpec {
  /** Seconds of timed ingest the row may spend: a point whose projected time exceeds it is skipped. */
  budget: Record<Device, number>;
  /** Tokens each decode measurement generates. */
  decodeTokens: Record<Device, number>;
  /** Why the products ceiling is not measured on a device, where it is not. */
  noCeiling: Partial<Record<Device, string>>;
  model(): Promise<{ model: ModelWeights; source: string }>;
}

const BSWA = 'BSWA, as the loader runs a checkpoint without FAM fields: fam_length 0, block_size 1024, memory_segments 0';

/**
 * The speed rows. CPU budgets: tiny, default and large together stay within 5 minutes on 2 cores; there the Qwen
 * rows' budget stops them after the 4k point (which always runs), and they decode a handful of tokens.
 */
const ROWS = {
  tiny: {
    budget: { cpu: 20, webgpu: 15 },
    decodeTokens: { cpu: 32, webgpu: 32 },
    noCeiling: {},
    model: async () => ({ model: await loadModelDir(path.join(ROOT, 'test/fixtures/tiny')), source: 'test/fixtures/tiny (trained fixture)' }),
  },
  default: { budget: { cpu: 60, webgpu: 25 }, decodeTokens: { cpu: 32, webgpu: 32 }, noCeiling: {}, model: defaultModel },
  large: {
    budget: { cpu: 20, webgpu: 45 },
    // ~0.1-0.2 s a token on the CPU.
    decodeTokens: { cpu: 8, webgpu: 32 },
    noCeiling: { cpu: 'large row on the CPU: the products graph (0.6 GB of float32 weights) takes minutes to build; see the default row' },
    model: async () => ({ model: randomModel(LARGE_SIZE, 5), source: 'random weights, LARGE_SIZE' }),
  },
  'qwen2.5-0.5b': {
    budget: { cpu: 60, webgpu: 90 },
    decodeTokens: { cpu: 16, webgpu: 32 },
    noCeiling: { cpu: 'its products graph (1.4 GB of float32 weights) takes minutes to build on 2 cores' },
    model: async () => ({ model: randomModel(QWEN2_5_0_5B, 11), source: `random weights, Qwen2.5-0.5B's shape; ${BSWA}` }),
  },
  'qwen2.5-1.5b': {
    budget: { cpu: 60, webgpu: 90 },
    // ~0.2-0.6 s a token on the CPU; fewer than 8 are mostly noise on a shared machine.
    decodeTokens: { cpu: 8, webgpu: 32 },
    noCeiling: {
      cpu: 'its products graph (5.2 GB of float32 weights) does not fit in one ONNX graph (2 GiB)',
      webgpu: 'its products graph (2.6 GB of float16 weights) does not fit in one ONNX graph (2 GiB)',
    },
    model: async () => ({ model: randomModel(QWEN2_5_1_5B, 13), source: `random weights, Qwen2.5-1.5B's shape; ${BSWA}` }),
  },
} satisfies Record<string, RowSpec>;
type RowName = keyof typeof ROWS;
const LOAD_ROW = 'load-qwen2.5-1.5b-fp16';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function gpuQuery(field: string): string | undefined {
  try {
    return execFileSync('nvidia-smi', [`--query-gpu=${field}`, '--format=csv,noheader,nounits'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString().trim().split('\n')[0];
  } catch {
    return undefined;
  }
}

function gpuMemMiB(): number | null {
  const v = gpuQuery('memory.used');
  return v === undefined ? null : Number(v);
}

function peakRssMiB(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024); // maxRSS is in KiB
}


/** Matrix products of one block step per layer: [rows, k] x [k, cols], batched `batch` times. */
interface Product {
  what: string;
  batch: number;
  rows: number;
  k: number;
  cols: number;
}

/** The products one block step executes (dense: masked scores are computed too, as the graph does). */
export function blockProducts(cfg: FamConfig): Product[] {
  const D = cfg.hidden_size;
  const H = cfg.num_attention_heads;
  const G = cfg.num_key_value_heads;
  const d = cfg.head_dim ?? D / H;
  const I = cfg.intermediate_size;
  const n = cfg.fam_length + cfg.block_size;
  const S = cfg.memory_segments * cfg.block_size + n;
  return [
    { what: 'qkv', batch: 1, rows: n, k: D, cols: (H + 2 * G) * d },
    { what: 'scores', batch: H, rows: n, k: d, cols: S },
    { what: 'probs x V', batch: H, rows: n, k: S, cols: d },
    { what: 'o_proj', batch: 1, rows: n, k: H * d, cols: D },
    { what: 'gate/up', batch: 1, rows: n, k: D, cols: 2 * I },
    { what: 'down', batch: 1, rows: n, k: I, cols: D },
  ];
}

/** FLOPs per ingested token: 2*rows*k*cols per product, L layers, F+B rows per B tokens. */
export function flopsPerToken(cfg: FamConfig): { total: number; weights: number; attention: number } {
  const per = (p: Product) => 2 * p.batch * p.rows * p.k * p.cols;
  const ps = blockProducts(cfg);
  const attention = ps.filter((p) => p.batch > 1).reduce((a, p) => a + per(p), 0) * cfg.num_hidden_layers / cfg.block_size;
  const weights = ps.filter((p) => p.batch === 1).reduce((a, p) => a + per(p), 0) * cfg.num_hidden_layers / cfg.block_size;
  return { total: weights + attention, weights, attention };
}

/**
 * An ONNX graph of only the products of one block step (L layers). Operands and weights are initializers
 * (nothing is uploaded per run; the session runs with graph optimisation off so that nothing is constant-folded);
 * a dummy input x scales one output, `done`: on WebGPU a sum over the last product (every product is also an
 * output, kept on the GPU; a read-back run fetches `done` only), on the CPU a sum of one element of each product.
 */
function productsGraph(cfg: FamConfig, dtype: 'float32' | 'float16', allOutputs: boolean): { bytes: Uint8Array; outputs: string[] } {
  const g = new GraphBuilder('products');
  const outputs: string[] = [];
  let seed = 12345;
  const rand = (n: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      a[i] = (seed / 4294967296 - 0.5) * 0.1;
    }
    return dtype === 'float16' ? float32ToFloat16Bits(a) : a;
  };
  const made = new Map<string, string>();
  const operand = (dims: number[]) => {
    const key = dims.join('x');
    let name = made.get(key);
    if (!name) {
      name = g.initializer(`a_${key}`, dtype, dims, rand(dims.reduce((a, b) => a * b, 1)));
      made.set(key, name);
    }
    return name;
  };
  const x = g.input('x', dtype, [1]);
  let last = '';
  const corners: string[] = [];
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    for (const p of blockProducts(cfg)) {
      const a = operand(p.batch > 1 ? [p.batch, p.rows, p.k] : [p.rows, p.k]);
      // Each layer gets weights of its own, as in the model.
      const tag = p.what.replace(/\W/g, '');
      const w = g.initializer(`w_${l}_${tag}`, dtype, p.batch > 1 ? [p.batch, p.k, p.cols] : [p.k, p.cols], rand(p.batch * p.k * p.cols));
      const name = `y_${l}_${tag}`;
      last = g.op('MatMul', [a, w]);
      if (allOutputs) {
        g.output(last, name, dtype, p.batch > 1 ? [p.batch, p.rows, p.cols] : [p.rows, p.cols]);
        outputs.push(name);
      } else {
        // One element of each product feeds `done`, so every product is computed and none is copied out.
        const rank = p.batch > 1 ? 3 : 2;
        const corner = g.op('Slice', [last, g.ints(Array(rank).fill(0)), g.ints(Array(rank).fill(1))]);
        corners.push(g.op('Reshape', [corner, g.ints([1])]));
      }
    }
  }
  const sink = allOutputs ? g.op('ReduceSum', [last], { keepdims: 0 }) : g.op('ReduceSum', [g.op('Concat', corners, { axis: 0 })], { keepdims: 0 });
  g.output(g.op('Mul', [sink, x]), 'done', dtype, []);
  return { bytes: g.toBytes(), outputs };
}

/**
 * The products graph's time per block step on this EP. On WebGPU the products stay on the GPU; nine runs whose
 * `done` also stays there, then one that reads `done` back (run() may return before the GPU has finished).
 */
async function productsCeiling(cfg: FamConfig, device: Device, seconds: number) {
  const dtype = device === 'webgpu' ? 'float16' : 'float32';
  // WebGPU: every product is an output kept on the GPU. CPU: outputs would be copied to JS arrays each run
  // (hundreds of MB), so there only one element of each product is read.
  const { bytes, outputs } = productsGraph(cfg, dtype, device === 'webgpu');
  const base: ort.InferenceSession.SessionOptions = device === 'cpu'
    ? { executionProviders: ['cpu'], graphOptimizationLevel: 'disabled', intraOpNumThreads: os.availableParallelism(), interOpNumThreads: 1, logSeverityLevel: 3 }
    : { executionProviders: ['webgpu'], graphOptimizationLevel: 'disabled', logSeverityLevel: 3 };
  const gpu = (names: string[]) => ({ ...base, preferredOutputLocation: Object.fromEntries(names.map((o) => [o, 'gpu-buffer' as const])) });
  const onDevice = device === 'webgpu' ? await ort.InferenceSession.create(bytes, gpu([...outputs, 'done'])) : await ort.InferenceSession.create(bytes, base);
  const readBack = device === 'webgpu' ? await ort.InferenceSession.create(bytes, gpu(outputs)) : onDevice;
  const feeds = { x: new ort.Tensor(dtype, dtype === 'float16' ? float32ToFloat16Bits(Float32Array.of(1)) : Float32Array.of(1), [1]) };
  const run = async (s: ort.InferenceSession) => {
    const out = await s.run(feeds);
    for (const t of Object.values(out)) if (t.location === 'gpu-buffer') t.dispose();
  };
  for (let i = 0; i < 3; i++) await run(onDevice);
  await run(readBack);
  let runs = 0;
  const t0 = performance.now();
  do {
    await run(runs % 10 === 9 ? readBack : onDevice);
    runs++;
  } while ((performance.now() - t0) / 1000 < seconds || (device === 'webgpu' ? runs % 10 !== 0 : runs < 3));
  const msPerBlock = (performance.now() - t0) / runs;
  await onDevice.release();
  if (readBack !== onDevice) await readBack.release();
  const flopsPerBlock = flopsPerToken(cfg).total * cfg.block_size;
  return {
    dtype,
    runs,
    msPerBlock,
    tflops: flopsPerBlock / (msPerBlock / 1000) / 1e12,
    tokPerSec: cfg.block_size / (msPerBlock / 1000),
  };
}

interface Point {
  tokens: number;
  seconds: number;
  tokPerSec: number;
  spanTokPerSec: number;
  /** Tokens per second of this process's CPU time over the span (user + system, all threads). */
  spanTokPerCpuSec: number;
  loadAverage: number;
  peakRssMiB: number;
  gpuMemMiB: number | null;
}

/** Greedy decode after `state`: ms per token between the first and the last generated token (prompt excluded). */
async function decodeMs(session: FamSession, state: FamState, tokens: number): Promise<{ msPerToken: number | null; tokens: number }> {
  const times: number[] = [];
  const r = await session.generate(state, [5, 6, 7], { maxNewTokens: tokens, stopTokens: [], onToken: () => times.push(performance.now()) });
  if (times.length < 2) return { msPerToken: null, tokens: r.tokens.length };
  return { msPerToken: (times[times.length - 1]! - times[0]!) / (times.length - 1), tokens: times.length };
}

/** The shipped model, or random weights of its config when its shards are not there. */
async function defaultModel(): Promise<{ model: ModelWeights; source: string }> {
  const dir = path.join(ROOT, 'model/weights/default');
  const index = path.join(dir, 'model.safetensors.index.json');
  const shards = fs.existsSync(index)
    ? [...new Set(Object.values((JSON.parse(fs.readFileSync(index, 'utf8')) as { weight_map: Record<string, string> }).weight_map))]
    : ['model.safetensors'];
  if (shards.every((s) => fs.existsSync(path.join(dir, s)))) return { model: await loadModelDir(dir), source: 'model/weights/default (shipped weights)' };
  const cfgPath = path.join(dir, 'config.json');
  const cfg = parseFamConfig(JSON.parse(fs.readFileSync(cfgPath, 'utf8')), cfgPath);
  return { model: randomModel(cfg, 3), source: 'random weights of model/weights/default/config.json (weight shards not present)' };
}

/** One row, run in this (child) process. */
async function runRow(row: RowName, device: Device, budgetScale: number): Promise<Record<string, unknown>> {
  const spec: RowSpec = ROWS[row];
  const { model, source } = await spec.model();
  const cfg = model.config;
  const budget = spec.budget[device] * budgetScale;
  const result: Record<string, unknown> = { row, source, parameters: parameterCount(cfg), config: cfg, flopsPerToken: flopsPerToken(cfg) };
  const gpuBefore = gpuMemMiB();
  const c0 = performance.now();
  const session = await FamSession.create(model, { device });
  result.createSeconds = (performance.now() - c0) / 1000;
  result.device = session.device;
  result.weightPlacement = session.weightPlacement;
  result.gpuMemBeforeMiB = gpuBefore;
  const V = cfg.vocab_size;
  const B = cfg.block_size;

  let state = await session.initialState();
  const points: Point[] = [];
  const skipped: string[] = [];
  const decode: Record<string, unknown> = {};
  const chunk = Math.max(B, Math.floor(16384 / B) * B);
  const decodeTokens = spec.decodeTokens[device];
  let done = 0;
  // Warm-up, outside the timed ingest: 1k tokens and a short decode, so graph start-up stays out of the
  // numbers; the same state then gives decode after 1k (states are immutable).
  {
    const s1k = await session.ingest(state, lcgTokens(1024, V, 7));
    await decodeMs(session, s1k, 2);
    decode.after1k = { context: 1024, ...(await decodeMs(session, s1k, decodeTokens)) };
    session.release(s1k);
  }
  const tStart = performance.now();
  let last = { tokens: 0, t: tStart, cpu: process.cpuUsage() };
  for (const target of CHECKPOINTS) {
    const elapsed = (performance.now() - tStart) / 1000;
    const rate = points.length > 0 ? points[points.length - 1]!.spanTokPerSec : undefined;
    if (rate !== undefined && elapsed + (target - done) / rate > budget) {
      skipped.push(`${target} tokens: projected ${(elapsed + (target - done) / rate).toFixed(0)} s at ${rate.toFixed(0)} tok/s, over this row's ${budget.toFixed(0)} s budget`);
      continue;
    }
    state = await ingestLcgTokens(session, state, done, target, chunk, V);
    done = Math.max(done, target);
    // The read-back ends the span (one decode step of one token: small next to the span).
    await session.nextTokenLogits(state, [5]);
    const now = performance.now();
    const cpu = process.cpuUsage(last.cpu);
    const p: Point = {
      tokens: done,
      seconds: (now - tStart) / 1000,
      tokPerSec: done / ((now - tStart) / 1000),
      spanTokPerSec: (done - last.tokens) / ((now - last.t) / 1000),
      spanTokPerCpuSec: (done - last.tokens) / ((cpu.user + cpu.system) / 1e6),
      loadAverage: Number(os.loadavg()[0]!.toFixed(2)),
      peakRssMiB: peakRssMiB(),
      gpuMemMiB: gpuMemMiB(),
    };
    points.push(p);
    last = { tokens: done, t: performance.now(), cpu: process.cpuUsage() };
    log(`  ${row} ${device} ${done} tokens: ${p.tokPerSec.toFixed(0)} tok/s (span ${p.spanTokPerSec.toFixed(0)}, ${p.spanTokPerCpuSec.toFixed(0)} per CPU-s, load ${p.loadAverage}), peak RSS ${p.peakRssMiB} MiB, GPU ${p.gpuMemMiB ?? '-'} MiB`);
  }
  decode.afterLongest = { context: done, ...(await decodeMs(session, state, decodeTokens)) };
  result.points = points;
  result.skipped = skipped;
  result.decode = decode;

  // State: device → host snapshot, encode, atomic write, read back, restore onto the device.
  const t = (f: () => Promise<unknown> | unknown) => (async () => {
    const s = performance.now();
    const v = await f();
    return { ms: performance.now() - s, v };
  })();
  const snap = await t(() => session.snapshot(state));
  const snapshot = snap.v as Awaited<ReturnType<FamSession['snapshot']>>;
  const enc = await t(() => encodeState(snapshot));
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'famulus-bench-')), 'state.fams');
  const write = await t(() => writeStateFile(file, snapshot));
  const read = await t(() => readStateFile(file, model.modelId));
  const restore = await t(() => session.restore(read.v as typeof snapshot));
  session.release(restore.v as FamState);
  result.state = {
    bytes: (enc.v as Uint8Array).byteLength,
    snapshotMs: snap.ms,
    encodeMs: enc.ms,
    writeMs: write.ms,
    readMs: read.ms,
    restoreMs: restore.ms,
  };
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  session.release(state);
  await session.dispose();

  const noCeiling = spec.noCeiling[device];
  if (noCeiling) {
    result.productsCeilingSkipped = noCeiling;
  } else {
    try {
      result.productsCeiling = await productsCeiling(cfg, device, device === 'webgpu' ? 3 : Math.min(5, budget / 6));
    } catch (err) {
      result.productsCeilingError = String(err instanceof Error ? err.message : err).split('\n')[0];
    }
  }
  result.peakRssMiB = peakRssMiB();
  return result;
}

/**
 * Issue 23's memory target: loading a 1.5B-class fp16 checkpoint keeps peak RSS under 1.5x its file size.
 * Random weights of Qwen2.5-1.5B's shape are written as one fp16 model.safetensors (3.1 GB, as published) to a
 * temporary folder by one child process, then read by loadModelDir in another (loadProbe). Both are children
 * of this small process: a process forked from the writer would start with the writer's peak RSS.
 */
function runLoadCheck(): Record<string, unknown> {
  const cfg = QWEN2_5_1_5B;
  const fileBytes = parameterCount(cfg) * 2;
  const result: Record<string, unknown> = { row: LOAD_ROW, kind: 'load', parameters: parameterCount(cfg), target: 1.5 };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'famulus-load-'));
  try {
    const { bavail, bsize } = fs.statfsSync(dir);
    if (bavail * bsize < fileBytes * 1.1) {
      result.skipped = `${os.tmpdir()} has ${(bavail * bsize / 1e9).toFixed(1)} GB free, the checkpoint needs ${(fileBytes / 1e9).toFixed(1)} GB`;
      return result;
    }
    Object.assign(result, runChild(['--write-checkpoint', dir]));
    log(`  ${LOAD_ROW}: wrote ${(Number(result.fileBytes) / 1e9).toFixed(2)} GB in ${Number(result.writeSeconds).toFixed(0)} s, loading...`);
    const probe = runChild(['--load-probe', dir]) as { peakRssMiB: number };
    return Object.assign(result, probe, { ratio: (probe.peakRssMiB * 2 ** 20) / Number(result.fileBytes) });
  } catch (err) {
    return { ...result, error: err instanceof Error ? err.message : String(err) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The load check's model folder: Qwen2.5-1.5B's config.json, random fp16 weights, any small tokenizer. */
function writeCheckpoint(dir: string): Record<string, unknown> {
  const t0 = performance.now();
  const cfg = QWEN2_5_1_5B;
  const table = expectedTensorTable(cfg);
  const tensors: [string, TensorToWrite][] = [...randomModel(cfg, 13).tensors].map(([name, t]) =>
    [name, { dtype: 'F16', shape: table.get(name)!, data: float32ToFloat16Bits(t.toFloat32()) }]);
  const file = path.join(dir, 'model.safetensors');
  writeSafetensors(file, tensors);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...QWEN2_5_JSON['1.5b'], torch_dtype: 'float16' }, null, 1));
  // The check is about the weights: any tokenizer with ids below vocab_size will do.
  fs.copyFileSync(path.join(ROOT, 'test/fixtures/tiny/tokenizer.json'), path.join(dir, 'tokenizer.json'));
  return { fileBytes: fs.statSync(file).size, writeSeconds: (performance.now() - t0) / 1000 };
}

/** The loader alone on a model folder, in this fresh process: peak RSS before and after loadModelDir. */
async function loadProbe(dir: string): Promise<Record<string, unknown>> {
  const rssBeforeMiB = peakRssMiB();
  const t0 = performance.now();
  const model = await loadModelDir(dir);
  return { loadSeconds: (performance.now() - t0) / 1000, tensors: model.tensors.size, rssBeforeMiB, peakRssMiB: peakRssMiB() };
}

/** Runs this script in a child process with `args` and returns the JSON it writes to --result. */
function runChild(args: string[]): Record<string, unknown> {
  const tmp = path.join(os.tmpdir(), `famulus-bench-${process.pid}-${Date.now()}.json`);
  try {
    const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, ...args, '--result', tmp], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0 || !fs.existsSync(tmp)) throw new Error(`child exited with ${r.status ?? r.signal}`);
    return JSON.parse(fs.readFileSync(tmp, 'utf8')) as Record<string, unknown>;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Tokenizer encode speed on the repository's own TypeScript sources, one encode call per file. */
function tokenizerSpeed(dir: string): Record<string, unknown> {
  const tok = FamTokenizer.fromFiles(path.join(dir, 'tokenizer.json'), false, path.join(dir, 'tokenizer_config.json'));
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|py|md)$/.test(e.name)) files.push(fs.readFileSync(p, 'utf8'));
    }
  };
  for (const d of ['model', 'extension', 'test', 'webview', 'docs']) if (fs.existsSync(path.join(ROOT, d))) walk(path.join(ROOT, d));
  const bytes = files.reduce((n, f) => n + Buffer.byteLength(f), 0);
  for (const f of files.slice(0, 20)) tok.encode(f); // warm-up
  const t0 = performance.now();
  let tokens = 0;
  let passes = 0;
  do {
    for (const f of files) tokens += tok.encode(f).length;
    passes++;
  } while (performance.now() - t0 < 3000);
  const seconds = (performance.now() - t0) / 1000;
  return { tokenizer: path.relative(ROOT, dir), corpusBytes: bytes, files: files.length, passes, MBps: (bytes * passes) / 1e6 / seconds, tokPerSec: tokens / seconds };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function machineName(device: Device): string {
  const name = device === 'webgpu' ? gpuQuery('name') ?? 'gpu' : os.cpus()[0]?.model ?? 'cpu';
  const slug = name.toLowerCase().replace(/\((r|tm)\)/g, '').replace(/processor|\d+-core|cpu|@.*$/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  return `${slug}-${device === 'webgpu' ? 'webgpu' : `${os.availableParallelism()}cpu`}`;
}

const f0 = (x: number | null | undefined) => (x == null ? '-' : x >= 100 ? x.toFixed(0) : x.toPrecision(3));
const k = (x: number | null | undefined) => (x == null ? '-' : x >= 1000 ? `${(x / 1000).toFixed(1)}k` : x.toFixed(0));

function markdown(report: Record<string, any>): string {
  const lines: string[] = [];
  lines.push(`# Benchmark ${report.machine} ${report.date}`, '');
  lines.push(`Device: ${report.device}; ${report.hardware}; onnxruntime-node ${report.ort}; node ${report.node}; load average at start ${report.loadAverage}.`, '');
  lines.push('| row | params | provider | MFLOP/token | 4k tok/s | 64k tok/s | 1M tok/s | peak RSS MiB (4k/64k/1M) | GPU MiB (4k/64k/1M) | decode ms/tok after 1k | after longest (ctx) | products ceiling tok/s | ingest / ceiling | state bytes | save / load ms |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  const speedRows = (report.rows as Record<string, any>[]).filter((r) => r.kind !== 'load');
  for (const r of speedRows) {
    if (r.error) {
      lines.push(`| ${r.row} | | | | failed: ${String(r.error).split('\n')[0]} |`);
      continue;
    }
    const at = (n: number) => (r.points as Point[]).find((p) => p.tokens === n);
    const best = (r.points as Point[])[r.points.length - 1];
    const st = r.state;
    const placement = r.device.provider === 'cpu' && r.weightPlacement === 'inputs' ? ', weights as inputs' : '';
    lines.push(`| ${r.row} | ${(r.parameters / 1e6).toFixed(1)}M | ${r.device.provider} ${r.device.dtype}${placement} | ${(r.flopsPerToken.total / 1e6).toFixed(2)} | ` +
      `${k(at(4096)?.tokPerSec)} | ${k(at(65536)?.tokPerSec)} | ${k(at(1048576)?.tokPerSec)} | ` +
      `${CHECKPOINTS.map((c) => f0(at(c)?.peakRssMiB)).join(' / ')} | ${CHECKPOINTS.map((c) => f0(at(c)?.gpuMemMiB)).join(' / ')} | ` +
      `${f0(r.decode.after1k.msPerToken)} | ${f0(r.decode.afterLongest.msPerToken)} (${k(r.decode.afterLongest.context)}) | ` +
      (r.productsCeiling
        ? `${k(r.productsCeiling.tokPerSec)} (${r.productsCeiling.tflops.toFixed(2)} TFLOP/s) | ${best ? ((best.spanTokPerSec / r.productsCeiling.tokPerSec) * 100).toFixed(0) + '%' : '-'} | `
        : `${r.productsCeilingSkipped ? 'skipped' : 'failed'} | - | `) +
      `${st.bytes} | ${f0(st.snapshotMs + st.encodeMs + st.writeMs)} / ${f0(st.readMs + st.restoreMs)} |`);
  }
  lines.push('');
  for (const r of speedRows) {
    if (r.skipped?.length) lines.push(`- ${r.row}: skipped ${r.skipped.join('; ')}`);
    if (r.productsCeilingSkipped) lines.push(`- ${r.row}: products ceiling skipped: ${r.productsCeilingSkipped}`);
    if (r.productsCeilingError) lines.push(`- ${r.row}: products ceiling failed: ${r.productsCeilingError}`);
    if (r.source) lines.push(`- ${r.row}: ${r.source}; session create ${r.createSeconds?.toFixed(1)} s`);
    for (const p of (r.points ?? []) as Point[]) {
      lines.push(`- ${r.row} at ${k(p.tokens)}: span ${k(p.spanTokPerSec)} tok/s of wall time, ${k(p.spanTokPerCpuSec)} tok/s of process CPU time, load average ${p.loadAverage}`);
    }
  }
  for (const r of (report.rows as Record<string, any>[]).filter((x) => x.kind === 'load')) {
    if (r.skipped) lines.push(`- ${r.row}: skipped: ${r.skipped}`);
    else if (r.error) lines.push(`- ${r.row}: failed: ${r.error}`);
    else {
      lines.push(`- ${r.row}: loadModelDir on a ${(r.fileBytes / 1e9).toFixed(2)} GB fp16 model.safetensors (${(r.parameters / 1e9).toFixed(2)}B ` +
        `parameters): peak RSS ${r.peakRssMiB} MiB (${r.rssBeforeMiB} MiB before loading) = **${r.ratio.toFixed(2)}x** the file ` +
        `(target < ${r.target}x), loaded in ${r.loadSeconds.toFixed(1)} s`);
    }
  }
  lines.push('- "ingest / ceiling": the last point\'s span rate over the products-only graph\'s rate on the same EP.');
  lines.push('- Save = snapshot (device to host) + encode + atomic write; load = read + restore.');
  for (const t of report.tokenizer as Record<string, any>[]) {
    lines.push(`- Tokenizer ${t.tokenizer}: ${t.MBps.toFixed(2)} MB/s (${k(t.tokPerSec)} tok/s) on ${(t.corpusBytes / 1e6).toFixed(2)} MB of the repository's sources`);
  }
  if (report.torch) {
    lines.push('', '## PyTorch on the same card (test/bench/torch_ceiling.py)', '');
    lines.push('| mode | dtype | tok/s | ms/block | note |', '|---|---|---|---|---|');
    for (const m of report.torch.modes ?? []) lines.push(m.error ? `| ${m.mode} | | failed | | ${String(m.error).slice(0, 120)} |` : `| ${m.mode} | ${m.dtype} | ${k(m.tokPerSec)} | ${f0(m.msPerBlock)} | ${m.note ?? ''} |`);
    if (report.torch.products) lines.push(`| products only (cuBLAS) | ${report.torch.products.dtype} | ${k(report.torch.products.tokPerSec)} | ${f0(report.torch.products.msPerBlock)} | ${report.torch.products.tflops.toFixed(1)} TFLOP/s |`);
  }
  lines.push(`\nTotal wall time ${report.totalSeconds.toFixed(0)} s.`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const device = (arg('device') ?? 'cpu') as Device;
  if (device !== 'cpu' && device !== 'webgpu') throw new Error(`--device ${device}: cpu or webgpu`);
  const budgetScale = Number(arg('budget-scale') ?? 1);
  // A child process: one speed row, or one step of the load check.
  const child = arg('child');
  const writeDir = arg('write-checkpoint');
  const probeDir = arg('load-probe');
  if (child || writeDir || probeDir) {
    const r = child ? await runRow(child as RowName, device, budgetScale) : writeDir ? writeCheckpoint(writeDir) : await loadProbe(probeDir!);
    fs.writeFileSync(arg('result')!, JSON.stringify(r, null, 1));
    return;
  }
  const t0 = performance.now();
  const rows = (arg('rows') ?? 'tiny,default,large').split(',');
  const known = [...Object.keys(ROWS), LOAD_ROW];
  const unknown = rows.filter((r) => !known.includes(r));
  if (unknown.length > 0) throw new Error(`--rows: no row ${unknown.join(', ')}; rows are ${known.join(', ')}`);
  const outDir = path.resolve(arg('out') ?? path.join(ROOT, 'test/bench/results'));
  fs.mkdirSync(outDir, { recursive: true });
  const machine = machineName(device);
  const report: Record<string, any> = {
    machine,
    date: new Date().toISOString(),
    device,
    hardware: device === 'webgpu' ? `${gpuQuery('name')}, driver ${gpuQuery('driver_version')}` : `${os.cpus()[0]?.model.trim()}, ${os.availableParallelism()} threads`,
    ort: ort.env.versions?.node ?? '1.30.0',
    node: process.version,
    loadAverage: os.loadavg()[0]!.toFixed(2),
    rows: [],
  };
  for (const row of rows) {
    log(`row ${row} on ${device}...`);
    if (row === LOAD_ROW) {
      report.rows.push(runLoadCheck());
    } else {
      try {
        report.rows.push(runChild(['--child', row, '--device', device, '--budget-scale', String(budgetScale)]));
      } catch (err) {
        report.rows.push({ row, error: err instanceof Error ? err.message : String(err) });
      }
    }
    // Kept current after every row, so a run cut short still leaves what it measured.
    fs.writeFileSync(path.join(outDir, `${machine}-partial.json`), JSON.stringify(report, null, 1));
  }
  fs.rmSync(path.join(outDir, `${machine}-partial.json`), { force: true });
  const tokDirs = [path.join(ROOT, 'test/fixtures/tiny'), path.join(ROOT, 'model/weights/default')];
  report.tokenizer = tokDirs.filter((d) => fs.existsSync(path.join(d, 'tokenizer.json'))).map(tokenizerSpeed);
  const torchFile = arg('torch');
  if (torchFile && fs.existsSync(torchFile)) report.torch = JSON.parse(fs.readFileSync(torchFile, 'utf8'));
  report.totalSeconds = (performance.now() - t0) / 1000;
  const stamp = report.date.slice(0, 16).replace(/[:T]/g, '-');
  const base = path.join(outDir, `${machine}-${stamp}`);
  const md = markdown(report);
  fs.writeFileSync(`${base}.json`, JSON.stringify(report, null, 1));
  fs.writeFileSync(`${base}.md`, md + '\n');
  console.log(md);
  console.log(`\nwrote ${base}.json and .md`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
