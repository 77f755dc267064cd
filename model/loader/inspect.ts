/**
 * What a folder holds, as a model, without loading it: config.json (checked by the loader's own readFamConfig),
 * that tokenizer.json is there, and the weight files' headers (checked by the same code as a load, and against
 * the config's tensor table by checkWeightTable). No weight is read, so a folder of many GB is inspected in
 * milliseconds: the model picker shows every remembered folder this way. A folder that is not a model is refused
 * with the words loadModelDir would use.
 *
 * Not checked here: the tokenizer's contents (parsed only by a load) and the weights' values.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type FamConfig, type ModelFamily, familyLabel, memoryModeShort, memoryModeText, readFamConfig } from './config';
import { ModelFileError } from './errors';
import { type MemoryEstimate, estimateMemory, parameterCount } from './footprint';
import { modelDirectory, parseJson, readRequired, requireFile } from './model-files';
import { type SafetensorsDType, readCheckpointHeaders } from './safetensors';
import { checkWeightTable, expectedTensorTable } from './weights';

/** A folder the engine can run, described. */
export interface ModelReport {
  ok: true;
  /** The folder, resolved to an absolute path. */
  dir: string;
  config: FamConfig;
  family: {
    /** config.json's model_type. */
    modelType: ModelFamily;
    /** In words and as config.json says it: "Qwen2/Qwen2.5 (qwen2)". */
    label: string;
  };
  /** Weights the engine runs (the config's tensor table). */
  parameters: number;
  /** The weight files on disk. */
  weightFiles: number;
  weightBytes: number;
  /** The weights' dtypes as stored: "BF16", or "F16 + F32" when they differ. */
  dtype: string;
  memory: {
    /** The model has trained FAM rows (fam_length > 0); otherwise it runs as BSWA. */
    fam: boolean;
    /** memoryModeShort: "FAM, 64 rows" or "BSWA: no trained working memory". */
    short: string;
    /** memoryModeText: the sentence the CLI and the status tooltip use. */
    text: string;
  };
  estimate: MemoryEstimate;
  /** What the loader would note: fields read but not used, tensors ignored. */
  notes: string[];
}

/** A folder the engine cannot run, and why, in the loader's words. */
export interface ModelRefusal {
  ok: false;
  dir: string;
  reason: string;
}

export type ModelInspection = ModelReport | ModelRefusal;

/** Inspects `dir` as a model folder. Never throws for what the folder holds: a problem is a refusal. */
export function inspectModelDir(dir: string): ModelInspection {
  const abs = path.resolve(dir);
  try {
    return inspect(modelDirectory(abs));
  } catch (e) {
    const reason = e instanceof ModelFileError ? e.message : `${abs}: cannot be read: ${(e as Error).message}`;
    return { ok: false, dir: abs, reason };
  }
}

function inspect(dir: string): ModelReport {
  const configPath = path.join(dir, 'config.json');
  const { config, notes } = readFamConfig(parseJson(readRequired(configPath, 'config.json'), configPath), configPath);
  const tokenizer = path.join(dir, 'tokenizer.json');
  requireFile(tokenizer, 'tokenizer.json');
  if (!fs.statSync(tokenizer).isFile()) throw new ModelFileError(tokenizer, `${tokenizer} is not a file`);

  const weights = readCheckpointHeaders(dir);
  const source = weights.files.length === 1 ? weights.files[0]!.path : dir;
  const weightNotes = checkWeightTable(config, weights.tensors, source);

  const dtypes = new Set<SafetensorsDType>();
  for (const name of expectedTensorTable(config).keys()) dtypes.add(weights.tensors.get(name)!.dtype);
  const weightBytes = weights.files.reduce((n, f) => n + f.bytes, 0);
  return {
    ok: true,
    dir,
    config,
    family: { modelType: config.model_type, label: familyLabel(config) },
    parameters: parameterCount(config),
    weightFiles: weights.files.length,
    weightBytes,
    dtype: [...dtypes].sort().join(' + '),
    memory: { fam: config.fam_length > 0, short: memoryModeShort(config), text: memoryModeText(config) },
    estimate: estimateMemory(config, weightBytes),
    notes: [...notes, ...weightNotes],
  };
}
