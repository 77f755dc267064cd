/**
 * The per-user secret that keys the MAC of every saved file of the memory (./container.ts): a file is this
 * user's own only if this user's engine sealed it, so a memory committed into a workspace by someone else, or
 * saved on another machine, is not trusted whatever its checksum says.
 *
 * The key is 32 random bytes in a file only its owner may read: $FAMULUS_KEY_FILE when set (tests point it at a
 * temporary folder), else `famulus/state.key` under the user's configuration folder ($XDG_CONFIG_HOME or
 * ~/.config; %APPDATA% on Windows). It is created on first use and cached for the life of the process.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const KEY_FILE_ENV = 'FAMULUS_KEY_FILE';
const KEY_BYTES = 32;

/** Where this user's key lives. */
export function userKeyFile(): string {
  const override = process.env[KEY_FILE_ENV];
  if (override) return path.resolve(override);
  const config =
    process.platform === 'win32'
      ? (process.env.APPDATA ?? path.join(os.homedir(), 'AppData', 'Roaming'))
      : process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(config, 'famulus', 'state.key');
}

const keys = new Map<string, Buffer>();

/**
 * This user's key, created when there is none. Synchronous (one small read per process) so that decoding a
 * file's bytes stays synchronous. Throws an Error naming the key file when it cannot be made or is not a key.
 */
export function userKey(): Buffer {
  const file = userKeyFile();
  let key = keys.get(file);
  if (!key) {
    try {
      key = readKey(file) ?? createKey(file);
    } catch (e) {
      throw new Error(`the per-user key ${file} cannot be used (${(e as Error).message}); set ${KEY_FILE_ENV} to a file of your own`);
    }
    keys.set(file, key);
  }
  return key;
}

/** The key in `file`, or null when there is none yet. */
function readKey(file: string): Buffer | null {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  if (!stat.isFile() || stat.size !== KEY_BYTES) throw new Error(`not a regular file of ${KEY_BYTES} bytes`);
  return fs.readFileSync(file);
}

/**
 * A new key, written to a temporary file (mode 0600) and linked into place: link() never replaces a file, so of
 * two engines starting at once one key wins and both use it, and no reader ever sees a partly written key.
 */
function createKey(file: string): Buffer {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeFileSync(fd, randomBytes(KEY_BYTES));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  const key = readKey(file);
  if (!key) throw new Error('it vanished while it was being created');
  return key;
}
