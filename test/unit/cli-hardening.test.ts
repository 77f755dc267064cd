/**
 * Issue 22, items 3, 5 and 6, through the built CLI (dist/cli.js) and its engine, with the tiny model on the CPU:
 * - reads stay inside what was asked for: `/`, the home folder and folders above it are refused unless
 *   --allow-broad-root; no memory is saved inside a folder of the system; a file in no read workspace is
 *   summarised from that file alone, with nothing saved;
 * - a memory that cannot be saved (read-only folder, full disk, read-only workspace) leaves ask and summarize
 *   working, and the note names the real cause (EROFS, ENOSPC); ingest fails with it. These mount tmpfs
 *   file systems, so they need root (as in CI) and are skipped elsewhere;
 * - file names with terminal escape sequences are printed escaped, and Ctrl-C at any moment of a first read
 *   exits 130 with a plain message.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, REPO, TINY, code, tempDir, writeFigures } from '../reliability/helpers';

before(() => {
  execFileSync(process.execPath, ['esbuild.config.mjs'], { cwd: REPO, stdio: 'inherit' });
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

function famulus(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Run {
  const t = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args, '--device', 'cpu', '--model', TINY], { cwd: REPO, encoding: 'utf8', env: { ...process.env, ...env }, timeout: timeoutMs });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, seconds: (performance.now() - t) / 1000 };
}

function famulusJson(args: string[], env: NodeJS.ProcessEnv = {}): Record<string, any> {
  const r = famulus([...args, '--json'], env);
  assert.equal(r.code, 0, `famulus ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, any>;
}

async function writeTree(root: string, files: Record<string, string | Uint8Array>): Promise<void> {
  for (const [rel, data] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), data);
  }
}

/** Removes `dir` after a test only if the test made it (a CLI without the fix writes /etc/.famulus). */
async function removeIfNew(dir: string, existed: boolean): Promise<void> {
  if (!existed) await fs.rm(dir, { recursive: true, force: true });
}

describe('item 3: reads stay inside what was asked for', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('cli-hard-3');
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('EXPECTED FAILURE - `ingest /` is refused at once, naming --allow-broad-root', () => {
    const r = famulus(['ingest', '/'], {}, 30_000);
    assert.equal(r.code, 1, `exit ${r.code ?? r.signal} after ${r.seconds.toFixed(1)} s: ${r.stderr.slice(-500)}`);
    assert.match(r.stderr, /^famulus: refusing to read \/: it is the filesystem root, and reading it would read every file in it; .*--allow-broad-root/m);
    assert.ok(r.seconds < 15, `${r.seconds.toFixed(1)} s`);
  });

  it('EXPECTED FAILURE - the home folder and a folder above it are refused; --allow-broad-root reads it', async () => {
    const home = path.join(dir, 'home', 'user');
    await writeTree(home, { 'notes.md': '# notes\n', 'src/a.ts': code(1, 5) });
    const env = { HOME: home };
    const own = famulus(['ingest', home], env);
    assert.equal(own.code, 1, own.stderr);
    assert.match(own.stderr, /refusing to read .*\/home\/user: it is your home folder/);
    const above = famulus(['ask', path.dirname(home), 'What is here?'], env);
    assert.equal(above.code, 1, above.stderr);
    assert.match(above.stderr, /it is a folder that holds your home folder/);
    assert.equal(existsSync(path.join(home, '.famulus')), false, 'nothing was saved');
    const forced = famulusJson(['ingest', home, '--allow-broad-root', '--memory', path.join(dir, 'home-memory')], env);
    assert.equal(forced.state.files, 2);
  });

  it('EXPECTED FAILURE - no memory is saved inside a folder of the system unless --memory names another place', async () => {
    const system = ['/etc/ssl', '/etc/default', '/etc'].find((d) => existsSync(d))!;
    const memory = path.join(system, '.famulus');
    const existed = existsSync(memory);
    try {
      const r = famulus(['ingest', system], {}, 60_000);
      assert.equal(r.code, 1, r.stderr.slice(-500));
      assert.match(r.stderr, new RegExp(`${system} is a folder of the system: Famulus saves no memory inside it; pass --memory <dir>`));
      assert.equal(existsSync(memory), existed);
    } finally {
      await removeIfNew(memory, existed);
    }
  });

  it('EXPECTED FAILURE - a file in no read workspace is summarised from that file alone, and nothing is saved', async () => {
    const loose = path.join(dir, 'loose');
    await writeTree(loose, { 'secret.txt': 'hunter2\n', 'other.md': '# other\n', 'notes/note.md': '# A note\nSome text.\n' });
    const before = (await fs.readdir(loose, { recursive: true })).sort();
    const r = famulusJson(['summarize', path.join(loose, 'notes/note.md'), '--max-tokens', '4']);
    assert.equal(r.root, null);
    assert.equal(r.stateFile, null);
    assert.equal(r.ingest.filesIngested, 1, 'that file and nothing else was read');
    assert.equal(r.state.files, 1);
    assert.equal(r.answers[0].path, 'note.md');
    assert.ok(r.notes.some((n: string) => n.includes('summarising it alone, nothing saved')), r.notes.join('\n'));
    assert.deepEqual((await fs.readdir(loose, { recursive: true })).sort(), before, 'nothing added beside it');

    // The case, on a file of the system.
    const memory = '/etc/.famulus';
    const existed = existsSync(memory);
    try {
      const etc = famulusJson(['summarize', '/etc/hostname', '--max-tokens', '4']);
      assert.equal(etc.ingest.filesIngested, 1);
      assert.equal(existsSync(memory), existed, 'no state beside system files');
    } finally {
      await removeIfNew(memory, existed);
    }
  });
});

/** Mounts a tmpfs at `dir` (made if missing); false where mounting is not allowed (not root). */
function mountTmpfs(dir: string, options: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const canMount = process.getuid?.() === 0;

describe('item 5: answers when the memory cannot be saved', { skip: canMount ? false : 'needs root to mount tmpfs' }, () => {
  let dir: string;
  let ws: string;
  const mounts: string[] = [];
  const mount = async (name: string, options: string): Promise<string> => {
    const at = path.join(dir, name);
    await fs.mkdir(at, { recursive: true });
    assert.ok(mountTmpfs(at, options), `mount ${options} at ${at}`);
    mounts.push(at);
    return at;
  };
  before(async () => {
    dir = await tempDir('cli-hard-5');
    ws = path.join(dir, 'ws');
    await writeTree(ws, { 'src/a.ts': code(1, 40), 'src/b.ts': code(2, 40), 'README.md': '# ws\n' });
  });
  after(async () => {
    for (const m of mounts.reverse()) spawnSync('umount', [m]);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('EXPECTED FAILURE - a read-only memory folder: ask after a file change answers and names EROFS; ingest exits 1 with it', async () => {
    const memory = await mount('ro-memory', 'size=8m');
    famulusJson(['ingest', ws, '--memory', memory]);
    execFileSync('mount', ['-o', 'remount,ro', memory]);
    await fs.appendFile(path.join(ws, 'src/a.ts'), '// changed\n');
    const r = famulus(['ask', ws, 'What is in src/a.ts?', '--max-tokens', '3', '--memory', memory]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.length > 0, 'an answer was printed');
    assert.match(r.stderr, /the memory was read but not saved: cannot save the memory to .*: EROFS/);
    const json = famulusJson(['summarize', path.join(ws, 'src/b.ts'), '--max-tokens', '3', '--memory', memory]);
    assert.equal(json.ingest.filesIngested, 1, 'the changed file was read again');
    assert.ok(json.notes.some((n: string) => /EROFS/.test(n)), json.notes.join('\n'));
    const ingest = famulus(['ingest', ws, '--memory', memory]);
    assert.equal(ingest.code, 1);
    assert.match(ingest.stderr, /famulus: the workspace was read but its memory was not saved: .*EROFS/);
  });

  it('EXPECTED FAILURE - a full disk: ask answers and names ENOSPC', async () => {
    const full = await mount('full', 'size=16k');
    const r = famulus(['ask', ws, 'What is in src/b.ts?', '--max-tokens', '3', '--memory', full]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /the memory was read but not saved: .*ENOSPC/);
  });

  it('EXPECTED FAILURE - a read-only workspace: the note names EROFS, not ENOENT', async () => {
    const ro = await mount('ro-ws', 'size=8m');
    await fs.cp(ws, ro, { recursive: true });
    execFileSync('mount', ['-o', 'remount,ro', ro]);
    const r = famulus(['ask', ro, 'What is in README.md?', '--max-tokens', '3']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /cannot save the memory to .*\.famulus\/state\.fams: EROFS/);
    assert.doesNotMatch(r.stderr, /ENOENT/);
  });
});

describe('item 6: what reaches the terminal, and Ctrl-C', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('cli-hard-6');
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('EXPECTED FAILURE - file names and text with terminal escape sequences are printed escaped, never raw', async () => {
    const ws = path.join(dir, 'escapes');
    const evil = 'evil-\x1b]0;PWNED\x07.ts';
    await writeTree(ws, {
      [evil]: '// \x1b[31mred\x1b[0m header \u202eteg\n export const evil = 1;\n',
      'bin-\x1b[2J.dat': Buffer.from([0x41, 0, 0x42]),
      'c1-\u009b31m.txt': 'c1 control in the name\n',
      'nl-\nverified: fake.ts:1 (ok).dat': Buffer.from([0]),
    });
    const ingest = famulus(['ingest', ws]);
    const summary = famulus(['summarize', path.join(ws, evil), '--max-tokens', '4']);
    for (const r of [ingest, summary]) {
      assert.equal(r.code, 0, r.stderr);
      const all = r.stdout + r.stderr;
      assert.doesNotMatch(all, /[\x1b\x07\u009b\u202e]/, JSON.stringify(all.slice(0, 2000)));
    }
    assert.match(ingest.stderr, /skipped bin-\\x1b\[2J\.dat: binary/);
    assert.match(ingest.stderr, /skipped nl-\\x0averified: fake\.ts:1 \(ok\)\.dat: binary/);
    assert.match(summary.stdout, /evil-\\x1b\]0;PWNED\\x07\.ts/);
    assert.match(summary.stdout, /\\x1b\[31mred\\x1b\[0m header \\u202eteg/);
  });

  it('EXPECTED FAILURE - Ctrl-C at any moment of a first read exits 130 with a plain message, never 1', async () => {
    const ws = path.join(dir, 'sigint');
    const files: Record<string, string> = {};
    for (let f = 0; f < 30; f++) files[`m${String(f).padStart(2, '0')}.ts`] = code(f, 400);
    await writeTree(ws, files);
    const outcomes: string[] = [];
    for (const delay of [250, 450, 650, 850, 1100, 1400, 1800, 2400, 3200]) {
      await fs.rm(path.join(ws, '.famulus'), { recursive: true, force: true });
      // Its own process group, as a terminal's foreground job: the signal reaches everything in it.
      const child = spawn(process.execPath, [CLI, 'ingest', ws, '--device', 'cpu', '--model', TINY], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
      setTimeout(() => process.kill(-child.pid!, 'SIGINT'), delay);
      const [exit, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
      const last = stderr.trim().split('\n').pop() ?? '';
      outcomes.push(`${delay} ms: ${exit ?? signal}: ${last}`);
      // Killed by the signal itself only before the CLI could set its handler: then it had printed nothing.
      const ok = (exit === 130 && /^famulus: (interrupted|stopped after \d+ files; .*)$/.test(last)) || (signal === 'SIGINT' && stderr === '');
      assert.ok(ok, outcomes.join('\n'));
    }
    await writeFigures('cli-hardening', { ctrlC: outcomes });
  });
});
