/**
 * Shared by the reliability suites (test/unit/reliability-*.test.ts and test/reliability/long.ts): a seeded
 * random generator, the engine process with the tiny model, RSS readings from /proc, and the figures file each
 * suite writes for docs/reliability.md (test/reliability/report.ts renders them).
 */
import { spawn } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient, type EngineProcess } from '../../model/engine/client';
import { MEMORY_FILES, type OpenRequest, type ReadChunk, type WorkspaceResult } from '../../model/engine/protocol';

export const REPO = path.resolve(__dirname, '../..');
export const ENGINE = path.join(REPO, 'dist/engine.js');
export const CLI = path.join(REPO, 'dist/cli.js');
export const TINY = path.join(REPO, 'test/fixtures/tiny');
export const FIGURES_DIR = path.join(REPO, 'test/artifacts/reliability');

/** The runtime's seeded generator (mulberry32), so every "random" run can be replayed from its seed. */
export { seededRandom as rng } from '../../model/runtime/sampling';

/** Writes one suite's figures (merged into what the suite wrote before under other keys). */
export async function writeFigures(suite: string, figures: Record<string, unknown>): Promise<void> {
  await fs.mkdir(FIGURES_DIR, { recursive: true });
  const file = path.join(FIGURES_DIR, `${suite}.json`);
  let old: Record<string, unknown> = {};
  try {
    old = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    old = {};
  }
  const merged = { ...old, ...figures, updated: new Date().toISOString(), host: `${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, node ${process.version}` };
  await fs.writeFile(file, `${JSON.stringify(merged, null, 2)}\n`);
}

/** Resident set size of a process in bytes (VmRSS of /proc/<pid>/status). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** An engine process with the tiny model loaded on the CPU (one thread: bit-reproducible states). */
export async function tinyEngine(env: NodeJS.ProcessEnv = {}, onStderr?: (text: string) => void): Promise<EngineProcess> {
  const engine = EngineClient.spawn({ enginePath: ENGINE, env, ...(onStderr ? { onStderr } : {}) });
  await engine.request('engine/loadModel', { modelDir: TINY, device: 'cpu', threads: 1 });
  return engine;
}

/** Runs workspace/open to its end (mode 'read' unless given); `onChunk` sees every chunk as it comes. */
export async function openWorkspace(
  engine: EngineClient,
  root: string,
  opts: Omit<OpenRequest, 'root'> & { signal?: AbortSignal; onChunk?: (c: ReadChunk) => void } = {},
): Promise<{ chunks: ReadChunk[]; result: WorkspaceResult }> {
  const { signal, onChunk, ...request } = opts;
  const stream = engine.stream('workspace/open', { root, ...request }, signal ? { signal } : {});
  const chunks: ReadChunk[] = [];
  for await (const c of stream) {
    chunks.push(c);
    onChunk?.(c);
  }
  return { chunks, result: await stream.result };
}

/** The chunk of a read that reports its walk. */
export function walkedChunk(chunks: ReadChunk[]): Extract<ReadChunk, { kind: 'walked' }> {
  const walked = chunks.find((c): c is Extract<ReadChunk, { kind: 'walked' }> => c.kind === 'walked');
  if (!walked) throw new Error(`no walked chunk among ${chunks.length}`);
  return walked;
}

/** The saved FAM state file of a memory folder. */
export function stateFileIn(memoryDir: string): string {
  return path.join(memoryDir, MEMORY_FILES.state);
}

export async function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `famulus-rel-${prefix}-`));
}

/** Text of `lines` lines of plausible code, different for each seed. */
export function code(seed: number, lines: number): string {
  return Array.from({ length: lines }, (_, i) => `export const v${seed}_${i} = ${(seed * 31 + i * 7) % 1000}; // line ${i}`).join('\n') + '\n';
}

/**
 * Asks `engine/status` over and over (a pause of `pauseMs` between replies) until `stop()`, which resolves to the
 * slowest reply and the number of replies: how long the engine kept a client waiting while it worked.
 */
export function probeStatus(engine: EngineClient, pauseMs: number): { stop(): Promise<{ maxMs: number; replies: number }> } {
  let maxMs = 0;
  let replies = 0;
  let probing = true;
  const loop = (async () => {
    while (probing) {
      const t = performance.now();
      await engine.request('engine/status', {});
      maxMs = Math.max(maxMs, performance.now() - t);
      replies++;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  })().catch(() => undefined); // a reply still pending when a stuck engine is stopped
  return {
    async stop() {
      probing = false;
      await loop;
      return { maxMs, replies };
    },
  };
}

/** A JSON-RPC `engine/status` request with this id, framed as the engine reads it. */
export function statusFrame(id: number): string {
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'engine/status', params: {} });
  return `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/**
 * The engine over raw stdio, for bytes no client would send: `pour` writes `bytes` of one byte value in 64 KiB
 * chunks (honouring back-pressure), `responded` waits for the response with an id, `log` is its stderr.
 */
export function rawEngine() {
  const child = spawn(process.execPath, [ENGINE], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  const responded = async (id: number, timeoutMs: number): Promise<boolean> => {
    const until = performance.now() + timeoutMs;
    while (performance.now() < until) {
      if (stdout.includes(`"id":${id},`)) return true;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return false;
  };
  const pour = async (bytes: number, fill = 0x78): Promise<void> => {
    const chunk = Buffer.alloc(64 * 1024, fill);
    for (let sent = 0; sent < bytes; sent += chunk.length) {
      if (!child.stdin.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent)))) await new Promise((resolve) => child.stdin.once('drain', resolve));
    }
  };
  return { child, responded, pour, log: () => stderr };
}
