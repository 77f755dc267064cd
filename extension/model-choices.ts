/**
 * What `Famulus: Select Model` lists: the built-in model, then every model folder chosen before (and the one
 * `famulus.modelPath` names), each described from inspectModelDir (family, parameters, size on disk, memory mode)
 * with whether it fits this machine, and last "Choose a model folder…". A folder that is no longer a model is
 * listed with the reason and cannot be selected, only forgotten. Pure (no vscode): the picker and the tests
 * use the same rows.
 */
import * as path from 'node:path';
import type { DeviceChoice } from '../model/engine/protocol';
import type { ModelInspection, ModelReport } from '../model/loader/inspect';

/** The machine's memory (os.totalmem / os.freemem of the extension host, which is where the engine runs). */
export interface MachineMemory {
  totalBytes: number;
  freeBytes: number;
}

/** One row of the picker. */
export interface ModelChoice {
  kind: 'builtIn' | 'folder' | 'choose';
  /** What `famulus.modelPath` becomes: '' for the built-in model, the folder for a folder, '' for 'choose'. */
  value: string;
  label: string;
  description: string;
  detail: string;
  /** The model `famulus.modelPath` names now. */
  current: boolean;
  /** Why this folder cannot be selected (it is not a model, or no longer one); null when it can. */
  refused: string | null;
}

/** How many chosen folders are remembered, most recent first. */
export const REMEMBERED_FOLDERS = 10;

export const CHOOSE_FOLDER_LABEL = 'Choose a model folder…';
export const BUILT_IN_LABEL = 'Built-in model';

/**
 * The picker's rows. `folders`: the remembered folders, most recent first, and the current setting's folder
 * (listed once, first among the folders when it is not remembered). `current`: `famulus.modelPath` ('' for
 * the built-in model).
 */
export function modelChoices(input: {
  builtIn: ModelInspection;
  folders: readonly ModelInspection[];
  current: string;
  device: DeviceChoice;
  machine: MachineMemory;
}): ModelChoice[] {
  const { builtIn, device, machine } = input;
  const current = input.current.trim() === '' ? '' : path.resolve(input.current);
  const rows: ModelChoice[] = [];
  rows.push(row('builtIn', '', BUILT_IN_LABEL, builtIn, current === '', 'ships with Famulus', device, machine));
  const seen = new Set<string>();
  for (const f of input.folders) {
    if (seen.has(f.dir)) continue;
    seen.add(f.dir);
    rows.push(row('folder', f.dir, path.basename(f.dir) || f.dir, f, f.dir === current, f.dir, device, machine));
  }
  rows.push({
    kind: 'choose',
    value: '',
    label: CHOOSE_FOLDER_LABEL,
    description: 'a folder with config.json, safetensors weights and tokenizer.json',
    detail: 'Llama, Mistral, Qwen2/Qwen2.5, Qwen3 and SmolLM2 checkpoints in Hugging Face format',
    current: false,
    refused: null,
  });
  return rows;
}

function row(
  kind: 'builtIn' | 'folder',
  value: string,
  name: string,
  model: ModelInspection,
  current: boolean,
  where: string,
  device: DeviceChoice,
  machine: MachineMemory,
): ModelChoice {
  const label = `${current ? '$(check) ' : ''}${model.ok ? '' : '$(warning) '}${name}`;
  if (!model.ok) {
    return {
      kind,
      value,
      label,
      description: kind === 'folder' ? 'not a model folder: select it to forget it' : 'cannot be used',
      detail: oneLine(model.reason),
      current,
      refused: model.reason,
    };
  }
  // The fit first: a long folder path is cut off at the end of the row.
  return { kind, value, label, description: describeModel(model), detail: `${deviceFit(model, device, machine)} — ${where}`, current, refused: null };
}

/** "Qwen3 (qwen3) · 35.0K parameters · 72.5 KiB BF16 · BSWA: no trained working memory". */
export function describeModel(m: ModelReport): string {
  return `${m.family.label} · ${formatCount(m.parameters)} parameters · ${formatBytes(m.weightBytes)} ${m.dtype} · ${m.memory.short}`;
}

/**
 * Whether the model fits where it would run: the CPU estimate against this machine's memory (for the cpu and
 * auto settings), and the WebGPU estimate (for webgpu and auto), which is said as a need only: the extension host
 * cannot see the GPU adapter's memory.
 */
export function deviceFit(m: ModelReport, device: DeviceChoice, machine: MachineMemory): string {
  const parts: string[] = [];
  if (device !== 'webgpu') parts.push(`CPU ${cpuFit(m.estimate.cpu.bytes, machine)}`);
  if (device !== 'cpu') parts.push(`GPU: needs ~${formatBytes(m.estimate.webgpu.bytes)} of GPU memory (the adapter's memory is not known here)`);
  return parts.join(' · ');
}

/** "fits: needs ~1.0 GiB of 15.6 GiB RAM (9.2 GiB free)", "tight: …", or "too big: …". */
export function cpuFit(need: number, machine: MachineMemory): string {
  const of = `~${formatBytes(need)} of ${formatBytes(machine.totalBytes)} RAM`;
  if (need <= machine.freeBytes) return `fits: needs ${of} (${formatBytes(machine.freeBytes)} free)`;
  if (need <= machine.totalBytes) return `tight: needs ${of}, only ${formatBytes(machine.freeBytes)} free now`;
  return `too big: needs ${of}`;
}

/** The remembered folders with `dir` first (once), at most REMEMBERED_FOLDERS. */
export function rememberFolder(folders: readonly string[], dir: string): string[] {
  return [dir, ...folders.filter((f) => f !== dir)].slice(0, REMEMBERED_FOLDERS);
}

/** The remembered folders without `dir`. */
export function forgetFolder(folders: readonly string[], dir: string): string[] {
  return folders.filter((f) => f !== dir);
}

/** 1536 -> "1.5 KiB", 47926320 -> "45.7 MiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** 35040 -> "35.0K", 23960064 -> "24.0M", 1543714304 -> "1.54B". */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

/**
 * A loader message on one line, for a list row or a notification: "…config.json: invalid config:\n  - a\n  - b"
 * becomes "…config.json: invalid config: a; b".
 */
export function oneLine(text: string): string {
  return text.replace(/:\n\s*-\s*/g, ': ').replace(/\n\s*-\s*/g, '; ').replace(/\s*\n\s*/g, ' ');
}
