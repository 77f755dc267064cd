/**
 * Benchmark of memory bundles (docs/team-memory.md) on a generated workspace of ≥ 1M tokens, with the engine
 * process as the product runs it:
 *   - CI: a fresh read, then the bundle written (ms, bytes);
 *   - verify: every check of the bundle against the model (ms, in this process, as the engine runs it);
 *   - import with nothing changed (fetch from disk + verify + adopt + walk + save), then with 1% and 10% of the
 *     files changed: the delta read's time against the full read's.
 *
 *   npm run bench:bundle -- [--model <dir>] [--device cpu|webgpu] [--files 1000] [--out test/bench/results]
 *
 * The default model is the tiny test fixture: random weights are right for timing the bundle's own work, and
 * its read rate is given so the delta reads scale to any model (time ∝ tokens / tok/s). Writes
 * `bundle-<device>-<cpus>cpu-<date>.json` and `.md` into --out.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { readBundleLayout, tokenizerSha256, verifyBundle } from '../../model/bundle';
import { EngineClient, type EngineStream } from '../../model/engine/client';
import type { ImportResult, WorkspaceResult } from '../../model/engine/protocol';
import { loadModelDir } from '../../model/loader';
import { decodeState } from '../../model/state';

const REPO = path.resolve(__dirname, '../..');

async function drain<C, F>(stream: EngineStream<C, F>): Promise<F> {
  for await (const _ of stream) void _;
  return stream.result;
}

/** A source file of about `lines` lines, different for each seed. */
function source(seed: number, lines: number, edit = 0): string {
  const out = [`/** Module ${seed}: generated for the bundle benchmark. */`];
  for (let i = 0; i < lines; i++) out.push(`export function f${seed}_${i}(x: number): number { return x * ${(seed * 31 + i * 7 + edit) % 997} + ${i}; }`);
  return `${out.join('\n')}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: path.join(REPO, 'test/fixtures/tiny') },
      device: { type: 'string', default: 'cpu' },
      files: { type: 'string', default: '1000' },
      out: { type: 'string', default: path.join(REPO, 'test/bench/results') },
    },
  });
  const files = Number(values.files);
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-bundle-bench-'));
  process.env.FAMULUS_KEY_FILE ??= path.join(tmp, 'user.key');
  const client = EngineClient.spawn({ enginePath: path.join(REPO, 'dist/engine.js') });
  try {
    const loaded = await client.request('engine/loadModel', { modelDir: values.model, device: values.device as 'cpu' | 'webgpu' });
    const ci = path.join(tmp, 'ci');
    await fs.mkdir(path.join(ci, 'src'), { recursive: true });
    for (let i = 0; i < files; i++) await fs.writeFile(path.join(ci, 'src', `m${String(i).padStart(5, '0')}.ts`), source(i, 12));

    const read = (await drain(client.stream('workspace/open', { root: ci, memoryDir: path.join(tmp, 'ci-mem'), mode: 'fresh' }))) as WorkspaceResult;
    const bundleFile = path.join(tmp, 'ci.famb');
    const written = await client.request('workspace/bundle', { file: bundleFile, commit: '0123456789abcdef0123456789abcdef01234567' });

    // verify in this process: the same checks the engine runs before it adopts a bundle.
    const model = await loadModelDir(values.model!);
    const bytes = new Uint8Array(await fs.readFile(bundleFile));
    const state = decodeState(readBundleLayout(bytes, 'ci').state, undefined, undefined, 'unkeyed');
    const expect = {
      modelId: model.modelId,
      vocabSize: model.config.vocab_size,
      tokenizerSha256: tokenizerSha256(model.dir),
      dims: { layers: state.layers, famLength: state.famLength, hiddenSize: state.hiddenSize, memSlots: state.memSlots, kvDim: state.kvDim, blockSize: state.blockSize },
    };
    const verifyMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      verifyBundle(bytes, 'ci', expect);
      verifyMs.push(performance.now() - t);
    }

    const imports: Record<string, unknown>[] = [];
    for (const share of [0, 0.01, 0.1]) {
      const laptop = path.join(tmp, `laptop-${share}`);
      await fs.cp(ci, laptop, { recursive: true });
      const changed = Math.round(files * share);
      for (let i = 0; i < changed; i++) {
        const k = Math.floor((i * files) / Math.max(changed, 1));
        await fs.writeFile(path.join(laptop, 'src', `m${String(k).padStart(5, '0')}.ts`), source(k, 12, 1));
      }
      const t = performance.now();
      const r = (await drain(client.stream('workspace/import', { root: laptop, memoryDir: path.join(tmp, `mem-${share}`), source: bundleFile }))) as ImportResult;
      imports.push({
        changedShare: share,
        changedFiles: changed,
        totalMs: performance.now() - t,
        fetchMs: r.bundle.fetchSeconds * 1000,
        verifyMs: r.bundle.verifySeconds * 1000,
        adoptMs: (r.restored?.seconds ?? 0) * 1000,
        deltaReadMs: (r.read?.seconds ?? 0) * 1000,
        deltaFiles: r.read?.filesIngested ?? 0,
        deltaTokens: r.read?.tokensIngested ?? 0,
        saveMs: (r.saved?.seconds ?? 0) * 1000,
        localChanges: r.state?.origin?.localChanges ?? null,
      });
    }

    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const report = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model.trim() ?? '?', memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
      model: { dir: path.relative(REPO, values.model!), modelId: loaded.model.modelId },
      device: loaded.device,
      workspace: { files, tokens: read.state!.tokens },
      ci: { fullReadSeconds: read.read!.seconds, tokensPerSecond: read.read!.tokensPerSecond, bundleWriteMs: written.seconds * 1000, bundleBytes: written.bytes },
      verifyMs: { median: median(verifyMs), runs: verifyMs },
      imports,
    };
    await fs.mkdir(values.out!, { recursive: true });
    const stamp = report.date.slice(0, 16).replace(/[T:]/g, '-');
    const name = `bundle-${loaded.device.provider}-${report.machine.cpus}cpu-${stamp}`;
    await fs.writeFile(path.join(values.out!, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`);
    const md = [
      `# Memory bundle benchmark, ${report.date}`,
      '',
      `${report.machine.cpu}, ${report.machine.cpus} CPUs; ${loaded.device.provider} (${loaded.device.adapter}); model ${report.model.dir}`,
      `Workspace: ${files} files, ${report.workspace.tokens.toLocaleString('en-US')} tokens. CI full read ${report.ci.fullReadSeconds.toFixed(1)} s ` +
        `(${Math.round(report.ci.tokensPerSecond).toLocaleString('en-US')} tok/s); bundle ${(written.bytes / 1024 / 1024).toFixed(2)} MiB written in ${report.ci.bundleWriteMs.toFixed(0)} ms; ` +
        `verify ${report.verifyMs.median.toFixed(0)} ms (median of 5).`,
      '',
      '| changed | files read | tokens read | import total ms | fetch ms | verify ms | adopt ms | delta read ms | save ms |',
      '|---|---|---|---|---|---|---|---|---|',
      ...imports.map((i: any) =>
        `| ${(i.changedShare * 100).toFixed(0)}% | ${i.deltaFiles} | ${i.deltaTokens} | ${i.totalMs.toFixed(0)} | ${i.fetchMs.toFixed(0)} | ${i.verifyMs.toFixed(0)} | ${i.adoptMs.toFixed(0)} | ${i.deltaReadMs.toFixed(0)} | ${i.saveMs.toFixed(0)} |`),
      '',
    ].join('\n');
    await fs.writeFile(path.join(values.out!, `${name}.md`), md);
    process.stdout.write(md);
  } finally {
    await client.shutdown();
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
