/**
 * GPU check, run on the GPU machine (docs/gpu.md says how): `node out/tools/gpu-check.js <out.json>`.
 *  1. WebGPU (fp16) against CPU (fp32) on the tiny fixture model: states and next-token logits after every
 *     block and inside a partial block, ‖Δ‖/‖ref‖ ≤ 1e-2 each.
 *  2. A random model of the default size: ingest up to 1M tokens on WebGPU, with GPU memory (nvidia-smi),
 *     process RSS and tok/s at 4k, 64k, 256k and 1M tokens; decode ms/token after 1k and after 1M tokens.
 *  3. CPU tok/s of the same models on this machine's cores, for comparison.
 * Results go to the JSON file named on the command line and a table to stdout.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { loadModelDir, packageRoot, parseFamConfig } from '../../model/loader';
import { float16BitsToFloat32 } from '../../model/loader/half';
import { FamSession, type FamState, type ModelWeights } from '../../model/runtime/fam-session';
import { DEFAULT_SIZE, ingestLcgTokens, lcgTokens, parameterCount, randomModel } from '../bench/random-model';
import { relativeError, TOLERANCES } from '../parity/compare';

const TOLERANCE = TOLERANCES.gpuVsCpu;
const out: Record<string, unknown> = { date: new Date().toISOString() };
const root = packageRoot(__dirname); // from the sources and from out/tools/ alike

function gpuMemoryMiB(): number | undefined {
  try {
    return Number(execFileSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits']).toString().trim().split('\n')[0]);
  } catch {
    return undefined;
  }
}

function gpuName(): string | undefined {
  try {
    return execFileSync('nvidia-smi', ['--query-gpu=name,driver_version', '--format=csv,noheader']).toString().trim();
  } catch {
    return undefined;
  }
}


async function compareStates(cpu: FamSession, gpu: FamSession, a: FamState, b: FamState): Promise<number> {
  const sa = await cpu.snapshot(a);
  const sb = await gpu.snapshot(b);
  let worst = 0;
  for (const key of ['fam', 'memK', 'memV'] as const) {
    sa[key].forEach((x, l) => {
      worst = Math.max(worst, relativeError(toF32(sb[key][l]!), toF32(x)));
    });
  }
  return worst;
}

function toF32(a: Float32Array | Uint16Array): Float32Array {
  return a instanceof Float32Array ? a : float16BitsToFloat32(a);
}

async function parity(): Promise<void> {
  const model = await loadModelDir(path.join(root, 'test/fixtures/tiny'));
  const cpu = await FamSession.create(model, { device: 'cpu' });
  const gpu = await FamSession.create(model, { device: 'webgpu' });
  out.device = { cpu: cpu.device, gpu: gpu.device, card: gpuName() };
  const B = model.config.block_size;
  const ids = lcgTokens(6 * B + 7, model.config.vocab_size, 7);
  let sc = await cpu.initialState();
  let sg = await gpu.initialState();
  const rows: { block: number; stateRelErr: number; logitsRelErr: number; partialLogitsRelErr: number }[] = [];
  rows.push({ block: -1, stateRelErr: await compareStates(cpu, gpu, sc, sg), logitsRelErr: 0, partialLogitsRelErr: 0 });
  for (let b = 0; b < 6; b++) {
    const block = ids.subarray(b * B, (b + 1) * B);
    const partial = block.subarray(0, 5);
    const lcPartial = await cpu.nextTokenLogits(sc, partial);
    const lgPartial = await gpu.nextTokenLogits(sg, partial);
    const lc = await cpu.nextTokenLogits(sc, block);
    const lg = await gpu.nextTokenLogits(sg, block);
    sc = await cpu.ingest(sc, block);
    sg = await gpu.ingest(sg, block);
    rows.push({
      block: b,
      stateRelErr: await compareStates(cpu, gpu, sc, sg),
      logitsRelErr: relativeError(lg, lc),
      partialLogitsRelErr: relativeError(lgPartial, lcPartial),
    });
  }
  const gc = await cpu.generate(sc, ids.subarray(6 * B), { maxNewTokens: 3 * B });
  const gg = await gpu.generate(sg, ids.subarray(6 * B), { maxNewTokens: 3 * B });
  let agree = 0;
  while (agree < Math.min(gc.tokens.length, gg.tokens.length) && gc.tokens[agree] === gg.tokens[agree]) agree++;
  const worst = Math.max(...rows.map((r) => Math.max(r.stateRelErr, r.logitsRelErr, r.partialLogitsRelErr)));
  out.parity = { tolerance: TOLERANCE, worst, pass: worst <= TOLERANCE, rows, greedyTokensAgreeing: agree, greedyTokens: gc.tokens.length };
  console.log(`parity tiny: worst rel err ${worst.toExponential(2)} (tolerance ${TOLERANCE}); greedy decode agrees on ${agree}/${gc.tokens.length} tokens`);
  await cpu.dispose();
  await gpu.dispose();
}

async function ingestRun(model: ModelWeights, device: 'cpu' | 'webgpu', checkpoints: number[], chunk: number) {
  const session = await FamSession.create(model, { device });
  const vocab = model.config.vocab_size;
  let state = await session.initialState();
  // Warm-up: one block, so session start-up stays out of the numbers.
  const warm = await session.ingest(state, lcgTokens(model.config.block_size, vocab, 1));
  session.release(warm);
  const points: Record<string, unknown>[] = [];
  const decode: Record<string, number> = {};
  let done = 0;
  const t0 = performance.now();
  for (const target of checkpoints) {
    state = await ingestLcgTokens(session, state, done, target, chunk, vocab);
    done = Math.max(done, target);
    // A read-back ends the timed span: run() may return before the GPU has finished.
    await session.nextTokenLogits(state, [5]);
    const seconds = (performance.now() - t0) / 1000;
    points.push({ tokens: done, seconds, tokPerSec: done / seconds, gpuMemMiB: gpuMemoryMiB(), rssMiB: process.memoryUsage().rss / 2 ** 20 });
    console.log(`${device} ingest ${done} tokens: ${(done / seconds).toFixed(0)} tok/s, gpu ${gpuMemoryMiB() ?? '-'} MiB, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
    if (done === 1024 || done === checkpoints[checkpoints.length - 1]) {
      const g0 = performance.now();
      const g = await session.generate(state, [5, 6, 7], { maxNewTokens: 32 });
      decode[`after${done}`] = (performance.now() - g0) / Math.max(1, g.tokens.length);
    }
  }
  const snap = await session.snapshot(state);
  const stateBytes = [...snap.fam, ...snap.memK, ...snap.memV].reduce((n, a) => n + a.byteLength, 0);
  session.release(state);
  const info = session.device;
  await session.dispose();
  return { device: info, points, decodeMsPerToken: decode, stateBytes };
}

/** Runs one stage; a failure is recorded under its name and the next stages still run. */
async function stage(name: string, fn: () => Promise<void>): Promise<void> {
  const only = process.argv[3]?.split(',');
  if (only && !only.includes(name)) return;
  const t0 = performance.now();
  try {
    await fn();
    console.log(`stage ${name}: ok in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } catch (err) {
    const message = err instanceof Error ? err.stack ?? err.message : String(err);
    (out.failures ??= {} as Record<string, string>);
    (out.failures as Record<string, string>)[name] = message;
    console.log(`stage ${name}: FAILED: ${message}`);
  }
}

async function main(): Promise<void> {
  const target = process.argv[2] ?? 'gpu-check.json';
  out.card = gpuName();
  await stage('parity', parity);
  const defaultDir = path.join(root, 'model/weights/default/config.json');
  const cfg = existsSync(defaultDir) ? parseFamConfig(JSON.parse(readFileSync(defaultDir, 'utf8')), defaultDir) : DEFAULT_SIZE;
  const model = randomModel(cfg, 3);
  out.defaultSize = { config: cfg, parameters: parameterCount(cfg) };
  await stage('gpu-ingest-default', async () => {
    out.gpuIngest = await ingestRun(model, 'webgpu', [1024, 4096, 65536, 262144, 1048576], 65536);
  });
  await stage('cpu-ingest-default', async () => {
    out.cpuIngest = await ingestRun(model, 'cpu', [1024, 4096, 16384], 4096);
  });
  const tiny = await loadModelDir(path.join(root, 'test/fixtures/tiny'));
  await stage('gpu-ingest-tiny', async () => {
    out.tinyGpuIngest = await ingestRun(tiny, 'webgpu', [1024, 65536], 16384);
  });
  await stage('cpu-ingest-tiny', async () => {
    out.tinyCpuIngest = await ingestRun(tiny, 'cpu', [1024, 65536], 16384);
  });
  writeFileSync(target, JSON.stringify(out, null, 2));
  if (out.failures) process.exitCode = 1;
  console.log(`wrote ${target}`);
}

main().catch((err) => {
  console.error(err);
  writeFileSync(process.argv[2] ?? 'gpu-check.json', JSON.stringify({ ...out, error: String(err?.stack ?? err) }, null, 2));
  process.exit(1);
});
