/**
 * Benchmark of grounded answers (docs/grounded-answers.md): on one workspace, side by side in one run,
 *   - the read: model ingest time against the time the same walk spent building the workspace index, and the
 *     saved index's size against the source bytes;
 *   - per question (≥ 20, each naming a definition, so the model re-reads it and must generate): retrieval
 *     time, re-read time (streaming the chosen code into a copy of the memory) and time to the first answer
 *     token, as p50 / p95.
 *
 *   node out/tools/grounding-bench.js --workspace <dir> [--model <dir>] [--device cpu|webgpu|auto]
 *        [--questions 24] [--reread-tokens N] [--out test/bench/results]
 *
 * Writes `grounding-<machine>-<date>.json` and `.md` into --out. The engine runs as the product runs it:
 * the engine process, `workspace/open` fresh, then `engine/ask`.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { EngineClient } from '../../model/engine/client';
import { DEFAULT_REREAD_TOKENS, MEMORY_FILES, type AnswerResult } from '../../model/engine/protocol';

interface QuestionTiming {
  question: string;
  retrievalMs: number;
  rereadMs: number;
  rereadTokens: number;
  firstTokenMs: number;
  sources: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      workspace: { type: 'string' },
      model: { type: 'string' },
      device: { type: 'string', default: 'cpu' },
      questions: { type: 'string', default: '24' },
      'reread-tokens': { type: 'string' },
      out: { type: 'string', default: 'test/bench/results' },
      engine: { type: 'string' },
    },
  });
  if (!values.workspace) throw new Error('--workspace <dir> is required');
  const root = path.resolve(values.workspace);
  const device = values.device as 'cpu' | 'webgpu' | 'auto';
  const questionCount = Number(values.questions);
  const memoryDir = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-grounding-bench-'));
  const engine = EngineClient.spawn(values.engine ? { enginePath: path.resolve(values.engine) } : {});
  try {
    const loaded = await engine.request('engine/loadModel', values.model ? { modelDir: path.resolve(values.model), device } : { device });
    log(`model ${loaded.model.dir} on ${loaded.device.provider} (${loaded.device.adapter})`);

    // The read: ingest and index in one walk.
    const open = engine.stream('workspace/open', { root, memoryDir, mode: 'fresh' });
    let bytesTotal = 0;
    for await (const chunk of open) if (chunk.kind === 'walked') bytesTotal = chunk.bytesTotal;
    const opened = await open.result;
    const read = opened.read!;
    const indexBytes = (await fs.stat(path.join(memoryDir, MEMORY_FILES.index))).size;
    log(`read ${read.filesIngested} files, ${read.tokensIngested} tokens in ${read.seconds.toFixed(1)} s; index ${read.indexSeconds.toFixed(2)} s, ${indexBytes} bytes`);

    // Questions that name a definition without a doc comment of its own would be answered by the model;
    // to time the model path every time, ask what a function *is used for* (kind 'other').
    const names = await definitionNames(engine, questionCount);
    const settings = values['reread-tokens'] === undefined ? {} : { tokens: Number(values['reread-tokens']) };
    const rereadBudget = settings.tokens ?? DEFAULT_REREAD_TOKENS[loaded.device.provider];
    const timings: QuestionTiming[] = [];
    for (const name of names) {
      const question = `How is \`${name}\` used?`;
      const stream = engine.stream('engine/ask', { question, options: { maxNewTokens: 4 }, reread: settings });
      for await (const _ of stream);
      const r: AnswerResult = await stream.result;
      timings.push({
        question,
        retrievalMs: 1000 * r.timings.retrievalSeconds,
        rereadMs: 1000 * r.timings.rereadSeconds,
        rereadTokens: r.grounding.rereadTokens,
        firstTokenMs: 1000 * r.timings.firstTokenSeconds,
        sources: r.grounding.sources.length,
      });
    }

    const result = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? '?', memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
      model: { dir: loaded.model.dir, modelId: loaded.model.modelId },
      device: loaded.device,
      workspace: { root, files: read.filesIngested, bytes: bytesTotal, tokens: read.tokensIngested },
      read: {
        seconds: read.seconds,
        indexSeconds: read.indexSeconds,
        indexShareOfRead: read.indexSeconds / read.seconds,
        ingestTokensPerSecond: read.tokensPerSecond,
        indexBytes,
        indexBytesShareOfSource: indexBytes / bytesTotal,
      },
      questions: {
        count: timings.length,
        rereadBudget,
        rereadTokensP50: percentile(timings.map((t) => t.rereadTokens), 50),
        retrievalMs: stats(timings.map((t) => t.retrievalMs)),
        rereadMs: stats(timings.map((t) => t.rereadMs)),
        firstTokenMs: stats(timings.map((t) => t.firstTokenMs)),
        each: timings,
      },
    };
    await fs.mkdir(values.out!, { recursive: true });
    const budget = settings.tokens === undefined ? '' : `-budget${settings.tokens}`;
    const name = `grounding-${loaded.device.provider}-${os.cpus().length}cpu-${result.date.slice(0, 16).replace(/[:T]/g, '-')}${budget}`;
    await fs.writeFile(path.join(values.out!, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    await fs.writeFile(path.join(values.out!, `${name}.md`), report(result));
    process.stdout.write(report(result));
  } finally {
    await engine.shutdown();
    await fs.rm(memoryDir, { recursive: true, force: true });
  }
}

/** Names of functions and methods the index holds, spread over the workspace (every k-th of a search). */
async function definitionNames(engine: EngineClient, count: number): Promise<string[]> {
  const { hits } = await engine.request('index/search', { query: 'function return value', limit: 1000 });
  const names = [...new Set(hits.map((h) => h.definition?.split('.').pop()).filter((n): n is string => !!n && n.length > 3))];
  if (names.length < count) throw new Error(`only ${names.length} definitions found for the questions; the workspace is too small`);
  const step = names.length / count;
  return Array.from({ length: count }, (_, i) => names[Math.floor(i * step)]!);
}

function stats(xs: number[]): { p50: number; p95: number; max: number } {
  return { p50: percentile(xs, 50), p95: percentile(xs, 95), max: Math.max(...xs) };
}

/** Nearest-rank percentile. */
function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function report(r: {
  device: { provider: string; adapter: string };
  machine: { cpus: number; cpu: string };
  workspace: { files: number; bytes: number; tokens: number };
  read: { seconds: number; indexSeconds: number; indexShareOfRead: number; ingestTokensPerSecond: number; indexBytes: number; indexBytesShareOfSource: number };
  questions: { count: number; rereadBudget: number; rereadTokensP50: number; retrievalMs: Stat; rereadMs: Stat; firstTokenMs: Stat };
}): string {
  const ms = (s: Stat) => `${s.p50.toFixed(0)} / ${s.p95.toFixed(0)}`;
  return [
    `# Grounded answers: ${r.device.provider} (${r.device.adapter}), ${r.machine.cpus} × ${r.machine.cpu}`,
    '',
    `Workspace: ${r.workspace.files} files, ${r.workspace.bytes} bytes, ${r.workspace.tokens} tokens.`,
    '',
    '| read | seconds | share |',
    '|---|---|---|',
    `| whole read (walk, ingest at ${r.read.ingestTokensPerSecond.toFixed(0)} tok/s, index) | ${r.read.seconds.toFixed(1)} | 100% |`,
    `| of which building the index | ${r.read.indexSeconds.toFixed(2)} | ${(100 * r.read.indexShareOfRead).toFixed(1)}% |`,
    `| index file | ${r.read.indexBytes} bytes | ${(100 * r.read.indexBytesShareOfSource).toFixed(1)}% of the source bytes |`,
    '',
    `${r.questions.count} questions, ${r.questions.rereadTokensP50} tokens re-read (p50) of a ${r.questions.rereadBudget}-token budget:`,
    '',
    '| ms, p50 / p95 | retrieval | re-read | first answer token |',
    '|---|---|---|---|',
    `| | ${ms(r.questions.retrievalMs)} | ${ms(r.questions.rereadMs)} | ${ms(r.questions.firstTokenMs)} |`,
    '',
  ].join('\n');
}

type Stat = { p50: number; p95: number; max: number };

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`grounding-bench: ${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
