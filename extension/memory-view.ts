/**
 * How the memory and the engine are shown (the chat header, the status bar, Show Memory Status): the model by
 * its name and the device in a word, the ids, the adapter and why WebGPU was not used only in a tooltip and
 * the log; a problem as a short line with what to do about it (./problems.ts). Pure (no vscode).
 */
import * as path from 'node:path';
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

/** The details for a tooltip: the model's folder and id, the adapter, and why WebGPU was not used. */
function about(info: EngineInfo): string {
  const m = info.model;
  const d = info.device;
  return [
    `Model: ${m.dir} (id ${m.modelId.slice(0, 12)}, ${m.layers} layers, width ${m.hiddenSize})`,
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
