/**
 * famulus: the command line. A client of the engine process (dist/engine.js, started through
 * ./engine/client.ts), like the extension. Results go to stdout (text, or one JSON object with --json);
 * progress, notes and errors go to stderr. Exit codes: 0 done, 1 error, 130 interrupted.
 *
 * Text for the terminal can come from a hostile workspace (file names, .gitignore rules, answers): its control
 * characters are printed escaped (`\x1b`), never raw.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { defaultModelDir, packageRoot } from './loader/model-dir';
import { isCancellation } from './engine/cancellation';
import { EngineClient, type EngineProcess } from './engine/client';
import { questions } from './engine/prompt';
import {
  DEFAULT_HISTORY_TOKENS,
  DEFAULT_MAX_NEW_TOKENS,
  DEFAULT_REPETITION_PENALTY,
  DEFAULT_REREAD_TOKENS,
  MEMORY_FILES,
  type AnswerResult,
  type AskRequest,
  type BundleResult,
  type ContextRef,
  type DeviceChoice,
  type DeviceInfo,
  type GenerationSettings,
  type Grounding,
  type ImportResult,
  type LoadModelResult,
  type ReadMode,
  type ReadSummary,
  type RereadSettings,
  type StateSummary,
  type Turn,
  type WorkspaceResult,
} from './engine/protocol';
import { broadRootReason, isSystemFolder } from './workspace/paths';
import { DEFAULT_MAX_FILE_BYTES } from './workspace/walker';

const USAGE = `famulus: reads a whole workspace into a FAM model's working memory and answers from it.

Usage:
  famulus                              demo: ingest samples/demo-workspace, ask, summarise
  famulus ingest <dir>                 read <dir> into memory and save it (default in <dir>/.famulus/)
  famulus ingest <dir> --bundle <file> the same, then write the memory as a bundle file for others
                                       (docs/team-memory.md); with the git commit of <dir>
  famulus import <file|url> <dir>      check a bundle, make it the memory of <dir>, and read only the
                                       files that differ from it (https; http only from localhost)
  famulus ask <dir> "<question>" ["<follow-up>" ...]
                                       answer from the saved memory of <dir> (read first if needed); each
                                       later question is asked with the questions and answers before it,
                                       unless it names its own subject (a definition or file of <dir>) and
                                       does not point back (it, this, and …), as in the chat
  famulus summarize <file>             summarise a file of the workspace that contains it (or, when no
                                       saved memory holds it, that file alone; nothing is saved)
  famulus status [<dir>]               model, device, and the saved memory of <dir> (default: .)

Options:
  --memory <dir>        where the workspace's memory is saved (default: <dir>/.famulus)
  --model <dir>         model folder (default: the model that ships, model/weights/default)
  --device <d>          auto | cpu | webgpu (default: $FAMULUS_DEVICE, else auto)
  --max-tokens <n>      longest answer in tokens (default ${DEFAULT_MAX_NEW_TOKENS})
  --temperature <t>     0 = greedy (default 0)
  --top-p <p>           nucleus sampling threshold in (0, 1] (default 1)
  --repeat-penalty <r>  on tokens the answer already used: 1 (off) to 2 (default ${DEFAULT_REPETITION_PENALTY})
  --reread-tokens <n>   most tokens of workspace code re-read before each answer (default: ${DEFAULT_REREAD_TOKENS.cpu}
                        on a CPU, ${DEFAULT_REREAD_TOKENS.webgpu} on a GPU)
  --no-reread           answer from the memory alone, without re-reading code (for comparison)
  --context <path[:a-b]>  re-read this file (or its lines a to b) before anything else; repeatable
  --history-tokens <n>  most tokens of earlier questions and answers a follow-up sees (default:
                        ${DEFAULT_HISTORY_TOKENS.cpu} on a CPU, ${DEFAULT_HISTORY_TOKENS.webgpu} on a GPU)
  --fresh               read the workspace from scratch instead of reusing the saved memory
  --bundle <file>       (ingest) write the memory as a bundle to <file>
  --commit <sha>        (ingest --bundle) the commit recorded in the bundle (default: git HEAD of <dir>)
  --no-default-excludes read changelogs, lock files, minified and generated files too (skipped by default)
  --allow-broad-root    read <dir> even when it is / or your home folder (or a folder above it)
  --json                print one JSON object on stdout
  --verbose             show the engine's log on stderr
  -h, --help            this text

ask, summarize and ingest keep the saved memory up to date: new and changed files are read on top of it;
once old versions would make up a third of what it read, the workspace is read again from scratch. When the
memory cannot be saved (a full disk, a read-only folder), ask and summarize answer from what was read and say
why; ingest fails. A folder of the system (/etc, /usr, ...) is read only with --memory elsewhere.`;

/** A mistake in how famulus was called: printed with a hint to --help. */
class UsageError extends Error {}

/** The user interrupted (Ctrl-C). */
class Interrupted extends Error {}

interface Flags {
  json: boolean;
  verbose: boolean;
  fresh: boolean;
  allowBroadRoot: boolean;
  /** --no-default-excludes: read what the walker skips by default (changelogs, lock files, minified files). */
  readAll: boolean;
  memory?: string;
  model?: string;
  device: DeviceChoice;
  generation: GenerationSettings;
  reread: RereadSettings;
  /** --context: code re-read before each question, paths absolute. */
  context: ContextRef[];
  historyTokens?: number;
  /** --bundle: where ingest writes the memory as a bundle. */
  bundle?: string;
  /** --commit: the commit a bundle records. */
  commit?: string;
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
  ingest: (ReadSummary & { cancelled: boolean }) | null;
  answers: Array<{ question: string; answer: string } & AnswerResult>;
  /** The bundle ingest --bundle wrote, or the one import used; null for other commands. */
  bundle: BundleResult | ImportResult['bundle'] | null;
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
        memory: { type: 'string' },
        model: { type: 'string' },
        device: { type: 'string' },
        'max-tokens': { type: 'string' },
        temperature: { type: 'string' },
        'top-p': { type: 'string' },
        'repeat-penalty': { type: 'string' },
        fresh: { type: 'boolean', default: false },
        'no-default-excludes': { type: 'boolean', default: false },
        'allow-broad-root': { type: 'boolean', default: false },
        'no-reread': { type: 'boolean', default: false },
        'reread-tokens': { type: 'string' },
        context: { type: 'string', multiple: true },
        'history-tokens': { type: 'string' },
        bundle: { type: 'string' },
        commit: { type: 'string' },
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
    return fail(cli?.interruption(err) ?? err);
  } finally {
    await cli?.close();
  }
}

function fail(err: unknown): number {
  if (err instanceof Interrupted) {
    process.stderr.write(`famulus: ${forTerminal(err.message)}\n`);
    return 130;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`famulus: ${forTerminal(message)}\n`);
  if (err instanceof UsageError) process.stderr.write('Run famulus --help for the commands and options.\n');
  return 1;
}

function readFlags(values: Record<string, string | string[] | boolean | undefined>): Flags {
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
  const reread: RereadSettings = {};
  if (values['no-reread'] === true) reread.enabled = false;
  const rereadTokens = number('reread-tokens', (x) => Number.isInteger(x) && x >= 0 && x <= 1 << 20, 'a whole number ≥ 0');
  if (rereadTokens !== undefined) reread.tokens = rereadTokens;
  const historyTokens = number('history-tokens', (x) => Number.isInteger(x) && x >= 0 && x <= 1 << 20, 'a whole number ≥ 0');
  const context = ((values.context as string[] | undefined) ?? []).map(contextRef);
  const flags: Flags = {
    json: values.json === true,
    verbose: values.verbose === true,
    fresh: values.fresh === true,
    allowBroadRoot: values['allow-broad-root'] === true,
    readAll: values['no-default-excludes'] === true,
    device,
    generation,
    reread,
    context,
  };
  if (historyTokens !== undefined) flags.historyTokens = historyTokens;
  if (typeof values.memory === 'string') flags.memory = path.resolve(values.memory);
  if (typeof values.bundle === 'string') flags.bundle = path.resolve(values.bundle);
  if (typeof values.commit === 'string') {
    if (!/^[0-9a-f]{7,64}$/.test(values.commit)) throw new UsageError(`--commit takes a git commit id (hex), got "${values.commit}"`);
    flags.commit = values.commit;
  }
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
      if (args.length < 2) throw new UsageError(`ask takes <dir> "<question>" ["<follow-up>" ...], got ${args.length} argument(s)`);
      const root = existingDir(args[0]!);
      const asked = args.slice(1).map((q) => q.trim());
      if (asked.some((q) => !q)) throw new UsageError('a question is empty');
      return (cli) => cli.askCommand(root, asked);
    }
    case 'import': {
      expect(2, '<file|url> <dir>');
      const root = existingDir(args[1]!);
      return (cli) => cli.importCommand(args[0]!, root);
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

/** `path`, `path:12` or `path:12-30` (a --context value) as a context entry with an absolute path. */
function contextRef(value: string): ContextRef {
  const m = /^(.+?)(?::(\d+)(?:-(\d+))?)?$/.exec(value);
  if (!m || !m[1]) throw new UsageError(`--context takes path[:start-end], got "${value}"`);
  const ref: ContextRef = { path: path.resolve(m[1]) };
  if (m[2] !== undefined) {
    ref.startLine = Number(m[2]);
    ref.endLine = Number(m[3] ?? m[2]);
    if (ref.startLine < 1 || ref.endLine < ref.startLine) throw new UsageError(`--context ${value}: lines must be 1 or more, the end not before the start`);
  }
  return ref;
}

function existingDir(p: string): string {
  const abs = path.resolve(p);
  if (!existsSync(abs)) throw new UsageError(`no such folder: ${abs}`);
  if (!statSync(abs).isDirectory()) throw new UsageError(`not a folder: ${abs}`);
  return abs;
}

/** Where a workspace's memory is saved unless --memory says otherwise. */
function defaultMemoryDir(root: string): string {
  return path.join(root, '.famulus');
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
    process.stderr.write(`${oneLine(line)}\n`);
  }

  /** After a Ctrl-C, a request that then fails as cancelled (or is not sent at all) failed of the interrupt. */
  interruption(err: unknown): unknown {
    return this.interrupt.signal.aborted && isCancellation(err) && !(err instanceof Interrupted) ? new Interrupted('interrupted') : err;
  }

  /** Where the memory of `root` is saved: --memory, else `<root>/.famulus`, never inside a system folder. */
  private memoryDirFor(root: string): string {
    if (this.flags.memory) return this.flags.memory;
    if (isSystemFolder(root)) {
      throw new UsageError(`${root} is a folder of the system: Famulus saves no memory inside it; pass --memory <dir> to save it elsewhere`);
    }
    return defaultMemoryDir(root);
  }

  /** Refuses to read the filesystem root, the home folder or a folder above it, unless --allow-broad-root. */
  private async checkRoot(root: string): Promise<void> {
    if (this.flags.allowBroadRoot) return;
    const broad = await broadRootReason(root);
    if (broad) {
      throw new UsageError(`refusing to read ${root}: it is ${broad}, and reading it would read every file in it; name a project folder, or pass --allow-broad-root to read it anyway`);
    }
  }

  /** Starts the engine and loads the model; says which model and which device. */
  private async connect(): Promise<{ engine: EngineClient; model: LoadModelResult }> {
    if (this.engine && this.model) return { engine: this.engine, model: this.model };
    const spawnOptions: Parameters<typeof EngineClient.spawn>[0] = {};
    if (this.flags.verbose) spawnOptions.onStderr = (text) => process.stderr.write(forTerminal(text));
    this.engine = EngineClient.spawn(spawnOptions);
    const modelDir = this.flags.model ?? defaultModelDir((line) => this.note(line));
    const t = performance.now();
    this.model = await this.engine.request('engine/loadModel', { modelDir, device: this.flags.device });
    this.timings.modelLoadSeconds = secondsSince(t);
    const d = this.model.device;
    this.note(`device: ${d.provider} (${d.adapter}, ${d.dtype})${d.fallbackReason ? `; WebGPU skipped: ${d.fallbackReason}` : ''}`);
    this.note(`family: ${this.model.model.family}`);
    this.note(`memory: ${this.model.model.memoryMode}`);
    return { engine: this.engine, model: this.model };
  }

  // ---- workspace memory -----------------------------------------------------------------------------

  /**
   * Opens `root` in the engine, which restores its saved memory (or, with `bundle`, checks that bundle and
   * makes it the memory) and (unless `mode` is 'restore') reads what is new or changed and saves; progress on
   * stderr. An interrupted read keeps and saves what was read, so the next run continues from there.
   */
  private async open(root: string, memoryDir: string | null, mode: ReadMode, report: Report, bundle?: string): Promise<WorkspaceResult> {
    const { engine } = await this.connect();
    const progress = new ProgressLine();
    const request = {
      root,
      ...(memoryDir === null ? {} : { memoryDir }),
      ...(this.flags.allowBroadRoot ? { allowBroadRoot: true } : {}),
      ...(this.flags.readAll ? { walker: { defaultExcludes: [], skipMinified: false } } : {}),
    };
    const stream =
      bundle === undefined
        ? engine.stream('workspace/open', { ...request, mode }, { signal: this.interrupt.signal })
        : engine.stream('workspace/import', { ...request, source: bundle }, { signal: this.interrupt.signal });
    for await (const chunk of stream) {
      if (chunk.kind === 'restored') {
        this.timings.stateLoadSeconds = chunk.seconds;
        const what = bundle === undefined ? 'memory restored' : 'bundle checked and adopted';
        progress.done(`${what}: ${chunk.state.files} files, ${formatCount(chunk.state.tokens)} tokens (${chunk.seconds.toFixed(2)} s)`);
      } else if (chunk.kind === 'walked') {
        const reused = chunk.filesReused > 0 ? `, ${chunk.filesReused} unchanged in memory` : '';
        progress.done(`walked ${root}: ${chunk.filesTotal} files (${formatBytes(chunk.bytesTotal)})${reused}, ${chunk.skipped.length} skipped`);
        for (const s of chunk.skipped) if (s.reason !== 'excluded') progress.done(`  skipped ${s.path}: ${s.reason} (${s.detail})`);
      } else {
        const percent = chunk.bytesTotal > 0 ? Math.floor((100 * chunk.bytesDone) / chunk.bytesTotal) : 100;
        progress.update(
          `reading: ${percent}%, ${chunk.filesDone}/${chunk.filesTotal} files, ${formatBytes(chunk.bytesDone)}/${formatBytes(chunk.bytesTotal)}, ` +
            `${formatCount(chunk.tokensDone)} tokens, ${formatCount(chunk.tokensPerSecond)} tok/s  ${chunk.currentFile}`,
        );
      }
    }
    const result = await stream.result;
    if (bundle !== undefined) report.bundle = (result as ImportResult).bundle;
    if (result.restoreProblem) this.note(result.restoreProblem);
    const read = result.read;
    if (read) {
      this.timings.ingestSeconds = read.seconds;
      report.ingest = { ...read, cancelled: result.cancelled };
      progress.done(
        `read ${read.filesIngested} files, ${formatCount(read.tokensIngested)} tokens in ${read.seconds.toFixed(2)} s` +
          (read.tokensIngested > 0 ? ` (${formatCount(read.tokensPerSecond)} tok/s)` : '') +
          (read.filesReused > 0 ? `; ${read.filesReused} files kept from memory` : '') +
          (result.cancelled ? ' (interrupted)' : ''),
      );
    }
    if (result.saved) this.timings.saveSeconds = result.saved.seconds;
    if (result.saveProblem) this.note(`the memory was read but not saved: ${result.saveProblem}`);
    // The state file alone, saved now or before (result.saved counts the index file too).
    if (report.stateFile && existsSync(report.stateFile)) report.stateFileBytes = statSync(report.stateFile).size;
    if (result.cancelled) {
      const files = result.state?.files ?? 0;
      const kept = memoryDir !== null && result.saveProblem === null ? `they are saved in ${memoryDir}, run again to continue` : 'nothing was saved';
      throw new Interrupted(`stopped after ${files} files; ${kept}`);
    }
    return result;
  }

  /** Streams an answer to stdout (unless --json) and returns the final result. */
  private async answer(stream: AsyncIterable<{ text: string }> & { result: Promise<AnswerResult> }): Promise<AnswerResult & { answer: string }> {
    let answer = '';
    for await (const delta of stream) {
      answer += delta.text;
      if (!this.flags.json) process.stdout.write(forTerminal(delta.text));
    }
    const result = { ...(await stream.result), answer };
    if (!this.flags.json) process.stdout.write(`\n${groundingLines(result.grounding).map(oneLine).join('\n')}\n`);
    process.stderr.write(
      result.tokens === 0 && !result.cancelled
        ? `(quoted from the code, ${result.timings.totalSeconds.toFixed(3)} s)\n`
        : `(${result.tokens} tokens, ${result.stopReason}; first token after ${result.timings.firstTokenSeconds.toFixed(3)} s, ` +
            `${result.tokensPerSecond.toFixed(1)} tok/s, ${result.timings.totalSeconds.toFixed(2)} s in all)\n`,
    );
    if (result.cancelled) throw new Interrupted('answer interrupted');
    return result;
  }

  private newReport(command: string, root: string | null, memoryDir: string | null): Report {
    const m = this.model!;
    return {
      command,
      root,
      stateFile: memoryDir && path.join(memoryDir, MEMORY_FILES.state),
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
      bundle: null,
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
    const memoryDir = this.memoryDirFor(root);
    await this.checkRoot(root);
    await this.connect();
    const report = this.newReport('ingest', root, memoryDir);
    const opened = await this.open(root, memoryDir, this.flags.fresh ? 'fresh' : 'read', report);
    // Saving is what ingest is for.
    if (opened.saveProblem) throw new Error(`the workspace was read but its memory was not saved: ${opened.saveProblem}`);
    if (this.flags.bundle) {
      const commit = this.flags.commit ?? gitHead(root);
      const written = await this.engine!.request('workspace/bundle', { file: this.flags.bundle, ...(commit ? { commit } : {}) });
      this.timings.bundleSeconds = written.seconds;
      report.bundle = written;
      this.note(`bundle written: ${written.file} (${formatBytes(written.bytes)}, ${written.files} files, ${formatCount(written.tokens)} tokens` +
        `${written.commit ? `, commit ${written.commit.slice(0, 12)}` : ', no git commit'}; sha256 ${written.sha256.slice(0, 16)}...)`);
    }
    await this.finish(report);
    if (!this.flags.json) {
      const s = report.state!;
      process.stdout.write(
        oneLine(`${s.files} files, ${formatCount(s.tokens)} tokens in a ${formatBytes(s.stateBytes)} working memory; ` +
          `saved to ${report.stateFile} (${formatBytes(report.stateFileBytes ?? 0)})`) + '\n',
      );
    }
  }

  /**
   * Makes a bundle (a path or URL) the memory of `root` after checking it, then reads what differs here; says
   * how far the workspace is from the bundle ("memory from the bundle at abc1234 + 3 local changes").
   */
  async importCommand(bundle: string, root: string): Promise<void> {
    const memoryDir = this.memoryDirFor(root);
    await this.checkRoot(root);
    await this.connect();
    const report = this.newReport('import', root, memoryDir);
    const opened = await this.open(root, memoryDir, 'read', report, bundle);
    if (opened.saveProblem) throw new Error(`the bundle was imported but the memory was not saved: ${opened.saveProblem}`);
    await this.finish(report);
    if (!this.flags.json) process.stdout.write(`${oneLine(originLine(report.state!))}; saved to ${report.stateFile}\n`);
  }

  /**
   * Asks the questions in turn, each later one with the questions and answers before it: the engine decides
   * which of them it sees (retrieval.ts conversationOf, the rule the chat's questions follow too).
   */
  async askCommand(root: string, asked: string[]): Promise<void> {
    const memoryDir = this.memoryDirFor(root);
    await this.checkRoot(root);
    const { engine } = await this.connect();
    const report = this.newReport('ask', root, memoryDir);
    await this.open(root, memoryDir, this.flags.fresh ? 'fresh' : 'read', report);
    const t = performance.now();
    const history: Turn[] = [];
    for (const question of asked) {
      if (history.length > 0 && !this.flags.json) process.stdout.write(`\n> ${oneLine(question)}\n`);
      const request: AskRequest = { question, options: this.flags.generation, reread: this.flags.reread, history: [...history], context: this.flags.context };
      if (this.flags.historyTokens !== undefined) request.historyTokens = this.flags.historyTokens;
      const result = await this.answer(engine.stream('engine/ask', request, { signal: this.interrupt.signal }));
      report.answers.push({ question, ...result });
      history.push({ question, answer: result.answer });
    }
    this.timings.answerSeconds = secondsSince(t);
    await this.finish(report);
  }

  async summarizeCommand(file: string): Promise<void> {
    await this.connect();
    const root = this.flags.memory ? await this.rootOfMemory(file, this.flags.memory) : workspaceOf(file);
    if (root === null) return this.summarizeAlone(file);
    const memoryDir = this.flags.memory ?? defaultMemoryDir(root);
    await this.checkRoot(root);
    const report = this.newReport('summarize', root, memoryDir);
    await this.open(root, memoryDir, this.flags.fresh ? 'fresh' : 'read', report);
    await this.summarizeIn(path.relative(root, file).split(path.sep).join('/'), report);
  }

  /**
   * Summarises a file that no saved memory holds from that file alone: a copy of it in a private temporary
   * folder is read, with no memory saved, and the folder is removed. Its own folder is not read
   * (`summarize /etc/hostname` used to read all of /etc, and to save /etc/.famulus/): a lone file is read in
   * seconds, and a memory saved for it would be found by nothing.
   */
  private async summarizeAlone(file: string): Promise<void> {
    const { size } = statSync(file);
    if (size > DEFAULT_MAX_FILE_BYTES) throw new Error(`${file} has ${size} bytes, more than Famulus reads of a file (${DEFAULT_MAX_FILE_BYTES})`);
    this.note(`${file} is in no folder with a saved memory: summarising it alone, nothing saved`);
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-file-'));
    try {
      const name = path.basename(file);
      await fs.copyFile(file, path.join(tmp, name));
      const report = this.newReport('summarize', null, null);
      await this.open(tmp, null, 'fresh', report);
      await this.summarizeIn(name, report);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }

  /** Streams the summary of `rel`, a file of the open workspace, and finishes the report. */
  private async summarizeIn(rel: string, report: Report): Promise<void> {
    const t = performance.now();
    const result = await this.answer(this.engine!.stream('engine/summarize', { path: rel, options: this.flags.generation, reread: this.flags.reread }, { signal: this.interrupt.signal }));
    this.timings.answerSeconds = secondsSince(t);
    report.answers.push({ question: questions.summarize(rel), ...result });
    await this.finish(report);
  }

  /**
   * The workspace a --memory folder holds the memory of, for a file inside it: the nearest folder above the file
   * whose saved memory that is (a restore reads nothing and saves nothing). With no memory saved there, null:
   * the file is summarised alone. A memory of a folder that does not contain the file is refused: reading
   * another folder into it would overwrite it.
   */
  private async rootOfMemory(file: string, memoryDir: string): Promise<string | null> {
    const { engine } = await this.connect();
    for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
      const probe = await engine.stream('workspace/open', { root: dir, memoryDir, mode: 'restore' }).result;
      if (probe.restored) return dir;
      if (probe.restoreProblem === null) return null;
      if (path.dirname(dir) === dir) {
        throw new UsageError(`${memoryDir} does not hold the memory of a folder containing ${file} (${probe.restoreProblem}); pass that folder's --memory`);
      }
    }
  }

  async statusCommand(root: string): Promise<void> {
    const memoryDir = this.flags.memory ?? defaultMemoryDir(root);
    await this.connect();
    const report = this.newReport('status', root, memoryDir);
    await this.open(root, memoryDir, 'restore', report);
    await this.finish(report);
    if (!this.flags.json) {
      const m = report.model;
      const lines = [`model:  ${m.dir} (${m.modelId.slice(0, 12)})`, `        ${this.model!.model.memoryMode}`,
        `device: ${report.device.provider} (${report.device.adapter}, ${report.device.dtype})`];
      const s = report.state;
      if (s) {
        lines.push(
          `memory: ${report.stateFile} (${formatBytes(report.stateFileBytes ?? 0)})`,
          `        ${s.root}: ${s.files} files, ${formatCount(s.tokens)} tokens (${s.blocks} blocks + ${s.pendingTokens}), ` +
            `working memory ${formatBytes(s.stateBytes)}, read ${s.lastUpdate}`,
        );
        lines.push(`origin: ${originLine(s)}`);
      } else {
        lines.push(`memory: none for ${root}`);
      }
      process.stdout.write(`${lines.map(oneLine).join('\n')}\n`);
    }
  }

  /** `npm start`: the whole product on the sample workspace, in the default model, with every number shown. */
  async demo(): Promise<void> {
    const root = path.join(packageRoot(__dirname), 'samples', 'demo-workspace');
    if (!existsSync(root)) throw new Error(`the demo workspace is missing: ${root}`);
    // With --json, stdout carries the JSON report only; the demo's narration goes to stderr.
    const write = (text: string) => (this.flags.json ? process.stderr : process.stdout).write(forTerminal(text));
    const out = (line = '') => write(`${line}\n`);
    out(`Famulus demo: reading ${path.relative(process.cwd(), root) || root} into a FAM working memory`);
    const { engine, model } = await this.connect();
    const m = model.model;
    out(`model:  ${m.dir} (id ${m.modelId.slice(0, 12)}; ${m.layers} layers, width ${m.hiddenSize}, ` +
      `block ${m.blockSize}, FAM ${m.famLength}, memory ${m.memorySegments} blocks), loaded in ${model.seconds.toFixed(2)} s`);
    const d = model.device;
    out();

    // The demo reads from scratch and keeps its memory in a temporary folder, adding nothing to the sample.
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-demo-'));
    const report = this.newReport('demo', root, tmp);
    try {
      const opened = await this.open(root, tmp, 'fresh', report);
      const s = opened.state!;
      const read = opened.read!;
      out(`read ${s.files} files, ${formatCount(s.tokens)} tokens in ${read.seconds.toFixed(2)} s ` +
        `(${formatCount(read.tokensPerSecond)} tok/s); working memory ${formatBytes(s.stateBytes)}, whatever the workspace size`);
      out(`memory saved: ${formatBytes(opened.saved!.bytes)} in ${opened.saved!.seconds.toFixed(3)} s`);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }

    const asks = [questions.whereDefined('retryWithBackoff'), questions.whatDoes('summarize_runs')];
    let answerSeconds = 0;
    for (const question of asks) {
      out();
      out(`Q: ${question}`);
      write('A: ');
      const result = await this.answer(engine.stream('engine/ask', { question, options: this.flags.generation, reread: this.flags.reread }, { signal: this.interrupt.signal }));
      answerSeconds += result.timings.totalSeconds;
      report.answers.push({ question, ...result });
    }
    const file = 'src/queue.ts';
    out();
    out(`Summary of ${file}:`);
    const summary = await this.answer(engine.stream('engine/summarize', { path: file, options: this.flags.generation, reread: this.flags.reread }, { signal: this.interrupt.signal }));
    answerSeconds += summary.timings.totalSeconds;
    report.answers.push({ question: questions.summarize(file), ...summary });
    this.timings.answerSeconds = answerSeconds;

    await this.finish(report);
    const t = this.timings;
    out();
    out(`device ${d.provider} (${d.adapter}, ${d.dtype}); ${formatCount(report.tokensIngested)} tokens read at ${formatCount(report.tokensPerSecond.ingest ?? 0)} tok/s; ` +
      `${answersLine(report.answers)}; working memory ${formatBytes(report.stateBytes ?? 0)}, state file ${formatBytes(report.stateFileBytes ?? 0)}`);
    out(`timings: model load ${fmt(t.modelLoadSeconds)} s, read ${fmt(t.ingestSeconds)} s, save ${fmt(t.saveSeconds)} s, ` +
      `answers ${fmt(t.answerSeconds)} s, total ${fmt(t.totalSeconds)} s`);
  }
}

/** Where a memory came from, in words: "memory from the bundle at abc1234 + 3 local changes", or read here. */
function originLine(s: StateSummary): string {
  const o = s.origin;
  if (!o) return `memory read here: ${s.files} files, ${formatCount(s.tokens)} tokens`;
  const changes = o.localChanges === 1 ? '1 local change' : `${o.localChanges} local changes`;
  return `memory from the bundle ${o.commit ? `at ${o.commit.slice(0, 7)}` : `${o.sha256.slice(0, 12)} (no commit)`} + ${changes} (${o.source})`;
}

/** The git HEAD commit of `dir`, or null when it is not in a git repository (or git is not installed). */
function gitHead(dir: string): string | null {
  try {
    const out = execFileSync('git', ['-C', dir, 'rev-parse', '--verify', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
    return /^[0-9a-f]{40,64}$/.test(out) ? out : null;
  } catch {
    return null;
  }
}

/** What an answer was grounded on, for a terminal: the code re-read, and every citation with its check. */
function groundingLines(g: Grounding): string[] {
  const lines: string[] = [];
  if (g.nothingFound) lines.push('sources: nothing relevant found in the workspace index; answered from the memory alone');
  else if (g.sources.length > 0) {
    const shown = g.sources.map((s) => {
      const notes = [s.definition, s.reason === 'context' && 'your context', s.requestedEndLine !== undefined && `cut to fit, asked for ${s.startLine}-${s.requestedEndLine}`];
      const said = notes.filter(Boolean).join('; ');
      return `${s.path}:${s.startLine}-${s.endLine}${said ? ` (${said})` : ''}`;
    });
    lines.push(`sources${g.rereadTokens > 0 ? ` (${g.rereadTokens} tokens re-read)` : ' (quoted from the code)'}: ${shown.join(', ')}`);
  }
  if (g.historyTurns > 0) lines.push(`follows ${g.historyTurns} earlier turn(s) (${g.historyTokens} tokens)`);
  for (const c of g.citations) lines.push(`${c.verified ? 'verified' : 'UNVERIFIED'}: ${c.text} (${c.note})`);
  return lines;
}

/** How the demo's answers were made: generated (at what speed) or quoted from the code. */
function answersLine(answers: AnswerResult[]): string {
  const generated = answers.filter((a) => a.tokens > 0).length;
  const quoted = answers.length - generated;
  const parts = [];
  if (generated > 0) parts.push(`${generated} answer(s) generated at ${averageRate(answers).toFixed(1)} tok/s`);
  if (quoted > 0) parts.push(`${quoted} quoted from the code`);
  return parts.join(', ');
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

/** The workspace of a file: the nearest folder above it with a saved memory, or null when there is none. */
function workspaceOf(file: string): string | null {
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(defaultMemoryDir(dir), MEMORY_FILES.state))) return dir;
    if (path.dirname(dir) === dir) return null;
  }
}

/**
 * Controls a hostile workspace could send to a terminal through a file name, a rule or an answer: the C0 and C1
 * controls (ESC starts every escape sequence; 0x9b is a one-byte CSI), DEL, and the bidirectional overrides
 * that make text read other than it is. Lines and tabs are kept in running text.
 */
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const LINE_CONTROLS = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const escaped = (c: string) => {
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
};

/** Text for a terminal (an answer, an error): controls printed escaped (`\x1b`), lines and tabs kept. */
function forTerminal(text: string): string {
  return text.replace(CONTROLS, escaped);
}

/** One line for a terminal (a path, a note): every control escaped, a newline in a file name included. */
function oneLine(text: string): string {
  return text.replace(LINE_CONTROLS, escaped);
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
      process.stderr.write(`\r\x1b[K${oneLine(line).slice(0, width - 1)}`);
      this.shown = true;
    } else if (performance.now() - this.lastPrinted >= 2000) {
      this.lastPrinted = performance.now();
      process.stderr.write(`${oneLine(line)}\n`);
    }
  }

  done(line: string): void {
    process.stderr.write(`${this.tty && this.shown ? '\r\x1b[K' : ''}${oneLine(line)}\n`);
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
