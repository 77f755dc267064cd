/**
 * Issue 22 item 1: a saved file of the memory is written only to a regular file or a new path. Renaming over
 * whatever sat at the path turned /dev/null into a regular file (as root), filled a copied device node with a
 * 7 MB file, and replaced a symbolic link by a file. writeFileAtomic (model/state/file-io.ts) writes both the
 * state and the index, so it is tested directly and through the CLI (`--memory`).
 *
 * Nothing here touches a real device: device nodes are copies made with mknod in a temporary folder (as root;
 * the device cases are skipped otherwise).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { MEMORY_FILES } from '../../model/engine/protocol';
import { NotRegularFileError, readStateFile, writeFileAtomic, writeStateFile, type StateSnapshot } from '../../model/state';
import { CLI, TINY, code } from '../reliability/helpers';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'famulus-hardening-write-'));
// This suite's own per-user key, never the real one in the user's home (inherited by the CLI and its engine).
process.env.FAMULUS_KEY_FILE = path.join(scratch, 'key', 'state.key');
const isRoot = process.getuid?.() === 0;

const snapshot = (blocks: number): StateSnapshot => ({
  modelId: 'a'.repeat(64),
  dtype: 'float32',
  layers: 1,
  famLength: 1,
  hiddenSize: 4,
  memSlots: 0,
  kvDim: 4,
  blockSize: 4,
  blocks,
  pending: new Int32Array(0),
  fam: [Float32Array.of(1, 2, 3, 4)],
  memK: [new Float32Array(0)],
  memV: [new Float32Array(0)],
  meta: {},
});

let n = 0;
/** A fresh folder for one case. */
const caseDir = (): string => fs.mkdtempSync(path.join(scratch, `case${n++}-`));

/** A copy of a character device (mknod), e.g. of /dev/null (1, 3): the real one is never touched. */
function deviceCopy(file: string, major: number, minor: number): void {
  const r = spawnSync('mknod', [file, 'c', String(major), String(minor)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/** What sits at `file` without following a link: 'file', 'symlink', 'fifo', 'socket', 'char-device', 'dir'. */
function kind(file: string): string {
  const st = fs.lstatSync(file);
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char-device';
  if (st.isDirectory()) return 'dir';
  return st.isFile() ? 'file' : 'other';
}

/** Asserts a refusal that names the path and what sits there. */
function refusal(file: string, what: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof NotRegularFileError, `expected NotRegularFileError, got ${String(e)}`);
    assert.ok(e.message.startsWith(`${file} is `), e.message);
    assert.match(e.message, what);
    assert.match(e.message, /saved only to a regular file or a new path/);
    return true;
  };
}

const tmpLeft = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

describe('EXPECTED FAILURE - writeFileAtomic refuses a path that is not a regular file, and leaves it as it was', () => {
  let socketServer: net.Server | null = null;
  after(() => socketServer?.close());

  it('a symbolic link (to a regular file): the link and its target stay as they were', async () => {
    const dir = caseDir();
    const target = path.join(dir, 'elsewhere.txt');
    fs.writeFileSync(target, 'not a state');
    const file = path.join(dir, 'state.fams');
    fs.symlinkSync(target, file);
    await assert.rejects(writeStateFile(file, snapshot(1)), refusal(file, /a symbolic link \(to .*elsewhere\.txt\)/));
    assert.equal(kind(file), 'symlink');
    assert.equal(fs.readFileSync(target, 'utf8'), 'not a state');
    assert.deepEqual(tmpLeft(dir), []);
  });

  it('a FIFO, a socket and a folder', async () => {
    const dir = caseDir();
    const fifo = path.join(dir, 'state.fams');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    await assert.rejects(writeFileAtomic(fifo, new Uint8Array(8)), refusal(fifo, /a FIFO/));
    assert.equal(kind(fifo), 'fifo');

    const sock = path.join(dir, 'index.fidx');
    socketServer = net.createServer();
    await new Promise<void>((resolve) => socketServer!.listen(sock, resolve));
    await assert.rejects(writeFileAtomic(sock, new Uint8Array(8)), refusal(sock, /a socket/));
    assert.equal(kind(sock), 'socket');

    const folder = path.join(dir, 'folder.fams');
    fs.mkdirSync(folder);
    await assert.rejects(writeFileAtomic(folder, new Uint8Array(8)), refusal(folder, /a directory/));
    assert.deepEqual(tmpLeft(dir), []);
  });

  it('a copied device node (/dev/null, /dev/zero) and a link to one: still devices, nothing written', { skip: !isRoot && 'mknod needs root' }, async () => {
    const dir = caseDir();
    const devNull = path.join(dir, 'null');
    deviceCopy(devNull, 1, 3);
    await assert.rejects(writeFileAtomic(devNull, new Uint8Array(7 << 20)), refusal(devNull, /a character device/));
    assert.equal(kind(devNull), 'char-device');
    const devZero = path.join(dir, 'zero');
    deviceCopy(devZero, 1, 5);
    const link = path.join(dir, 'state.fams');
    fs.symlinkSync(devZero, link);
    await assert.rejects(writeStateFile(link, snapshot(1)), refusal(link, /a symbolic link/));
    assert.equal(kind(link), 'symlink');
    assert.equal(kind(devZero), 'char-device');
    assert.deepEqual(tmpLeft(dir), []);
  });
});

describe('writeFileAtomic: a regular file or a new path, through a private temporary file beside it', () => {
  it('a new path and a regular file are written, mode 0600; a folder reached through a link is the user\'s choice', async () => {
    const dir = caseDir();
    const file = path.join(dir, 'state.fams');
    await writeStateFile(file, snapshot(1));
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    fs.chmodSync(file, 0o644);
    await writeStateFile(file, snapshot(2));
    assert.equal(kind(file), 'file');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'the replaced file is the temporary, created 0600');
    assert.equal((await readStateFile(file)).blocks, 2);

    const real = caseDir();
    const linked = path.join(dir, 'memory-link');
    fs.symlinkSync(real, linked);
    await writeStateFile(path.join(linked, 'state.fams'), snapshot(3));
    assert.equal(kind(linked), 'symlink');
    assert.equal((await readStateFile(path.join(real, 'state.fams'))).blocks, 3);
  });

  it('the temporary is created exclusively (wx) with mode 0600 beside the target, and removed when the write fails', async () => {
    const dir = caseDir();
    const file = path.join(dir, 'index.fidx');
    const opens: Array<{ file: string; flags: unknown; mode: unknown }> = [];
    const realOpen = fs.promises.open;
    const open = mock.method(fs.promises, 'open', async (p: fs.PathLike, flags?: string | number, mode?: fs.Mode) => {
      opens.push({ file: String(p), flags, mode });
      const fh = await realOpen(p, flags, mode);
      if (flags === 'wx') fh.sync = async () => Promise.reject(Object.assign(new Error('simulated full disk'), { code: 'ENOSPC' }));
      return fh;
    });
    try {
      await assert.rejects(writeFileAtomic(file, new Uint8Array(100)), /simulated full disk/);
    } finally {
      open.mock.restore();
    }
    const tmp = opens.find((o) => o.flags === 'wx');
    assert.ok(tmp, JSON.stringify(opens));
    assert.equal(path.dirname(tmp.file), dir);
    assert.match(path.basename(tmp.file), new RegExp(`^\\.index\\.fidx\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`));
    assert.equal(tmp.mode, 0o600);
    assert.deepEqual(fs.readdirSync(dir), [], 'neither the file nor the temporary is left');
  });
});

describe('EXPECTED FAILURE - the CLI refuses to save the memory over a link, a FIFO or a device, naming it', () => {
  let ws: string;
  before(() => {
    ws = caseDir();
    for (let f = 0; f < 3; f++) fs.writeFileSync(path.join(ws, `m${f}.ts`), code(f, 30));
  });

  const ingest = (memoryDir: string) =>
    spawnSync(process.execPath, [CLI, 'ingest', ws, '--memory', memoryDir, '--json', '--device', 'cpu', '--model', TINY], { encoding: 'utf8', timeout: 120_000 });

  const cases: Array<{ name: string; file: keyof typeof MEMORY_FILES; make: (at: string, dir: string) => void; what: RegExp; after: string; skip?: string | false }> = [
    {
      name: 'state.fams is a link to a regular file',
      file: 'state',
      make: (at, dir) => {
        fs.writeFileSync(path.join(dir, 'victim.txt'), 'keep me');
        fs.symlinkSync(path.join(dir, 'victim.txt'), at);
      },
      what: /is a symbolic link \(to .*victim\.txt\), not a regular file/,
      after: 'symlink',
    },
    {
      name: 'state.fams is a copy of /dev/null',
      file: 'state',
      make: (at) => deviceCopy(at, 1, 3),
      what: /is a character device, not a regular file/,
      after: 'char-device',
      skip: !isRoot && 'mknod needs root',
    },
    { name: 'index.fidx is a FIFO', file: 'index', make: (at) => assert.equal(spawnSync('mkfifo', [at]).status, 0), what: /is a FIFO, not a regular file/, after: 'fifo' },
  ];
  for (const c of cases) {
    it(c.name, { skip: c.skip ?? false }, () => {
      const memoryDir = caseDir();
      const at = path.join(memoryDir, MEMORY_FILES[c.file]);
      c.make(at, memoryDir);
      const r = ingest(memoryDir);
      assert.equal(r.status, 1, `exit ${r.status}: ${r.stderr}`);
      assert.ok(r.stderr.includes(`${at} is `), r.stderr);
      assert.match(r.stderr, c.what);
      assert.equal(kind(at), c.after, 'left as it was');
      if (c.after === 'symlink') assert.equal(fs.readFileSync(path.join(memoryDir, 'victim.txt'), 'utf8'), 'keep me');
      assert.deepEqual(tmpLeft(memoryDir), []);
    });
  }

  it('a memory folder that is a link to a folder is used', () => {
    const real = caseDir();
    const link = path.join(caseDir(), 'memory');
    fs.symlinkSync(real, link);
    const r = ingest(link);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(real).sort(), Object.values(MEMORY_FILES).sort());
  });
});

after(() => fs.rmSync(scratch, { recursive: true, force: true }));
