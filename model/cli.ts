/**
 * famulus: the command line. A client of the engine process (dist/engine.js, started through
 * ./engine/client.ts), like the extension. Results go to stdout (text, or one JSON object with --json);
 * progress, notes and errors go to stderr. Exit codes: 0 done, 1 error, 130 interrupted.
 */
import { existsSync, promises as fs, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { defaultModelDir, packageRoot } from './loader/model-dir';
import { EngineClient, type EngineProcess } from './engine/client';
import { questions } from './engine/prompt';
import {
  DEFAULT_MAX_NEW_TOKENS,
  DEFAULT_REPETITION_PENALTY,
  EngineError,
  type AnswerResult,
  type DeviceChoice,
  type DeviceInfo,
  type GenerationSettings,
  type IngestResult,
  type LoadModelResult,
  type SkippedEntry,
  type StateSummary,
} from './engine/protocol';

const USAGE = `famulus: reads a whole workspace into a FAM model's working memory and answers from it.

Usage:
  famulus                              demo: ingest samples/demo-workspace, ask, summarise
  famulus ingest <dir>                 read <dir> and save its state (default <dir>/.famulus/state.fams)
  famulus ask <dir> "<question>"       answer from the saved state of <dir> (read first if needed)
  famulus summarize <file>             summarise a file of the workspace that contains it
  famulus status [<dir>]               model, device, and the saved state of <dir> (default: .)

Options:
  --state <file>        state file (default: <dir>/.famulus/state.fams)
  --model <dir>         model folder (default: model/weights/default, else the tiny test model)
  --device <d>          auto | cpu | webgpu (default: $FAMULUS_DEVICE, else auto)
  --max-tokens <n>      longest answer in tokens (default ${DEFAULT_MAX_NEW_TOKENS})
  --temperature <t>     0 = greedy (default 0)
  --top-p <p>           nucleus sampling threshold in (0, 1] (default 1)
  --repeat-penalty <r>  on tokens the answer already used: 1 (off) to 2 (default ${DEFAULT_REPETITION_PENALTY})
  --fresh               read the workspace from scratch instead of reusing the saved state
  --json                print one JSON object on stdout
  --verbose             show the engine's log on stderr
  -h, --help            this text

ask, summarize and ingest keep the saved state up to date: new and changed files are read on top of it;
once old versions would make up a third of what it read, the workspace is read again from scratch.`;

/** A mistake in how famulus was called: printed with a hint to --help. */
class UsageError extends Error {}

/** The user interrupted (Ctrl-C). */
class Interrupted extends Error {}

interface Flags {
  json: boolean;
  verbose: boolean;
  fresh: boolean;
  state?: string;
  model?: string;
  device: DeviceChoice;
  generation: GenerationSettings;
}

/** Seconds of each phase, for --json and the summary lines. */
type Timings = Record<string, number>;

/** The JSON object --json prints: the same fields for every command, null where they do not apply. */
interface Report {
  command: string;
  root: string | null;
  stateFile: string | null;
  model: { dir: string; modelId: string };
  device: DeviceInfo;
  /** The answer of ask, the summary of summarize (the last one of the demo); null for other commands. */
  answer: string | null;
  /** Tokens held in the state (everything read, not only by this run). */
  tokensIngested: number;
  /** Bytes of the working memory, whatever was read. */
  stateBytes: number | null;
  stateFileBytes: number | null;
  tokensPerSecond: { ingest: number | null; answer: number | null };
  state: StateSummary | null;
  ingest: (Omit<IngestResult, 'state' | 'skipped'> & { skipped: SkippedEntry[] }) | null;
  answers: Array<{ question: string } & AnswerResult>;
  timings: Timings;
  notes: string[];
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        state: { type: 'string' },
        model: { type: 'string' },
        device: { type: 'string' },
        'max-tokens': { type: 'string' },
        temperature: { type: 'string' },
        'top-p': { type: 'string' },
        'repeat-penalty': { type: 'string' },
        fresh: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return fail(new UsageError((err as Error).message));
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let cli: Cli | null = null;
  try {
    const flags = readFlags(values);
    const [command, ...args] = positionals;
    const run = commandFor(command, args);
    cli = new Cli(flags);
    await run(cli);
    return 0;
  } catch (err) {
    return fail(err);
  } finally {
    await cli?.close();
  }
}

function fail(err: unknown): number {
  if (err instanceof Interrupted) {
    process.stderr.write(`famulus: ${err.message}\n`);
    return 130;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`famulus: ${message}\n`);
  if (err instanceof UsageError) process.stderr.write('Run famulus --help for the commands and options.\n');
  return 1;
}

function readFlags(values: Record<string, string | boolean | undefined>): Flags {
  const device = (values.device as string | undefined) ?? process.env.FAMULUS_DEVICE ?? 'auto';
  if (device !== 'auto' && device !== 'cpu' && device !== 'webgpu') {
    const source = values.device === undefined ? 'FAMULUS_DEVICE' : '--device';
    throw new UsageError(`${source} must be auto, cpu or webgpu, got "${device}"`);
  }
  const generation: GenerationSettings = {};
  const number = (flag: string, check: (x: number) => boolean, want: string): number | undefined => {
    const text = values[flag] as string | undefined;
    if (text === undefined) return undefined;
    const x = Number(text);
    if (text.trim() === '' || !check(x)) throw new UsageError(`--${flag} must be ${want}, got "${text}"`);
    return x;
  };
  const maxTokens = number('max-tokens', (x) => Number.isInteger(x) && x >= 1 && x <= 1 << 20, 'a whole number ≥ 1');
  const temperature = number('temperature', (x) => Number.isFinite(x) && x >= 0 && x <= 100, 'a number from 0 to 100');
  const topP = number('top-p', (x) => Number.isFinite(x) && x > 0 && x <= 1, 'a number in (0, 1]');
  const repetitionPenalty = number('repeat-penalty', (x) => Number.isFinite(x) && x >= 1 && x <= 2, 'a number from 1 to 2');
  if (maxTokens !== undefined) generation.maxNewTokens = maxTokens;
  if (temperature !== undefined) generation.temperature = temperature;
  if (topP !== undefined) generation.topP = topP;
  if (repetitionPenalty !== undefined) generation.repetitionPenalty = repetitionPenalty;
  const flags: Flags = { json: values.json === true, verbose: values.verbose === true, fresh: values.fresh === true, device, generation };
  if (typeof values.state === 'string') flags.state = path.resolve(values.state);
  if (typeof values.model === 'string') flags.model = path.resolve(values.model);
  return flags;
}

/** Checks the command line of one command and returns what runs it. */
function commandFor(command: string | undefined, args: string[]): (cli: Cli) => Promise<void> {
  const expect = (n: number, usage: string) => {
    if (args.length !== n) throw new UsageError(`${command} takes ${usage}, got ${args.length} argument(s)`);
  };
  switch (command) {
    case undefined:
      return (cli) => cli.demo();
    case 'ingest': {
      expect(1, '<dir>');
      const root = existingDir(args[0]!);
      return (cli) => cli.ingestCommand(root);
    }
    case 'ask': {
      expect(2, '<dir> "<question>"');
      const root = existingDir(args[0]!);
      const question = args[1]!.trim();
      if (!question) throw new UsageError('the question is empty');
      return (cli) => cli.askCommand(root, question);
    }
    case 'summarize': {
      expect(1, '<file>');
      const file = path.resolve(args[0]!);
      if (!existsSync(file)) throw new UsageError(`no such file: ${file}`);
      if (!statSync(file).isFile()) throw new UsageError(`not a file: ${file}`);
      return (cli) => cli.summarizeCommand(file);
    }
    case 'status': {
      if (args.length > 1) throw new UsageError(`status takes at most one <dir>, got ${args.length} arguments`);
      const root = existingDir(args[0] ?? '.');
      return (cli) => cli.statusCommand(root);
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

function existingDir(p: string): string {
  const abs = path.resolve(p);
  if (!existsSync(abs)) throw new UsageError(`no such folder: ${abs}`);
  if (!statSync(abs).isDirectory()) throw new UsageError(`not a folder: ${abs}`);
  return abs;
}

function defaultStateFile(root: string): string {
  return path.join(root, '.famulus', 'state.fams');
}

/** One run of the CLI: an engine process, the flags, and what the run measured. */
class Cli {
  private engine: EngineProcess | null = null;
  private readonly started = performance.now();
  private readonly timings: Timings = {};
  private readonly notes: string[] = [];
  private readonly interrupt = new AbortController();
  private model: LoadModelResult | null = null;
  private onSigint = () => {
    if (this.interrupt.signal.aborted) process.exit(130);
    this.note('interrupted: stopping at the next checkpoint (Ctrl-C again to quit at once)');
    this.interrupt.abort();
  };

  constructor(private readonly flags: Flags) {
    process.on('SIGINT', this.onSigint);
  }

  async close(): Promise<void> {
    process.off('SIGINT', this.onSigint);
    await this.engine?.shutdown();
  }

  private note(line: string): void {
    this.notes.push(line);
    process.stderr.write(`${line}\n`);
  }

  /** Starts the engine and loads the model; says which model and which device. */
  private async connect(): Promise<{ engine: EngineClient; model: LoadModelResult }> {
    if (this.engine && this.model) return { engine: this.engine, model: this.model };
    const spawnOptions: Parameters<typeof EngineClient.spawn>[0] = {};
    if (this.flags.verbose) spawnOptions.onStderr = (text) => process.stderr.write(text);
    this.engine = EngineClient.spawn(spawnOptions);
    const modelDir = this.flags.model ?? defaultModelDir((line) => this.note(line));
    const t = performance.now();
    this.model = await this.engine.request('engine/loadModel', { modelDir, device: this.flags.device });
    this.timings.modelLoadSeconds = secondsSince(t);
    const d = this.model.device;
    this.note(`device: ${d.provider} (${d.adapter}, ${d.dtype})${d.fallbackReason ? `; WebGPU skipped: ${d.fallbackReason}` : ''}`);
    return { engine: this.engine, model: this.model };
  }

  // ---- workspace state -----------------------------------------------------------------------------

  /** Loads a saved state into the engine; null (with a note saying why) when there is none or it cannot be used. */
  private async loadSaved(stateFile: string): Promise<StateSummary | null> {
    if (this.flags.fresh) return null;
    if (!existsSync(stateFile)) {
      this.note(`no saved state at ${stateFile}`);
      return null;
    }
    const { engine } = await this.connect();
    try {
      const loaded = await engine.request('state/load', { path: stateFile });
      this.timings.stateLoadSeconds = loaded.seconds;
      return loaded.state;
    } catch (err) {
      if (!(err instanceof EngineError) || !['state-mismatch', 'state-corrupt', 'not-found'].includes(err.code)) throw err;
      this.note(`the saved state cannot be used: ${err.message}`);
      return null;
    }
  }

  /**
   * Brings the engine's state of `root` up to date: reads what is new or changed since the `loaded` state
   * (everything when there is none), and saves the state when it changed. An interrupted read saves what
   * was read, so the next run continues from there.
   */
  private async update(root: string, stateFile: string, loaded: StateSummary | null, report: Report): Promise<void> {
    const { engine } = await this.connect();
    const { result, skipped } = await this.ingest(engine, root);
    report.ingest = ingestReport(result, skipped);
    if (loaded === null || result.filesIngested > 0 || result.filesReused !== loaded.files || result.cancelled) {
      const saved = await engine.request('state/save', { path: stateFile });
      this.timings.saveSeconds = saved.seconds;
      report.stateFileBytes = saved.bytes;
    } else {
      report.stateFileBytes = statSync(stateFile).size;
    }
    if (result.cancelled) {
      throw new Interrupted(`stopped after ${result.filesIngested + result.filesReused} files; their state is saved in ${stateFile}, run again to continue`);
    }
  }

  /** Runs workspace/ingest with a progress line on stderr. */
  private async ingest(engine: EngineClient, root: string): Promise<{ result: IngestResult; skipped: SkippedEntry[] }> {
    const progress = new ProgressLine();
    const stream = engine.stream('workspace/ingest', { root, fresh: this.flags.fresh }, { signal: this.interrupt.signal });
    let skipped: SkippedEntry[] = [];
    for await (const chunk of stream) {
      if (chunk.kind === 'walked') {
        skipped = chunk.skipped;
        const reused = chunk.filesReused > 0 ? `, ${chunk.filesReused} unchanged in the saved state` : '';
        progress.done(`walked ${root}: ${chunk.filesTotal} files (${formatBytes(chunk.bytesTotal)})${reused}, ${skipped.length} skipped`);
        for (const s of skipped) if (s.reason !== 'excluded') progress.done(`  skipped ${s.path}: ${s.reason} (${s.detail})`);
      } else {
        progress.update(
          `ingest: ${chunk.filesDone}/${chunk.filesTotal} files, ${formatBytes(chunk.bytesDone)}/${formatBytes(chunk.bytesTotal)}, ` +
            `${formatCount(chunk.tokensDone)} tokens, ${formatCount(chunk.tokensPerSecond)} tok/s  ${chunk.currentFile}`,
        );
      }
    }
    const result = await stream.result;
    this.timings.ingestSeconds = result.seconds;
    progress.done(
      `ingested ${result.filesIngested} files, ${formatCount(result.tokensIngested)} tokens in ${result.seconds.toFixed(2)} s` +
        (result.tokensIngested > 0 ? ` (${formatCount(result.tokensPerSecond)} tok/s)` : '') +
        (result.filesReused > 0 ? `; ${result.filesReused} files reused from the saved state` : '') +
        (result.cancelled ? ' (interrupted)' : ''),
    );
    return { result, skipped };
  }

  /** Streams an answer to stdout (unless --json) and returns the final result. */
  private async answer(stream: AsyncIterable<{ text: string }> & { result: Promise<AnswerResult> }): Promise<AnswerResult> {
    for await (const delta of stream) if (!this.flags.json) process.stdout.write(delta.text);
    const result = await stream.result;
    if (!this.flags.json) process.stdout.write('\n');
    process.stderr.write(
      `(${result.tokens} tokens, ${result.stopReason}; first token after ${result.timings.firstTokenSeconds.toFixed(3)} s, ` +
        `${result.tokensPerSecond.toFixed(1)} tok/s, ${result.timings.totalSeconds.toFixed(2)} s in all)\n`,
    );
    if (result.cancelled) throw new Interrupted('answer interrupted');
    return result;
  }

  private newReport(command: string, root: string | null, stateFile: string | null): Report {
    const m = this.model!;
    return {
      command,
      root,
      stateFile,
      model: { dir: m.model.dir, modelId: m.model.modelId },
      device: m.device,
      answer: null,
      tokensIngested: 0,
      stateBytes: null,
      stateFileBytes: null,
      tokensPerSecond: { ingest: null, answer: null },
      state: null,
      ingest: null,
      answers: [],
      timings: this.timings,
      notes: this.notes,
    };
  }

  /** Fills the state fields from the engine's status, and prints the report with --json. */
  private async finish(report: Report): Promise<void> {
    const status = await this.engine!.request('engine/status', {});
    report.state = status.state;
    report.tokensIngested = status.state?.tokens ?? 0;
    report.stateBytes = status.state?.stateBytes ?? null;
    if (report.ingest && report.ingest.tokensIngested > 0) report.tokensPerSecond.ingest = report.ingest.tokensPerSecond;
    const lastAnswer = report.answers[report.answers.length - 1];
    if (lastAnswer) {
      report.answer = lastAnswer.answer;
      report.tokensPerSecond.answer = lastAnswer.tokensPerSecond;
    }
    this.timings.totalSeconds = secondsSince(this.started);
    if (this.flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  }

  // ---- commands ----------------------------------------------------------------------------------------

  async ingestCommand(root: string): Promise<void> {
    const stateFile = this.flags.state ?? defaultStateFile(root);
    await this.connect();
    const report = this.newReport('ingest', root, stateFile);
    await this.update(root, stateFile, await this.loadSaved(stateFile), report);
    await this.finish(report);
    if (!this.flags.json) {
      const s = report.state!;
      process.stdout.write(
        `${s.files} files, ${formatCount(s.tokens)} tokens in a ${formatBytes(s.stateBytes)} working memory; ` +
          `saved to ${stateFile} (${formatBytes(report.stateFileBytes ?? 0)})\n`,
      );
    }
  }

  async askCommand(root: string, question: string): Promise<void> {
    const stateFile = this.flags.state ?? defaultStateFile(root);
    const { engine } = await this.connect();
    const report = this.newReport('ask', root, stateFile);
    await this.update(root, stateFile, await this.loadSaved(stateFile), report);
    const t = performance.now();
    const result = await this.answer(engine.stream('engine/ask', { question, options: this.flags.generation }, { signal: this.interrupt.signal }));
    this.timings.answerSeconds = secondsSince(t);
    report.answers.push({ question, ...result });
    await this.finish(report);
  }

  async summarizeCommand(file: string): Promise<void> {
    const { engine } = await this.connect();
    const { root, stateFile, loaded } = await this.workspaceOf(file);
    const report = this.newReport('summarize', root, stateFile);
    await this.update(root, stateFile, loaded, report);
    const rel = path.relative(root, file).split(path.sep).join('/');
    const t = performance.now();
    const result = await this.answer(engine.stream('engine/summarize', { path: rel, options: this.flags.generation }, { signal: this.interrupt.signal }));
    this.timings.answerSeconds = secondsSince(t);
    report.answers.push({ question: questions.summarize(rel), ...result });
    await this.finish(report);
  }

  /**
   * The workspace of a file: with --state, the folder that state was made of when it contains the file;
   * otherwise the nearest folder above the file with a saved state; else the file's own folder.
   */
  private async workspaceOf(file: string): Promise<{ root: string; stateFile: string; loaded: StateSummary | null }> {
    if (this.flags.state) {
      const loaded = await this.loadSaved(this.flags.state);
      const root = loaded && isInside(file, loaded.root) ? loaded.root : path.dirname(file);
      return { root, stateFile: this.flags.state, loaded };
    }
    let root = path.dirname(file);
    for (let dir = root; ; dir = path.dirname(dir)) {
      if (existsSync(defaultStateFile(dir))) {
        root = dir;
        break;
      }
      if (path.dirname(dir) === dir) break;
    }
    const stateFile = defaultStateFile(root);
    return { root, stateFile, loaded: await this.loadSaved(stateFile) };
  }

  async statusCommand(root: string): Promise<void> {
    const stateFile = this.flags.state ?? defaultStateFile(root);
    await this.connect();
    const report = this.newReport('status', root, stateFile);
    if (await this.loadSaved(stateFile)) report.stateFileBytes = statSync(stateFile).size;
    await this.finish(report);
    if (!this.flags.json) {
      const m = report.model;
      const lines = [`model:  ${m.dir} (${m.modelId.slice(0, 12)})`, `device: ${report.device.provider} (${report.device.adapter}, ${report.device.dtype})`];
      const s = report.state;
      if (s) {
        lines.push(
          `state:  ${stateFile} (${formatBytes(report.stateFileBytes ?? 0)})`,
          `        ${s.root}: ${s.files} files, ${formatCount(s.tokens)} tokens (${s.blocks} blocks + ${s.pendingTokens}), ` +
            `working memory ${formatBytes(s.stateBytes)}, read ${s.lastUpdate}`,
        );
      } else {
        lines.push(`state:  none for ${root}`);
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    }
  }

  /** `npm start`: the whole product on the sample workspace, in the default model, with every number shown. */
  async demo(): Promise<void> {
    const root = path.join(packageRoot(__dirname), 'samples', 'demo-workspace');
    if (!existsSync(root)) throw new Error(`the demo workspace is missing: ${root}`);
    // With --json, stdout carries the JSON report only; the demo's narration goes to stderr.
    const write = (text: string) => (this.flags.json ? process.stderr : process.stdout).write(text);
    const out = (line = '') => write(`${line}\n`);
    out(`Famulus demo: reading ${path.relative(process.cwd(), root) || root} into a FAM working memory`);
    const { engine, model } = await this.connect();
    const m = model.model;
    out(`model:  ${m.dir} (id ${m.modelId.slice(0, 12)}; ${m.layers} layers, width ${m.hiddenSize}, ` +
      `block ${m.blockSize}, FAM ${m.famLength}, memory ${m.memorySegments} blocks), loaded in ${model.seconds.toFixed(2)} s`);
    if (this.notes.some((n) => n.includes('tiny test model'))) {
      out('        this is the tiny RANDOM test model: the answers below are gibberish until a trained model is in model/weights/default/');
    }
    const d = model.device;
    out();

    const report = this.newReport('demo', root, null);
    // The demo reads from scratch and keeps its state in a temporary file, adding nothing to the sample.
    const { result: ingest, skipped } = await this.ingest(engine, root);
    if (ingest.cancelled) throw new Interrupted('demo interrupted');
    report.ingest = ingestReport(ingest, skipped);
    const s = ingest.state!;
    out(`read ${s.files} files, ${formatCount(s.tokens)} tokens in ${ingest.seconds.toFixed(2)} s ` +
      `(${formatCount(ingest.tokensPerSecond)} tok/s); working memory ${formatBytes(s.stateBytes)}, whatever the workspace size`);

    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-demo-'));
    try {
      const stateFile = path.join(tmp, 'state.fams');
      const saved = await engine.request('state/save', { path: stateFile });
      const loaded = await engine.request('state/load', { path: stateFile });
      report.stateFileBytes = saved.bytes;
      this.timings.saveSeconds = saved.seconds;
      this.timings.stateLoadSeconds = loaded.seconds;
      out(`state file: ${formatBytes(saved.bytes)}, saved in ${saved.seconds.toFixed(3)} s, loaded back in ${loaded.seconds.toFixed(3)} s`);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }

    const asks = [questions.whereDefined('retryWithBackoff'), questions.whatDoes('summarize_runs')];
    let answerSeconds = 0;
    for (const question of asks) {
      out();
      out(`Q: ${question}`);
      write('A: ');
      const result = await this.answer(engine.stream('engine/ask', { question, options: this.flags.generation }, { signal: this.interrupt.signal }));
      answerSeconds += result.timings.totalSeconds;
      report.answers.push({ question, ...result });
    }
    const file = 'src/queue.ts';
    out();
    out(`Summary of ${file}:`);
    const summary = await this.answer(engine.stream('engine/summarize', { path: file, options: this.flags.generation }, { signal: this.interrupt.signal }));
    answerSeconds += summary.timings.totalSeconds;
    report.answers.push({ question: questions.summarize(file), ...summary });
    this.timings.answerSeconds = answerSeconds;

    await this.finish(report);
    const t = this.timings;
    out();
    out(`device ${d.provider} (${d.adapter}, ${d.dtype}); ${formatCount(report.tokensIngested)} tokens read at ${formatCount(ingest.tokensPerSecond)} tok/s; ` +
      `answers at ${averageRate(report.answers).toFixed(1)} tok/s; working memory ${formatBytes(report.stateBytes ?? 0)}, state file ${formatBytes(report.stateFileBytes ?? 0)}`);
    out(`timings: model load ${fmt(t.modelLoadSeconds)} s, ingest ${fmt(t.ingestSeconds)} s, save ${fmt(t.saveSeconds)} s, ` +
      `load ${fmt(t.stateLoadSeconds)} s, answers ${fmt(t.answerSeconds)} s, total ${fmt(t.totalSeconds)} s`);
  }
}

function ingestReport(result: IngestResult, skipped: SkippedEntry[]): NonNullable<Report['ingest']> {
  const { state: _state, skipped: _count, ...rest } = result;
  return { ...rest, skipped };
}

/** Decode speed over all answers: tokens after each first token over the time after it. */
function averageRate(answers: AnswerResult[]): number {
  let tokens = 0;
  let seconds = 0;
  for (const a of answers) {
    if (a.tokens < 2) continue;
    tokens += a.tokens - 1;
    seconds += a.timings.totalSeconds - a.timings.firstTokenSeconds;
  }
  return seconds > 0 ? tokens / seconds : 0;
}

function isInside(file: string, dir: string): boolean {
  const rel = path.relative(dir, file);
  // '..foo' is a name inside dir; '..' and '../x' are not.
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

/**
 * A status line on stderr: rewritten in place on a terminal; elsewhere (logs, pipes) printed at most every
 * two seconds so a log stays readable.
 */
class ProgressLine {
  private readonly tty = process.stderr.isTTY === true;
  private shown = false;
  private lastPrinted = 0;

  update(line: string): void {
    if (this.tty) {
      const width = process.stderr.columns ?? 120;
      process.stderr.write(`\r\x1b[K${line.slice(0, width - 1)}`);
      this.shown = true;
    } else if (performance.now() - this.lastPrinted >= 2000) {
      this.lastPrinted = performance.now();
      process.stderr.write(`${line}\n`);
    }
  }

  done(line: string): void {
    process.stderr.write(`${this.tty && this.shown ? '\r\x1b[K' : ''}${line}\n`);
    this.shown = false;
  }
}

function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

const fmt = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(2));

function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
