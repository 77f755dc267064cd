/**
 * Preloaded into the engine process (NODE_OPTIONS=--require) by the fault suite: SIGKILLs the engine at one
 * stage of its Nth state save (model/state/state-file.ts writeStateFile), the moments a crash could hurt most.
 * Only the temporaries of the file named FAMULUS_TEST_KILL_FILE count as saves (a memory save also writes the
 * workspace index beside the state, through a temporary of its own).
 *   FAMULUS_TEST_KILL_STAGE  open        temporary file created, nothing written
 *                            write-half  half of the bytes written
 *                            write       all bytes written, not flushed
 *                            sync        flushed, not yet renamed over the state file
 *                            rename      renamed, directory not yet flushed
 *   FAMULUS_TEST_KILL_SAVE   which save (1-based, default 1)
 *   FAMULUS_TEST_KILL_FILE   the state file's name (its temporaries are `.<name>.<pid>.<hex>.tmp`)
 */
'use strict';
const fsp = require('node:fs').promises;
const path = require('node:path');

const stage = process.env.FAMULUS_TEST_KILL_STAGE;
let left = Number(process.env.FAMULUS_TEST_KILL_SAVE || '1');
const tmpPrefix = `.${process.env.FAMULUS_TEST_KILL_FILE}.`;
let armed = false;
const die = () => process.kill(process.pid, 'SIGKILL');

if (stage) {
  const open = fsp.open;
  fsp.open = async function patchedOpen(file, flags, ...rest) {
    const fh = await open.call(this, file, flags, ...rest);
    const name = path.basename(String(file));
    if (flags === 'wx' && name.startsWith(tmpPrefix) && name.endsWith('.tmp') && --left === 0) {
      armed = true;
      if (stage === 'open') die();
      const writeFile = fh.writeFile.bind(fh);
      const sync = fh.sync.bind(fh);
      fh.writeFile = async (data, ...more) => {
        if (stage === 'write-half') {
          await writeFile(Buffer.from(data.buffer, data.byteOffset, Math.floor(data.byteLength / 2)), ...more);
          die();
        }
        await writeFile(data, ...more);
        if (stage === 'write') die();
      };
      fh.sync = async () => {
        await sync();
        if (stage === 'sync') die();
      };
    }
    return fh;
  };
  const rename = fsp.rename;
  fsp.rename = async function patchedRename(...args) {
    await rename.apply(this, args);
    if (armed && stage === 'rename') die();
  };
}
