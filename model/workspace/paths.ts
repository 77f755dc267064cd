/** Path rules every part of Famulus shares (the walker, the engine's session, the CLI, the extension's citation check). */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** True when `p` lies below `root` (both absolute and resolved): not `root` itself, not `..`, not elsewhere. */
export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '' && rel.split(path.sep)[0] !== '..' && !path.isAbsolute(rel);
}

/**
 * Why `dir` is too broad to read as a workspace, or null: the filesystem root, the home folder, or a folder
 * that holds the home folder (`/home`). Reading one reads every file of a disk or of a user (`ingest /` was
 * still walking after minutes). Links are resolved first, so a link to the home folder is the home folder.
 */
export async function broadRootReason(dir: string, home = os.homedir()): Promise<string | null> {
  const real = await fs.realpath(dir).catch(() => path.resolve(dir));
  const realHome = await fs.realpath(home).catch(() => path.resolve(home));
  if (path.parse(real).root === real) return 'the filesystem root';
  if (real === realHome) return 'your home folder';
  if (isInside(real, realHome)) return `a folder that holds your home folder (${realHome})`;
  return null;
}

/** Folders of the operating system, where no saved memory is put unless asked for by name. */
const SYSTEM_FOLDERS = ['/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/proc', '/run', '/sbin', '/sys', '/usr', '/var/cache', '/var/lib', '/var/log', '/var/spool'];

/** Whether `dir` (absolute) is, or is inside, a folder of the operating system (never on Windows). */
export function isSystemFolder(dir: string): boolean {
  if (process.platform === 'win32') return false;
  return SYSTEM_FOLDERS.some((s) => dir === s || isInside(s, dir));
}
