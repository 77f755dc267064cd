/**
 * Disk I/O of the memory's saved files (the state, the workspace index): written atomically, and only ever to
 * a regular file or a new path; read only from a regular file. Renaming over whatever sits at the path would
 * turn /dev/null into a regular file (as root), fill a copied device node, or replace a symbolic link by a file;
 * reading whatever sits there could block on a FIFO or never end on /dev/zero. A link to the memory's folder is
 * the user's choice and fine; a link at the file itself is refused.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';

/** A path that holds something other than a regular file; the message names the path and what is there. */
export class NotRegularFileError extends Error {
  override readonly name = 'NotRegularFileError';

  constructor(
    readonly file: string,
    readonly kind: string,
    advice?: string,
  ) {
    super(`${file} is ${kind}, not a regular file${advice ? `; ${advice}` : ''}`);
  }
}

/** What sits at `file`, in words: 'a symbolic link (to X)', 'a FIFO', 'a character device', ... */
async function kindOf(file: string, st: Stats): Promise<string> {
  if (st.isSymbolicLink()) return `a symbolic link (to ${await fsp.readlink(file).catch(() => '?')})`;
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * The bytes of a regular file. A missing file throws the fs error (ENOENT); anything but a regular file at the
 * path, a link included, throws NotRegularFileError without being opened (a FIFO or a device is never read).
 */
export async function readRegularFile(file: string): Promise<Uint8Array> {
  const before = await fsp.lstat(file);
  if (!before.isFile()) throw new NotRegularFileError(file, await kindOf(file, before));
  // O_NOFOLLOW and O_NONBLOCK: if the path was swapped since lstat, neither a link nor a FIFO can hold us up.
  const fh = await fsp.open(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev) throw new NotRegularFileError(file, 'a path replaced while it was opened');
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/**
 * Writes `bytes` atomically: to a new temporary file beside `file` (random name, created exclusively, mode
 * 0600), flushed to disk, then renamed over `file`, and the directory flushed. A reader sees the old file or the
 * new one, never a part; the temporary is removed on any failure, and the one a killed writer leaves is removed
 * by the next write (removeStaleTempFiles). `file` must be a regular file or not exist (NotRegularFileError).
 */
export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const target = path.resolve(file);
  const dir = path.dirname(target);
  const existing = await fsp.lstat(target).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  if (existing && !existing.isFile()) {
    const advice = 'the memory is saved only to a regular file or a new path: remove it, or save the memory in another folder';
    throw new NotRegularFileError(target, await kindOf(target, existing), advice);
  }
  await removeStaleTempFiles(target);
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await fsp.open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  // The rename is durable only once the directory entry is on disk. Windows cannot open a directory for this.
  if (process.platform !== 'win32') {
    const d = await fsp.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

/**
 * Removes the temporary files that writers of `file` killed before their rename left beside it
 * (`.<name>.<pid>.<hex>.tmp`, see writeFileAtomic): those whose pid is no running process. A temporary of a live
 * process (this one included: it may be writing right now) is kept. Best effort: returns the names removed.
 */
export async function removeStaleTempFiles(file: string): Promise<string[]> {
  const dir = path.dirname(path.resolve(file));
  const prefix = `.${path.basename(file)}.`;
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\.[0-9a-f]+\.tmp$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processExists(pid)) continue;
    try {
      await fsp.rm(path.join(dir, name), { force: true });
      removed.push(name);
    } catch {
      // Another writer may have removed it first; a later save tries again.
    }
  }
  return removed;
}

function processExists(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, it belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
