/**
 * The first steps of reading a model directory, shared by loadModelDir (model-dir.ts), which goes on to read
 * everything, and inspectModelDir (inspect.ts), which reads only what says what the model is: so both refuse
 * a folder with the same words. Nothing here reads weights or parses a tokenizer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFileError } from './errors';

/** `dir` resolved to an absolute path, which must exist and be a directory. */
export function modelDirectory(dir: string): string {
  const abs = path.resolve(dir);
  if (!fs.existsSync(abs)) throw new ModelFileError(abs, `model directory ${abs} does not exist`);
  if (!fs.statSync(abs).isDirectory()) throw new ModelFileError(abs, `${abs} is not a directory (expected a model directory)`);
  return abs;
}

/** Where the model that ships with Famulus lives under the package root `root`. */
export function bundledModelDir(root: string): string {
  return path.join(root, 'model', 'weights', 'default');
}

/** Refuses a model directory without `file`, one of the files it must hold (`what` names it in the error). */
export function requireFile(file: string, what: string): void {
  if (!fs.existsSync(file)) {
    throw new ModelFileError(file, `${path.dirname(file)}: no ${what} (a model directory needs config.json, ` +
      `model.safetensors or a shard index, and tokenizer.json)`);
  }
}

/** The bytes of one file a model directory must hold (`what` names it in the error). */
export function readRequired(file: string, what: string): Uint8Array {
  requireFile(file, what);
  return fs.readFileSync(file);
}

/** JSON from a model file, or a ModelFileError naming it. */
export function parseJson(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new ModelFileError(file, `${file}: not valid JSON: ${(e as Error).message}`);
  }
}
