/** The extension's settings (package.json `contributes.configuration`), read into the engine's request shapes. */
import * as vscode from 'vscode';
import { DEFAULT_REPETITION_PENALTY, type AskRequest, type DeviceChoice, type GenerationSettings, type RereadSettings, type WalkerOptions } from '../model/engine/protocol';
import { DEFAULT_EXCLUDES } from '../model/workspace/default-excludes';
import { MAX_ANSWER_TOKENS, type Sampling } from '../webview/protocol';
import { SECTION, Settings } from './ids';

export type ReadOnOpen = 'ask' | 'always' | 'never';

export function config(scope?: vscode.ConfigurationScope): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION, scope);
}

/** The model folder, or undefined for the engine's default (the model shipped in the extension). */
export function modelPath(): string | undefined {
  const p = config().get<string>(Settings.modelPath, '').trim();
  return p === '' ? undefined : p;
}

export function device(): DeviceChoice {
  const d = config().get<string>(Settings.device, 'auto');
  return d === 'cpu' || d === 'webgpu' ? d : 'auto';
}

export function readOnOpen(folder: vscode.Uri): ReadOnOpen {
  const v = config(folder).get<string>(Settings.readOnOpen, 'ask');
  return v === 'always' || v === 'never' ? v : 'ask';
}

/** `famulus.teamMemory.source`: a path or URL of the team's bundles (may hold `${commit}`), or '' for none. */
export function teamMemorySource(folder: vscode.Uri): string {
  return (config(folder).get<string>(Settings.teamMemorySource, '') ?? '').trim();
}

export function updateOnChange(folder: vscode.Uri): boolean {
  return config(folder).get<boolean>(Settings.updateOnChange, true);
}

/** How answers are generated: `famulus.answerLength`, `temperature`, `repeatPenalty`, and the engine's default seed (0). */
export function sampling(): Sampling {
  const c = config();
  return {
    maxNewTokens: clampInt(c.get<number>(Settings.answerLength, 256), 1, MAX_ANSWER_TOKENS),
    temperature: Math.min(Math.max(Number(c.get<number>(Settings.temperature, 0)) || 0, 0), 2),
    repetitionPenalty: Math.min(Math.max(Number(c.get<number>(Settings.repeatPenalty, DEFAULT_REPETITION_PENALTY)) || 1, 1), 2),
    seed: 0,
  };
}

export function generation(): GenerationSettings {
  return sampling();
}

/** How much code is re-read before each answer: `famulus.rereadTokens`, 0 = the engine's default for the device. */
export function reread(): RereadSettings {
  const tokens = clampInt(config().get<number>(Settings.rereadTokens, 0), 0, 1 << 20);
  return tokens > 0 ? { tokens } : {};
}

/**
 * The budget of earlier turns a follow-up is asked with: `famulus.historyTokens`, 0 = the engine's default for
 * the device (DEFAULT_HISTORY_TOKENS).
 */
export function history(): Pick<AskRequest, 'historyTokens'> {
  const tokens = clampInt(config().get<number>(Settings.historyTokens, 0), 0, MAX_HISTORY_TOKENS);
  return tokens > 0 ? { historyTokens: tokens } : {};
}

/** The most `famulus.historyTokens` takes (package.json's maximum): the chat sends its last 16 turns at most. */
const MAX_HISTORY_TOKENS = 65536;

/**
 * Walker options: `famulus.exclude` plus the folder's `files.exclude` globs (those set to true), on top of the
 * walker's own .gitignore handling; `famulus.include` when not empty; `famulus.maxFileSize`; the default
 * excludes (`famulus.defaultExcludes`, whose default is the walker's DEFAULT_EXCLUDES: an empty list reads
 * changelogs and lock files too) and `famulus.skipMinified`.
 */
export function walkerOptions(folder: vscode.Uri): WalkerOptions {
  const c = config(folder);
  const excludes = [...strings(c.get<unknown>(Settings.exclude)), ...filesExclude(folder)];
  const includes = strings(c.get<unknown>(Settings.include));
  const options: WalkerOptions = {
    maxFileBytes: clampInt(c.get<number>(Settings.maxFileSize, 1048576), 1, 2 ** 31 - 1),
    defaultExcludes: strings(c.get<unknown>(Settings.defaultExcludes, DEFAULT_EXCLUDES)),
    skipMinified: c.get<boolean>(Settings.skipMinified, true) !== false,
  };
  if (excludes.length > 0) options.excludes = excludes;
  if (includes.length > 0) options.includes = includes;
  return options;
}

/** `files.exclude` globs that are on. VS Code globs (`**\/.git`) read the same in gitignore syntax for the common cases. */
function filesExclude(folder: vscode.Uri): string[] {
  const map = vscode.workspace.getConfiguration('files', folder).get<Record<string, unknown>>('exclude', {});
  return Object.entries(map ?? {})
    .filter(([glob, on]) => on === true && glob.trim() !== '')
    .map(([glob]) => glob.replace(/^\/+/, ''));
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((s): s is string => typeof s === 'string' && s.trim() !== '').map((s) => s.trim()) : [];
}

function clampInt(n: number, min: number, max: number): number {
  const i = Math.round(Number(n));
  return Number.isFinite(i) ? Math.min(Math.max(i, min), max) : min;
}
