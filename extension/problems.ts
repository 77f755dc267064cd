/**
 * What went wrong, in a line a user can act on, with the one action that helps: the engine's errors carry
 * onnxruntime's and the loader's own words (a C++ source location, a stack of causes), which belong in the
 * Famulus log, not in the chat. Pure (no vscode), so the wording is unit-tested.
 */
import type { ErrorCode } from '../model/engine/protocol';
import { READ_BUTTON, type ProblemAction } from '../webview/protocol';

export interface Problem {
  /** One or two short sentences. */
  message: string;
  action: ProblemAction | null;
}

/** Longest reason quoted from an error. */
const MAX_REASON = 200;

/** onnxruntime's WebGPU provider found no adapter (no GPU, no driver, or a headless machine). */
export function isNoGpuAdapter(message: string): boolean {
  return /Failed to get a WebGPU adapter|No supported adapters|RequestAdapterStatus|could not start the FAM engine on webgpu/i.test(message);
}

/** The loader's words for a model folder it cannot use (model/loader/). */
const MODEL_FILES = /model directory .* does not exist|is not a directory|no default model|no config\.json|no tokenizer\.json|no weights|invalid config|not valid JSON|cannot read weights|shard index|shards disagree|not a Hugging Face tokenizer/i;

export function explainProblem(message: string, code?: ErrorCode): Problem {
  if (isNoGpuAdapter(message)) {
    return { message: 'No GPU adapter found, so the model cannot run on WebGPU here.', action: 'useCpu' };
  }
  if (MODEL_FILES.test(message)) {
    return { message: `The model could not be loaded: ${reason(message.replace(/^.*?could not start:\s*/i, ''))}`, action: 'selectModel' };
  }
  if (/Restricted Mode/.test(message)) {
    return { message: 'This workspace is in Restricted Mode: trust it to let Famulus read it.', action: 'manageTrust' };
  }
  if (code === 'no-state' || /Nothing is in memory yet/.test(message)) {
    return { message: `Nothing is in memory yet: click ${READ_BUTTON.read} to read this folder first.`, action: 'readWorkspace' };
  }
  if (/^Open a folder first/.test(message)) return { message, action: null };
  if (code === 'engine-crashed' || /engine (was killed|exited with code)/.test(message)) {
    return { message: 'The engine stopped unexpectedly; it starts again with the saved memory.', action: 'showLog' };
  }
  return { message: `${reason(message)} (details in the Famulus log)`, action: 'showLog' };
}

/** The first line of an error, without C++ source locations, bounded. */
function reason(message: string): string {
  const line = (message.split('\n')[0] ?? '').replace(/\S+\.(?:cc|cpp|h):\d+\s*/g, '').trim();
  const ended = /[.!?)]$/.test(line) ? line : `${line}.`;
  return ended.length <= MAX_REASON ? ended : `${ended.slice(0, MAX_REASON - 1).trimEnd()}…`;
}
