/**
 * A model is a directory:
 *   config.json                                    FamConfig (./config.ts)
 *   model.safetensors | model.safetensors.index.json + shards   weights (./safetensors.ts, checked by ./weights.ts)
 *   tokenizer.json [+ tokenizer_config.json]       Hugging Face tokenizer (./tokenizer.ts), with the chat template
 *   [chat_template.jinja]                          of tokenizer_config.json or this file (./chat-template.ts)
 * loadModelDir reads and checks all of it and names the model by a hash of its bytes.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FamConfig, readFamConfig } from './config';
import { ModelFileError } from './errors';
import { bundledModelDir, modelDirectory, parseJson, readRequired } from './model-files';
import { WeightTensor, readCheckpointDir } from './safetensors';
import { FamTokenizer } from './tokenizer';
import { checkWeightTable } from './weights';

export interface LoadedModel {
  /** The directory, resolved to an absolute path. */
  dir: string;
  config: FamConfig;
  /** Checked against the config's tensor table; views into the files' buffers. */
  tensors: Map<string, WeightTensor>;
  tokenizer: FamTokenizer;
  /** What the model is, as bytes: see modelIdOf. A saved state is only valid for the same id. */
  modelId: string;
  /** Things the loader ignored or assumed, worth a line in a log (e.g. a rotary inv_freq buffer it skipped). */
  notes: string[];
}

/** Bytes hashed per Hash#update call: it refuses more than 2 GiB at once. */
const HASH_PIECE = 1 << 30;

/**
 * sha256 (hex) over the files that define the model, in this order: config.json, every weight file sorted by
 * file name, tokenizer.json. Each part enters the hash as `<file name>\n<byte length>\n<bytes>`, so bytes cannot
 * move from one file to the next without changing the id.
 */
export function modelIdOf(parts: { name: string; bytes: Uint8Array }[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(`${p.name}\n${p.bytes.byteLength}\n`);
    // One fp16 file of a 1.5B model is already 3.1 GB.
    for (let at = 0; at < p.bytes.byteLength; at += HASH_PIECE) h.update(p.bytes.subarray(at, at + HASH_PIECE));
  }
  return h.digest('hex');
}

/**
 * Loads and checks a model directory. Every problem is a ModelFileError naming the file and what was seen.
 * The files are read synchronously (one read each); the promise lets callers stay unchanged if that moves off
 * the event loop.
 */
export async function loadModelDir(dir: string): Promise<LoadedModel> {
  const abs = modelDirectory(dir);

  const configPath = path.join(abs, 'config.json');
  const configBytes = readRequired(configPath, 'config.json');
  const { config, notes: configNotes } = readFamConfig(parseJson(configBytes, configPath), configPath);

  const tokenizerPath = path.join(abs, 'tokenizer.json');
  const tokenizerBytes = readRequired(tokenizerPath, 'tokenizer.json');
  const tokenizerConfigPath = path.join(abs, 'tokenizer_config.json');
  const tokenizerConfig = fs.existsSync(tokenizerConfigPath)
    ? parseJson(fs.readFileSync(tokenizerConfigPath), tokenizerConfigPath)
    : undefined;
  const templateFile = path.join(abs, 'chat_template.jinja');
  const tokenizer = FamTokenizer.fromJSON(parseJson(tokenizerBytes, tokenizerPath), tokenizerConfig, {
    source: tokenizerPath,
    requireSpecials: config.fam_length > 0,
    ...(fs.existsSync(templateFile) && { chatTemplateFile: fs.readFileSync(templateFile, 'utf8') }),
  });
  if (tokenizer.vocabSize > config.vocab_size) {
    throw new ModelFileError(
      tokenizerPath,
      `${tokenizerPath}: the tokenizer has ids up to ${tokenizer.vocabSize - 1} but config.json's vocab_size is ` +
        `${config.vocab_size}: this tokenizer belongs to another model`,
    );
  }

  const weights = readCheckpointDir(abs);
  const notes = [...configNotes, ...checkWeightTable(config, weights.tensors, weights.files.length === 1 ? weights.files[0]!.path : abs)];

  const weightParts = weights.files
    .map((f) => ({ name: path.basename(f.path), bytes: f.bytes }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const modelId = modelIdOf([
    { name: 'config.json', bytes: configBytes },
    ...weightParts,
    { name: 'tokenizer.json', bytes: tokenizerBytes },
  ]);
  return { dir: abs, config, tensors: weights.tensors, tokenizer, modelId, notes };
}

/**
 * The model the product ships: `model/weights/default/` under the package root. Says which one through `log`.
 * Without it there is no model to fall back to: the error names the folder it expected and how to point
 * Famulus at another model. The package root (`root`, given by tests only) is the nearest directory above this
 * file's with Famulus's package.json, so this works from the sources (tsx) and from the bundle (dist/*.js) alike.
 */
export function defaultModelDir(
  log: (line: string) => void = (line) => console.error(line),
  root = packageRoot(__dirname),
): string {
  const dir = bundledModelDir(root);
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    throw new ModelFileError(dir, `no default model: expected one in ${dir} (config.json, weights, tokenizer.json). ` +
      'Point Famulus at a model directory instead: `--model <dir>` on the command line, the `famulus.modelPath` ' +
      'setting in VS Code.');
  }
  log(`model: default model ${dir}`);
  return dir;
}

/** The nearest directory at or above `from` holding a package.json named "famulus". */
export function packageRoot(from: string): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'famulus') return dir;
      } catch {
        // An unreadable package.json is not ours; keep walking up.
      }
    }
    if (path.dirname(dir) === dir) {
      throw new Error(`no package.json named "famulus" in ${from} or any directory above it`);
    }
  }
}
