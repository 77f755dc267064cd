/**
 * PassKey through the engine, compared trial by trial with PyTorch (issue 4):
 *
 *   npm run eval:passkey -- [--lengths 16384,262144] [--depths start,middle,end] [--trials 20,3] [--minutes 90]
 *                           [--prompts test/artifacts/passkey/trials.json.gz,...] [--out docs/results/default-model/engine-passkey]
 *
 * The trials come from model/train/eval/passkey_prompts.py (one or more of its files): passkey.py's prompts, with
 * the text of passkey.txt and PyTorch's greedy answers. Each trial runs the requests of
 * `famulus ask <dir> "What is the pass key?"`: one engine process (dist/engine.js, the shipped model, CPU) reads a
 * folder holding only passkey.txt from scratch (workspace/open, mode 'fresh'), then answers twice from that state
 * (engine/ask, temperature 0, as many tokens as PyTorch decoded): with the engine's default settings, as the CLI and
 * the extension answer (they add a repetition penalty), and plain greedy, as PyTorch decodes. A trial is correct
 * when the answer (the stream's deltas, joined) is exactly the key and ends with <|endoftext|>.
 *
 * Before running, every trial's prompt ids as the engine lays them out (fileChunkTokens + questionTokens, the
 * model's tokenizer) must equal PyTorch's; during the run, the engine must report as many tokens read.
 *
 * --trials takes the first N trials of each cell, one number per length (or one for all). Trials run length by
 * length in rounds (trial i of every depth, then i + 1), and no round starts after --minutes, so cells of one
 * length stay even. The JSON and the markdown table (<out>.json, <out>.md) are rewritten after every trial.
 */
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { gunzipSync } from 'node:zlib';
import { EngineClient } from '../../model/engine/client';
import { fileChunkTokens, questionTokens } from '../../model/engine/prompt';
import { DEFAULT_REPETITION_PENALTY, type AnswerResult, type GenerationSettings, type LoadModelResult } from '../../model/engine/protocol';
import { FamTokenizer } from '../../model/loader';

const REPO = path.resolve(__dirname, '../..');

/** The two ways each trial is answered: as `famulus ask` does (the engine's defaults), and as PyTorch decodes. */
const MODES = {
  defaults: {} as GenerationSettings,
  greedy: { repetitionPenalty: 1 } as GenerationSettings,
};
type Mode = keyof typeof MODES;
const MODE_NAMES = Object.keys(MODES) as Mode[];

/** PyTorch's greedy answer to one trial at one precision (passkey_prompts.py). */
interface TorchAnswer {
  answer: string;
  stopped: boolean;
  correct: boolean;
}

/** One trial of passkey_prompts.py's file. */
interface Trial {
  length: number;
  depth: string;
  trial: number;
  key: string;
  depthFraction: number;
  path: string;
  text: string;
  question: string;
  promptIds: number[];
  textEncodesToPromptIds: boolean;
  pytorch: Record<string, TorchAnswer>;
}

interface Prompts {
  weights: string;
  device: string;
  seed: number;
  maxNewTokens: number;
  cells: Array<{ length: number; depth: string; precision: string; trials: number; correct: number }>;
  trials: Trial[];
}

interface EngineAnswer {
  answer: string;
  stopReason: string;
  tokens: number;
  correct: boolean;
  firstTokenSeconds: number;
  seconds: number;
}

interface TrialResult {
  length: number;
  depth: string;
  trial: number;
  key: string;
  depthFraction: number;
  promptTokens: number;
  read: { tokens: number; seconds: number; tokensPerSecond: number };
  engine: Record<Mode, EngineAnswer>;
  pytorch: Record<string, TorchAnswer>;
  /** Per mode and precision: the engine is right exactly when PyTorch is. */
  agrees: Record<Mode, Record<string, boolean>>;
  /** Per mode and precision: the same answer text, stopped alike. */
  sameAnswer: Record<Mode, Record<string, boolean>>;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function list(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

async function main(): Promise<void> {
  const promptsFiles = list(arg('prompts') ?? path.join(REPO, 'test/artifacts/passkey/trials.json.gz')).map((f) => path.resolve(f));
  const out = path.resolve(arg('out') ?? path.join(REPO, 'docs/results/default-model/engine-passkey'));
  const modelDir = path.resolve(arg('model') ?? path.join(REPO, 'model/weights/default'));
  const lengths = list(arg('lengths') ?? '16384,262144').map(Number);
  const depths = list(arg('depths') ?? 'start,middle,end');
  const trialCounts = list(arg('trials') ?? '10').map(Number);
  const perLength = new Map(lengths.map((l, i) => [l, trialCounts.length === 1 ? trialCounts[0]! : trialCounts[i]!]));
  const deadline = performance.now() + Number(arg('minutes') ?? Infinity) * 60_000;

  const files = promptsFiles.map((f) => JSON.parse(gunzipSync(readFileSync(f)).toString('utf8')) as Prompts);
  const prompts = files[0]!;
  if (files.some((p) => p.maxNewTokens !== prompts.maxNewTokens || p.seed !== prompts.seed)) {
    throw new Error(`the prompt files were written with different settings: ${promptsFiles.join(', ')}`);
  }
  // A trial found in several files (a cell written again with more trials) is taken once, from the last file.
  const byId = new Map(files.flatMap((p) => p.trials).map((t) => [`${t.length}/${t.depth}/${t.trial}`, t]));
  const trials = [...byId.values()];
  const precisions = Object.keys(trials[0]?.pytorch ?? {});
  // Length by length, in rounds: trial i of every depth before trial i + 1.
  const chosen = trials
    .filter((t) => perLength.has(t.length) && depths.includes(t.depth) && t.trial < perLength.get(t.length)!)
    .sort((a, b) => lengths.indexOf(a.length) - lengths.indexOf(b.length) || a.trial - b.trial || depths.indexOf(a.depth) - depths.indexOf(b.depth));
  if (chosen.length === 0) throw new Error(`${promptsFiles.join(', ')}: no trials of lengths ${lengths} and depths ${depths}`);

  // The ids check: the engine's own layout functions, the model's tokenizer, against PyTorch's prompt ids.
  const tokenizer = FamTokenizer.fromFiles(path.join(modelDir, 'tokenizer.json'), true, path.join(modelDir, 'tokenizer_config.json'));
  const mismatches: string[] = [];
  for (const t of chosen) {
    const ids = [...fileChunkTokens(tokenizer, t.path, t.text), ...questionTokens(tokenizer, t.question)];
    const at = firstDifference(ids, t.promptIds);
    if (at >= 0) {
      mismatches.push(`${t.length}/${t.depth}/${t.trial}: first differs at ${at} of ${t.promptIds.length} (engine ${ids.slice(at, at + 8)}, ` +
        `PyTorch ${t.promptIds.slice(at, at + 8)}); Python's whole-text encoding ${t.textEncodesToPromptIds ? 'matches' : 'differs too'}`);
    }
  }
  const idsCheck = { trials: chosen.length, equal: chosen.length - mismatches.length, mismatches };
  process.stdout.write(`ids check: ${idsCheck.equal}/${idsCheck.trials} trials give PyTorch's prompt ids\n`);
  if (mismatches.length > 0) throw new Error(`prompt ids differ:\n${mismatches.join('\n')}`);

  const engine = EngineClient.spawn({ onStderr: (text) => process.stderr.write(text) });
  const workspace = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-passkey-'));
  const results: TrialResult[] = [];
  const report: Report = {
    task: 'passkey',
    issue: 4,
    started: new Date().toISOString(),
    host: `${os.cpus()[0]?.model.trim() ?? '?'} x${os.cpus().length}, node ${process.version}`,
    loadAverageAtStart: loadAverage(),
    prompts: {
      files: promptsFiles.map((f) => path.relative(REPO, f)),
      weights: prompts.weights,
      pytorchDevice: [...new Set(files.map((p) => p.device))].join(', '),
      seed: prompts.seed,
      pytorchRuns: files.flatMap((p) => p.cells),
    },
    pytorchAllTrials: pytorchCells(trials, precisions),
    engine: null,
    modes: { defaults: `the engine's defaults (repetition penalty ${DEFAULT_REPETITION_PENALTY})`, greedy: 'repetition penalty 1 (off)' },
    maxNewTokens: prompts.maxNewTokens,
    precisions,
    idsCheck,
    notRun: 0,
    cells: [],
    trials: results,
  };
  try {
    report.engine = await engine.request('engine/loadModel', { modelDir, device: 'cpu' });
    const d = report.engine.device;
    process.stdout.write(`engine: ${d.provider} (${d.adapter}, ${d.dtype}); ${chosen.length} trials\n`);
    for (let i = 0; i < chosen.length; i++) {
      const t = chosen[i]!;
      const newRound = i === 0 || t.trial !== chosen[i - 1]!.trial || t.length !== chosen[i - 1]!.length;
      if (newRound && performance.now() > deadline) {
        report.notRun = chosen.length - i;
        process.stdout.write(`--minutes reached: ${report.notRun} trials not run\n`);
        break;
      }
      await fs.writeFile(path.join(workspace, t.path), t.text);
      const opened = (await engine.stream('workspace/open', { root: workspace, mode: 'fresh' }).result).read!;
      const read = { tokens: opened.tokensIngested, seconds: round(opened.seconds, 2), tokensPerSecond: Math.round(opened.tokensPerSecond) };
      const answers = {} as Record<Mode, EngineAnswer>;
      for (const mode of MODE_NAMES) {
        const options = { maxNewTokens: prompts.maxNewTokens, temperature: 0, ...MODES[mode] };
        const stream = engine.stream('engine/ask', { question: t.question, options, reread: { enabled: false } });
        let text = '';
        for await (const delta of stream) text += delta.text;
        const answer = await stream.result;
        if (read.tokens + answer.promptTokens !== t.promptIds.length) {
          throw new Error(`the engine read ${read.tokens} + ${answer.promptTokens} tokens, PyTorch's prompt has ${t.promptIds.length}`);
        }
        answers[mode] = engineAnswer(t, text, answer);
      }
      const result = compare(t, read, answers);
      results.push(result);
      const shown = (a: { answer: string; correct: boolean }) => `${JSON.stringify(a.answer)}${a.correct ? ' ✓' : ''}`;
      process.stdout.write(`${t.length} ${t.depth.padEnd(6)} #${String(t.trial).padEnd(2)} key ${t.key}: ` +
        `${MODE_NAMES.map((m) => `engine ${m} ${shown(answers[m])}`).join(', ')}, ` +
        `${precisions.map((p) => `PyTorch ${p} ${shown(t.pytorch[p]!)}`).join(', ')}; ${read.tokensPerSecond} tok/s read\n`);
      await writeReport(out, report);
    }
  } finally {
    await writeReport(out, report);
    await engine.shutdown();
    await fs.rm(workspace, { recursive: true, force: true });
  }
}

function firstDifference(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** One answer of the engine: its text (joined from the stream's deltas) and how it ended. */
function engineAnswer(t: Trial, text: string, answer: AnswerResult): EngineAnswer {
  return {
    answer: text,
    stopReason: answer.stopReason,
    tokens: answer.tokens,
    correct: text === t.key && answer.stopReason === 'stop-token',
    firstTokenSeconds: round(answer.timings.firstTokenSeconds, 2),
    seconds: round(answer.timings.totalSeconds, 2),
  };
}

function compare(t: Trial, read: TrialResult['read'], engine: Record<Mode, EngineAnswer>): TrialResult {
  const agrees = {} as TrialResult['agrees'];
  const sameAnswer = {} as TrialResult['sameAnswer'];
  for (const mode of MODE_NAMES) {
    const e = engine[mode];
    agrees[mode] = Object.fromEntries(Object.entries(t.pytorch).map(([p, torch]) => [p, e.correct === torch.correct]));
    sameAnswer[mode] = Object.fromEntries(Object.entries(t.pytorch).map(([p, torch]) =>
      [p, e.answer === torch.answer && (e.stopReason === 'stop-token') === torch.stopped]));
  }
  const { length, depth, trial, key, depthFraction } = t;
  return { length, depth, trial, key, depthFraction, promptTokens: t.promptIds.length, read, engine, pytorch: t.pytorch, agrees, sameAnswer };
}

type Cell = ReturnType<typeof summarize>[number];

interface Report {
  task: string;
  issue: number;
  started: string;
  host: string;
  loadAverageAtStart: number[];
  prompts: { files: string[]; weights: string; pytorchDevice: string; seed: number; pytorchRuns: Prompts['cells'] };
  /** PyTorch's accuracy on every trial of the prompt files, run by the engine or not. */
  pytorchAllTrials: ReturnType<typeof pytorchCells>;
  engine: LoadModelResult | null;
  modes: Record<Mode, string>;
  maxNewTokens: number;
  precisions: string[];
  idsCheck: { trials: number; equal: number; mismatches: string[] };
  /** Trials left when --minutes was reached. */
  notRun: number;
  cells: Cell[];
  trials: TrialResult[];
}

function summarize(results: TrialResult[], precisions: string[]) {
  const cells = new Map<string, TrialResult[]>();
  for (const r of results) cells.set(`${r.length}/${r.depth}`, [...(cells.get(`${r.length}/${r.depth}`) ?? []), r]);
  const perMode = <T>(f: (m: Mode) => T) => Object.fromEntries(MODE_NAMES.map((m) => [m, f(m)])) as Record<Mode, T>;
  const perPrecision = (f: (p: string) => number) => Object.fromEntries(precisions.map((p) => [p, f(p)]));
  return [...cells.values()].map((rs) => ({
    length: rs[0]!.length,
    promptTokens: rs[0]!.promptTokens,
    depth: rs[0]!.depth,
    trials: rs.length,
    engineCorrect: perMode((m) => count(rs, (r) => r.engine[m].correct)),
    pytorchCorrect: perPrecision((p) => count(rs, (r) => r.pytorch[p]!.correct)),
    agrees: perMode((m) => perPrecision((p) => count(rs, (r) => r.agrees[m][p]!))),
    sameAnswer: perMode((m) => perPrecision((p) => count(rs, (r) => r.sameAnswer[m][p]!))),
    medianReadTokensPerSecond: Math.round(median(rs.map((r) => r.read.tokensPerSecond))),
    medianTrialSeconds: round(median(rs.map((r) => r.read.seconds + MODE_NAMES.reduce((s, m) => s + r.engine[m].seconds, 0))), 1),
  }));
}

function pytorchCells(trials: Trial[], precisions: string[]) {
  const cells = new Map<string, Trial[]>();
  for (const t of trials) cells.set(`${t.length}/${t.depth}`, [...(cells.get(`${t.length}/${t.depth}`) ?? []), t]);
  return [...cells.values()].map((ts) => ({
    length: ts[0]!.length,
    depth: ts[0]!.depth,
    trials: ts.length,
    correct: Object.fromEntries(precisions.map((p) => [p, count(ts, (t) => t.pytorch[p]!.correct)])),
  }));
}

async function writeReport(out: string, report: Report): Promise<void> {
  report.cells = summarize(report.trials, report.precisions);
  await fs.mkdir(path.dirname(out), { recursive: true });
  // Written whole and renamed, so an interrupted run leaves the last complete report.
  const json = { ...report, finished: new Date().toISOString(), loadAverageAtEnd: loadAverage() };
  await fs.writeFile(`${out}.json.tmp`, `${JSON.stringify(json, null, 1)}\n`);
  await fs.rename(`${out}.json.tmp`, `${out}.json`);
  await fs.writeFile(`${out}.md`, markdown(report));
}

function markdown(report: Report): string {
  const { precisions } = report;
  const pct = (n: number, of: number) => `${n}/${of} (${Math.round((100 * n) / of)}%)`;
  const both = (x: Record<Mode, Record<string, number>>, p: string, of: number) => MODE_NAMES.map((m) => `${x[m][p]}/${of}`).join(', ');
  const d = report.engine?.device;
  const lines = [
    '# PassKey through the engine vs PyTorch (default model)',
    '',
    'Written by `npm run eval:passkey` (test/eval/passkey.ts) from the trials of `model/train/eval/passkey_prompts.py`',
    '(passkey.py\'s prompts and seed). Engine: a folder holding only passkey.txt, read from scratch (`workspace/open`),',
    'then "What is the pass key?" answered at temperature 0 (`engine/ask`), as `famulus ask` does, ' +
      `${d ? `on ${d.provider} (${d.adapter}, ${d.dtype})` : 'no engine'}; PyTorch: ${report.prompts.pytorchDevice}.`,
    `Each trial is answered twice from one read: "defaults" = ${report.modes.defaults}, what the CLI and the extension`,
    `give; "greedy" = ${report.modes.greedy}, plain argmax like PyTorch. The penalty lowers the scores of tokens the`,
    'answer already holds, so the two differ where the model repeats a digit.',
    'Correct = exactly the key, then <|endoftext|>. "agree": the engine is right exactly when PyTorch is; "same answer":',
    `both wrote the same text and stopped alike. Prompt ids: ${report.idsCheck.equal}/${report.idsCheck.trials} trials equal PyTorch's.`,
    `Host: ${report.host}, load average ${report.loadAverageAtStart.join(' ')} at the start (a shared machine: speeds are noisy).`,
    '',
    `| length (tokens) | key at | trials | engine, defaults | engine, greedy | ${precisions.map((p) => `PyTorch ${p}`).join(' | ')} | ` +
      `${precisions.map((p) => `agree with ${p} (defaults, greedy)`).join(' | ')} | ` +
      `${precisions.map((p) => `same answer as ${p} (defaults, greedy)`).join(' | ')} | read tok/s (median) | s per trial (median) |`,
    `|---|---|---|---|---|${'---|'.repeat(3 * precisions.length)}---|---|`,
  ];
  for (const c of report.cells) {
    lines.push(`| ${c.length} (${c.promptTokens}) | ${c.depth} | ${c.trials} | ${MODE_NAMES.map((m) => pct(c.engineCorrect[m], c.trials)).join(' | ')} | ` +
      `${precisions.map((p) => pct(c.pytorchCorrect[p]!, c.trials)).join(' | ')} | ${precisions.map((p) => both(c.agrees, p, c.trials)).join(' | ')} | ` +
      `${precisions.map((p) => both(c.sameAnswer, p, c.trials)).join(' | ')} | ${c.medianReadTokensPerSecond} | ${c.medianTrialSeconds} |`);
  }
  if (report.notRun > 0) lines.push('', `${report.notRun} chosen trials were not run (--minutes).`);
  lines.push('', 'PyTorch on every trial of the prompt files (the first trials of passkey.py\'s cells), run by the engine or not:', '',
    `| length | key at | trials | ${precisions.map((p) => `PyTorch ${p}`).join(' | ')} |`, `|---|---|---|${'---|'.repeat(precisions.length)}`,
    ...report.pytorchAllTrials.map((c) => `| ${c.length} | ${c.depth} | ${c.trials} | ${precisions.map((p) => pct(c.correct[p]!, c.trials)).join(' | ')} |`));
  // Differing answers, grouped: they repeat across trials (the filler is the same, only the key moves).
  for (const mode of MODE_NAMES) {
    for (const p of precisions) {
      const pairs = new Map<string, number>();
      for (const r of report.trials.filter((r) => !r.sameAnswer[mode][p])) {
        const pair = `${r.length} ${r.depth}: engine ${JSON.stringify(r.engine[mode].answer)}, PyTorch ${JSON.stringify(r.pytorch[p]!.answer)}`;
        pairs.set(pair, (pairs.get(pair) ?? 0) + 1);
      }
      if (pairs.size === 0) continue;
      lines.push('', `Answers that differ, engine ${mode} vs PyTorch ${p} (trials):`, '', ...[...pairs].map(([pair, n]) => `- ${pair} (${n})`));
    }
  }
  return `${lines.join('\n')}\n`;
}

function loadAverage(): number[] {
  return os.loadavg().map((x) => round(x, 2));
}

function count<T>(xs: T[], pred: (x: T) => boolean): number {
  return xs.filter(pred).length;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exitCode = 1;
});
