/**
 * Issue 7, part 3: the engine and CLI side of security.
 *
 * - Protocol fuzz: seeded random and mutated JSON-RPC requests, payloads and raw frames through the stdio
 *   transport of the real engine process (Content-Length frames, docs/engine-protocol.md). The engine never
 *   crashes, answers every request exactly once, with an error for everything invalid (and never an
 *   'internal' one), leaves frames that are no request unanswered, and still serves afterwards.
 * - summarize refuses every path outside the ingested root (parent references, absolute paths, links).
 * - No network: the engine and the CLI run under test/reliability/no-network.cjs (every Node network API throws
 *   and is logged), while the test samples /proc/<pid>/fd of both processes: every socket they hold must be a
 *   unix-domain socket (/proc/<pid>/net/unix: their stdio socketpairs), none in tcp, tcp6, udp, udp6 or raw.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, promises as fs, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { EngineProcess } from '../../model/engine/client';
import { StreamMessageReader } from 'vscode-jsonrpc/node';
import { EngineError, parseRequest, type MessageType } from '../../model/engine/protocol';
import { CLI, ENGINE, REPO, TINY, code, openWorkspace, rng, tempDir, tinyEngine, writeFigures } from '../reliability/helpers';

const NO_NET = path.join(REPO, 'test/reliability/no-network.cjs');

// ---------------------------------------------------------------------------------------------- fuzz

const TEMPLATES: Array<{ messageType: MessageType; data: Record<string, unknown> }> = [
  { messageType: 'engine/status', data: {} },
  { messageType: 'engine/loadModel', data: { modelDir: '/nonexistent/model', device: 'cpu', threads: 1 } },
  { messageType: 'workspace/open', data: { root: '/nonexistent/ws', memoryDir: '/nonexistent/memory', walker: { excludes: ['x'], maxFileBytes: 10 }, mode: 'fresh' } },
  { messageType: 'workspace/update', data: { mode: 'read', walker: { includes: ['src/'] } } },
  { messageType: 'workspace/forget', data: {} },
  { messageType: 'workspace/status', data: {} },
  { messageType: 'engine/ask', data: { question: 'Where is x?', options: { maxNewTokens: 3, temperature: 0.5, topP: 0.9, seed: 1 } } },
  { messageType: 'engine/summarize', data: { path: 'src/a.ts', options: { maxNewTokens: 2 } } },
];

const WEIRD: unknown[] = [
  null, true, false, 0, -1, 1e308, -0, 2 ** 53 + 1, 0.5, '', ' ', '\u0000', '\ud800', 'x'.repeat(5000), '../../etc/passwd', '/',
  [], [1, 2], {}, { __proto__: { polluted: true } }, { constructor: { prototype: {} } }, 'engine/status', '<script>alert(1)</script>',
];

function mutate(value: unknown, r: () => number, depth = 0): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  if (depth > 3 || r() < 0.25) return pick(WEIRD);
  if (Array.isArray(value)) return value.map((v) => (r() < 0.5 ? mutate(v, r, depth + 1) : v));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(out);
    const op = Math.floor(r() * 5);
    if (op === 0 && keys.length) delete out[pick(keys)];
    else if (op === 1) out[pick(['extra', '__proto__', 'constructor', 'prototype', 'method', 'params', 'id', 'jsonrpc', ''])] = pick(WEIRD);
    else if (op === 2 && keys.length) out[pick(keys)] = mutate(out[pick(keys)], r, depth + 1);
    else if (op === 3 && keys.length) {
      const k = pick(keys);
      out[k] = mutate(out[k], r, depth + 1);
    } else return pick(WEIRD);
    return out;
  }
  if (typeof value === 'string') {
    const i = Math.floor(r() * (value.length + 1));
    return pick([value.slice(0, i), value + pick(['/', '\u0000', 'é', ' ', '\n']), value.toUpperCase(), `${value.slice(0, i)}x${value.slice(i + 1)}`]);
  }
  return pick(WEIRD);
}

/** One fuzz message body (each is sent in a Content-Length frame of its own). */
function fuzzBody(i: number, r: () => number): string {
  const kind = r();
  const t = TEMPLATES[Math.floor(r() * TEMPLATES.length)]!;
  const request = { jsonrpc: '2.0', id: i, method: t.messageType, params: structuredClone(t.data) };
  if (kind < 0.55) {
    const json = JSON.stringify(mutate(request, r));
    return json === undefined ? 'undefined' : json;
  }
  if (kind < 0.7) {
    const json = JSON.stringify(request);
    return json.slice(0, Math.floor(r() * json.length)); // cut short
  }
  if (kind < 0.8) {
    // Random bytes as text (the decoder turns invalid UTF-8 into U+FFFD).
    return Buffer.from(Array.from({ length: 1 + Math.floor(r() * 200) }, () => Math.floor(r() * 256))).toString('latin1');
  }
  if (kind < 0.85) return `${'['.repeat(20_000 + Math.floor(r() * 100_000))}`; // nesting deeper than any stack
  if (kind < 0.9) return JSON.stringify({ ...request, params: { ...request.params, big: 'y'.repeat(200_000) } });
  if (kind < 0.95) return JSON.stringify(mutate([request], r));
  return JSON.stringify(request); // valid: must succeed or fail cleanly (no model is loaded)
}

/** What JSON-RPC calls a request: a method name and an id (anything else gets no response). */
function requestOf(body: string): { id: string | number; method: string; params: unknown } | null {
  let m: unknown;
  try {
    m = JSON.parse(body);
  } catch {
    return null;
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return null;
  const { id, method, params } = m as Record<string, unknown>;
  if (typeof method !== 'string' || (typeof id !== 'string' && typeof id !== 'number')) return null;
  return { id, method, params };
}

describe('reliability: protocol fuzz over the engine stdio', () => {
  it('2,000 seeded frames: no crash, one response per request, an error for every invalid one, never internal', async () => {
    const cwd = await tempDir('fuzz-cwd');
    const child = spawn(process.execPath, [ENGINE], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const responses: Array<{ id: string | number | null; result?: unknown; error?: { code: number; data?: { code?: string } } }> = [];
    let wanted = Infinity;
    let allIn!: () => void;
    const allResponses = new Promise<void>((resolve) => (allIn = resolve));
    const answered = new Set<unknown>();
    new StreamMessageReader(child.stdout).listen((m) => {
      if (!('id' in m)) return; // a notification ($/progress, logs): not a response
      responses.push(m as (typeof responses)[number]);
      answered.add((m as { id: unknown }).id);
      if (answered.size >= wanted) allIn();
    });
    const r = rng(0xf022);
    const N = 2000;
    const bodies: string[] = [];
    let requests = 0;
    let invalidRequests = 0;
    // Mutation may give two requests one id (a client's mistake: ids are unique among pending requests).
    const ids = new Set<string | number>();
    for (let i = 0; i < N; i++) {
      let body = fuzzBody(i, r);
      const req = requestOf(body);
      if (req) {
        try {
          const parsed = parseRequest(req.method, req.params);
          // A valid loadModel could load a real model (the default one): keep the engine model-less.
          if (parsed.method === 'engine/loadModel') {
            const dir = (parsed.params as { modelDir?: string }).modelDir;
            if (!dir || existsSync(path.resolve(cwd, dir))) body = JSON.stringify({ jsonrpc: '2.0', id: req.id, method: 'engine/status', params: {} });
          }
        } catch {
          invalidRequests++; // invalid: what we want most
        }
        requests++;
        ids.add(req.id);
      }
      bodies.push(body);
    }
    wanted = ids.size;
    for (const body of bodies) {
      const frame = `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      if (!child.stdin.write(frame)) await new Promise((resolve) => child.stdin.once('drain', resolve));
    }
    const timeout = setTimeout(() => allIn(), 60_000);
    await allResponses;
    clearTimeout(timeout);
    assert.equal(child.exitCode, null, `the engine is alive; stderr:\n${stderr.slice(-2000)}`);
    // Every request id is answered, nothing else is: at most one response per request.
    assert.deepEqual(new Set(responses.map((x) => x.id)), ids, 'every request answered, no response to what is no request');
    assert.ok(responses.length <= requests, `${responses.length} responses for ${requests} requests`);
    const codes: Record<string, number> = {};
    for (const x of responses) {
      const c = x.error ? (x.error.data?.code ?? `jsonrpc ${x.error.code}`) : 'success';
      codes[c] = (codes[c] ?? 0) + 1;
    }
    assert.equal(codes.internal, undefined, `no internal error: ${stderr.slice(-2000)}`);
    assert.deepEqual(
      Object.keys(codes).filter((c) => !['success', 'invalid-message', 'invalid-request', 'no-model', 'no-state', 'model-error', 'cancelled', 'not-found'].includes(c)),
      [],
    );
    const invalid = (codes['invalid-message'] ?? 0) + (codes['invalid-request'] ?? 0);
    assert.ok(invalid >= invalidRequests - (requests - ids.size), `${invalid} invalid-* errors for ${invalidRequests} invalid requests`);
    // Still serving.
    const final = '{"jsonrpc":"2.0","id":"final","method":"engine/status","params":{}}';
    child.stdin.write(`Content-Length: ${Buffer.byteLength(final)}\r\n\r\n${final}`);
    await new Promise<void>((resolve) => {
      const check = () => (responses.some((x) => x.id === 'final') ? resolve() : setTimeout(check, 20));
      check();
    });
    child.stdin.end();
    const exit = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(exit, 0);
    await fs.rm(cwd, { recursive: true, force: true });
    await writeFigures('security', { fuzzFrames: N, fuzzRequests: requests, fuzzResponsesByCode: codes, fuzzEngineCrashes: 0 });
  });
});

// ---------------------------------------------------------------------------------------------- summarize

describe('reliability: summarize stays inside the open workspace', () => {
  let dir: string;
  let ws: string;
  let engine: EngineProcess;
  before(async () => {
    dir = await tempDir('paths');
    ws = path.join(dir, 'ws');
    await fs.mkdir(path.join(ws, 'src'), { recursive: true });
    await fs.writeFile(path.join(ws, 'src/a.ts'), code(1, 5));
    await fs.writeFile(path.join(ws, '..dotdot.ts'), code(2, 3));
    await fs.writeFile(path.join(dir, 'outside.txt'), 'SECRET outside the workspace\n');
    await fs.writeFile(path.join(dir, 'ws-evil.txt'), 'a sibling whose name starts like the root\n');
    await fs.symlink(path.join(dir, 'outside.txt'), path.join(ws, 'src/link-out.txt'));
    await fs.symlink(dir, path.join(ws, 'dir-link-out'));
    engine = await tinyEngine();
    await openWorkspace(engine, ws);
  });
  after(async () => {
    await engine?.shutdown();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const summarize = (p: string) => engine.stream('engine/summarize', { path: p, options: { maxNewTokens: 2 } }).result;

  it('EXPECTED FAILURE - parent references, absolute paths and links out of the root are refused', async () => {
    const refused: string[] = [];
    const outside = [
      '../outside.txt', '../../etc/passwd', '/etc/passwd', 'src/../../outside.txt', '..', '.', './', 'src/..',
      '../ws-evil.txt', `${ws}/../outside.txt`, `${ws}-evil.txt`, 'src/link-out.txt', 'dir-link-out/outside.txt',
      'src/a.ts\u0000.png', '/proc/self/environ',
    ];
    for (const p of outside) {
      const err = await summarize(p).then(
        (res) => assert.fail(`${JSON.stringify(p)} was summarised as ${res.path}`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof EngineError, String(err));
      assert.equal(err.code, 'not-found', `${p}: ${err.message}`);
      refused.push(p);
    }
    await writeFigures('security', { summarizeRefused: refused.length, summarizeRefusedPaths: refused.map((p) => p.split(dir).join('<tmp>')) });
  });

  it('files inside the root are summarised, including one whose name starts with ".."', async () => {
    assert.equal((await summarize('src/a.ts')).path, 'src/a.ts');
    assert.equal((await summarize(path.join(ws, 'src/a.ts'))).path, 'src/a.ts');
    assert.equal((await summarize('src/../src/a.ts')).path, 'src/a.ts');
    assert.equal((await summarize('..dotdot.ts')).path, '..dotdot.ts');
  });
});

// ---------------------------------------------------------------------------------------------- network

/** The sockets a process holds, by kind: unix (local IPC) or inet (tcp, tcp6, udp, udp6, raw), from /proc. */
function socketsOf(pid: number): { unix: number; netlink: number; inet: string[]; other: string[] } {
  const inodes: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.push(m[1]!);
    } catch {
      // the fd closed while we looked
    }
  }
  const table = (name: string): Set<string> => {
    try {
      const rows = readFileSync(`/proc/${pid}/net/${name}`, 'utf8').trim().split('\n').slice(1);
      const col = name === 'unix' ? 6 : 9;
      return new Set(rows.map((row) => row.trim().split(/\s+/)[col]!));
    } catch {
      return new Set();
    }
  };
  const unix = table('unix');
  const netlink = table('netlink');
  const inetTables = ['tcp', 'tcp6', 'udp', 'udp6', 'raw', 'raw6', 'udplite', 'udplite6'].map((n) => [n, table(n)] as const);
  const out = { unix: 0, netlink: 0, inet: [] as string[], other: [] as string[] };
  for (const inode of inodes) {
    const inet = inetTables.find(([, set]) => set.has(inode));
    if (inet) out.inet.push(`${inet[0]}:${inode}`);
    else if (unix.has(inode)) out.unix++;
    else if (netlink.has(inode)) out.netlink++; // a local kernel channel (getifaddrs and the like), not the network
    else if (stillOpen(pid, inode)) out.other.push(inode);
    // else: closed between the fd listing and the tables
  }
  return out;
}

function stillOpen(pid: number, inode: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('reliability: no network', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('nonet');
    await fs.mkdir(path.join(dir, 'ws/src'), { recursive: true });
    for (let i = 0; i < 6; i++) await fs.writeFile(path.join(dir, `ws/src/m${i}.ts`), code(i, 150));
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('the preload blocks and records a connection attempt (the check can fail)', async () => {
    const log = path.join(dir, 'probe.log');
    const probe = spawn(process.execPath, ['-e', "require('node:net').connect(9, '127.0.0.1')"], {
      env: { ...process.env, NODE_OPTIONS: `--require ${NO_NET}`, FAMULUS_NET_LOG: log },
      stdio: 'ignore',
    });
    const exit = await new Promise((resolve) => probe.on('exit', (c) => resolve(c)));
    assert.notEqual(exit, 0);
    assert.match(await fs.readFile(log, 'utf8'), /"api":"node:net.connect"/);
  });

  it('famulus ingest + ask + summarize and its engine open no socket but their unix stdio pipes', async () => {
    const log = path.join(dir, 'net.log');
    await fs.writeFile(log, '');
    const env = { ...process.env, NODE_OPTIONS: `--require ${NO_NET}`, FAMULUS_NET_LOG: log };
    const samples: Array<{ pid: number; unix: number; netlink: number; inet: string[]; other: string[] }> = [];
    const runCli = async (args: string[]) => {
      const child = spawn(process.execPath, [CLI, ...args, '--device', 'cpu', '--model', TINY], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
      child.stdout.resume();
      const sampler = setInterval(() => {
        for (const pid of [child.pid!, ...childPids(child.pid!)]) {
          try {
            samples.push({ pid, ...socketsOf(pid) });
          } catch {
            // exited between listing and reading
          }
        }
      }, 25);
      const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
      clearInterval(sampler);
      assert.equal(code, 0, stderr);
    };
    await runCli(['ingest', path.join(dir, 'ws')]);
    await runCli(['ask', path.join(dir, 'ws'), 'Where is `v3_7` defined?', '--max-tokens', '40']);
    await runCli(['summarize', path.join(dir, 'ws/src/m2.ts'), '--max-tokens', '20']);
    assert.equal(await fs.readFile(log, 'utf8'), '', 'no network API was called');
    const pids = new Set(samples.map((s) => s.pid));
    assert.ok(pids.size >= 6, `sampled the CLI and the engine of each of the 3 runs (${pids.size} processes)`);
    assert.ok(samples.some((s) => s.unix > 0), 'the stdio socketpairs were seen (the sampler works)');
    assert.deepEqual(samples.flatMap((s) => s.inet), [], 'no TCP/UDP/raw socket');
    assert.deepEqual(samples.flatMap((s) => s.other), [], 'no other kind of socket');
    await writeFigures('security', {
      networkSamples: samples.length,
      networkProcessesSampled: pids.size,
      networkInetSockets: 0,
      networkApiCalls: 0,
      maxUnixSocketsPerProcess: Math.max(...samples.map((s) => s.unix)),
      netlinkSocketsSeen: samples.reduce((n, s) => n + s.netlink, 0),
    });
  });
});
