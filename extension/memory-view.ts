/**
 * How the memory and the engine are shown (the chat header, the status bar, Show Memory Status): the model by
 * its name and the device in a word, the ids, the adapter and why WebGPU was not used only in a tooltip and
 * the log; a problem as a short line with what to do about it (./problems.ts). Also what a read says when it
 * is done (once per workspace and model; "up to date" when nothing changed) and the rows of Files in Memory.
 * Pure (no vscode).
 */
import * as path from 'node:path';
import type { FilesResult, SkipReason, WorkspaceResult } from '../model/engine/protocol';
import { READ_BUTTON, type MemoryView } from '../webview/protocol';
import type { EngineInfo } from './engine-host';
import { explainProblem, type Problem } from './problems';

/** What WorkspaceMemory knows of its folder's memory. */
export interface MemoryState {
  phase: MemoryView['phase'];
  files: number;
  tokens: number;
  lastUpdate: string;
  /** A line for the user, or an error's message (shortened here), or ''. */
  detail: string;
}

export function presentMemory(state: MemoryState, info: EngineInfo | null): MemoryView {
  const problem: Problem | null =
    state.phase === 'error' ? explainProblem(state.detail) : state.detail ? { message: state.detail, action: null } : info ? gpuNotice(info) : null;
  return {
    phase: state.phase,
    files: state.files,
    tokens: state.tokens,
    model: info ? modelName(info) : '',
    device: info ? deviceName(info) : '',
    about: info ? about(info) : '',
    lastUpdate: state.lastUpdate,
    detail: problem?.message ?? '',
    action: problem?.action ?? null,
  };
}

/** "built-in model", or the folder name of a model the user chose. */
export function modelName(info: EngineInfo): string {
  return info.builtIn ? 'built-in model' : path.basename(info.model.dir);
}

/** "CPU" or "GPU": where the model runs. */
export function deviceName(info: EngineInfo): string {
  return info.device.provider === 'webgpu' ? 'GPU' : 'CPU';
}

/** The user chose WebGPU and the engine runs on the CPU instead (engine-host.ts falls back when no adapter exists). */
function gpuNotice(info: EngineInfo): Problem | null {
  if (info.requested !== 'webgpu' || info.device.provider === 'webgpu') return null;
  return { message: 'No GPU adapter found: the model runs on the CPU.', action: 'useCpu' };
}

/** The details for a tooltip: the model's folder, family and id, the adapter, and why WebGPU was not used. */
function about(info: EngineInfo): string {
  const m = info.model;
  const d = info.device;
  return [
    `Model: ${m.dir} (${m.family}, id ${m.modelId.slice(0, 12)}, ${m.layers} layers, width ${m.hiddenSize})`,
    `Memory: ${m.memoryMode}`,
    `Device: ${d.provider}, ${d.adapter}, ${d.dtype}`,
    d.fallbackReason ? `WebGPU not used: ${d.fallbackReason}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

/** What the header says after a read was stopped, naming the button that goes on with it. */
export function readStoppedDetail(files: number): string {
  return files > 0
    ? `Reading was stopped after ${files} files; ${READ_BUTTON.refresh} reads the rest.`
    : `Reading was stopped before any file was read; ${READ_BUTTON.read} starts again.`;
}

// ---- what a read says when it is done ------------------------------------------------------------------------

/** The buttons of the notice after the first read of a workspace. */
export const READ_DONE_ACTIONS = { ask: 'Ask a question', files: 'Show files' } as const;

/** The notice after the first read of a workspace with a model: what is now in memory. */
export function readDoneMessage(folder: string, files: number, tokens: number): string {
  return `Famulus has read ${count(files)} ${files === 1 ? 'file' : 'files'} (${count(tokens)} tokens) of “${folder}”.`;
}

/** A finished read that found nothing new, changed or deleted since the memory was last updated. */
export function nothingChanged(result: WorkspaceResult): boolean {
  const read = result.read;
  return read !== null && !result.cancelled && result.state !== null && read.filesIngested === 0 && read.filesReused === result.state.files;
}

/** What a refresh that found nothing to read says, in the notification and the chat header. */
export function upToDateDetail(lastUpdate: string): string {
  return `Memory is up to date: nothing changed since ${new Date(lastUpdate).toLocaleString()}.`;
}

// ---- the files in memory ------------------------------------------------------------------------------------

/** Why a file was not read, in a few words (the walker's reasons, model/workspace/walker.ts SKIP_REASONS). */
export const SKIP_REASON_LABELS: Record<SkipReason, string> = {
  gitignored: 'in .gitignore',
  excluded: 'excluded',
  'default-excluded': 'skipped by default',
  minified: 'minified or generated',
  'not-included': 'not included',
  'too-large': 'too large',
  binary: 'binary',
  'invalid-utf8': 'not UTF-8 text',
  unreadable: 'unreadable',
  'symlink-dir': 'linked folder',
  'symlink-loop': 'link loop',
  'symlink-duplicate': 'read through another link',
  'symlink-outside': 'links out of the workspace',
  'not-regular': 'not a regular file',
  'too-deep': 'too deep',
  'time-budget': 'not reached in time',
  'rules-not-applied': 'rules not applied',
};

/** One row of the Files in Memory list: a heading, a file read, a file skipped, or a line about the list. */
export interface FileRow {
  kind: 'heading' | 'file' | 'skipped' | 'more' | 'edit-defaults';
  label: string;
  description?: string;
  detail?: string;
  /** Root-relative path of a file that can be opened. */
  path?: string;
}

/** The title of the Files in Memory list: "12 files, 7,062 tokens in memory · 3 skipped". */
export function filesTitle(result: FilesResult): string {
  const tokens = result.files.reduce((n, f) => n + f.tokens, 0);
  return `${count(result.files.length)} files, ${count(tokens)} tokens in memory · ${count(result.skippedTotal)} skipped`;
}

/**
 * The rows of the Files in Memory list: every file the memory holds with its tokens, then every entry the last
 * walk skipped with its reason and why (the rule, the size and limit), and a way to change the default excludes.
 */
export function filesInMemoryRows(result: FilesResult): FileRow[] {
  const tokens = result.files.reduce((n, f) => n + f.tokens, 0);
  const rows: FileRow[] = [{ kind: 'heading', label: `In memory: ${count(result.files.length)} files, ${count(tokens)} tokens` }];
  for (const f of [...result.files].sort((a, b) => compare(a.path, b.path))) {
    rows.push({ kind: 'file', label: f.path, description: `${count(f.tokens)} tokens`, path: f.path });
  }
  rows.push({ kind: 'heading', label: result.walkedAt === null ? 'Skipped: not known until the next Refresh' : `Skipped: ${count(result.skippedTotal)}` });
  for (const s of result.skipped) {
    const row: FileRow = { kind: 'skipped', label: s.path, description: SKIP_REASON_LABELS[s.reason], detail: s.detail };
    if (!s.path.endsWith('/')) row.path = s.path;
    rows.push(row);
  }
  const more = result.skippedTotal - result.skipped.length;
  if (more > 0) rows.push({ kind: 'more', label: `… and ${count(more)} more skipped` });
  if (result.skipped.some((s) => s.reason === 'default-excluded' || s.reason === 'minified')) {
    rows.push({ kind: 'edit-defaults', label: 'Change what is skipped by default…', detail: 'the settings famulus.defaultExcludes and famulus.skipMinified' });
  }
  return rows;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
