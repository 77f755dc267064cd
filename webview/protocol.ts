/**
 * The one message protocol between the extension and its webviews (the sidebar chat and the summary panel).
 * Both sides import this module: the extension to check what a webview posts, the webviews to check what the
 * extension posts. It uses no DOM, node or vscode API, so it runs in either place and in unit tests.
 *
 * Each direction is a type map `{ type: payload }`; a message on the wire is `{ type, ...payload }`.
 * `parseToExtension` / `parseToWebview` return the typed message or throw a ProtocolError naming the bad field:
 * a message is never acted on unless it passed its check.
 */

// ---------------------------------------------------------------------------------------------- shared shapes

/** What the header shows about the workspace memory. */
export interface MemoryView {
  /** 'untrusted': Restricted Mode, nothing is read until the workspace is trusted. */
  phase: 'no-workspace' | 'untrusted' | 'empty' | 'starting' | 'reading' | 'updating' | 'ready' | 'error';
  files: number;
  tokens: number;
  /** Model folder name and short id, or '' before the engine has loaded one. */
  model: string;
  /** e.g. "cpu (cpu x64, 2 threads)" or "webgpu (NVIDIA H100)"; '' before the engine started. */
  device: string;
  /** ISO time of the last update of the memory, or ''. */
  lastUpdate: string;
  /** A line for the user (an error, or why WebGPU was skipped), or ''. */
  detail: string;
}

export interface ProgressView {
  filesDone: number;
  filesTotal: number;
  tokensDone: number;
  tokensPerSecond: number;
  /** Estimated seconds left, or -1 when unknown. */
  secondsLeft: number;
  currentFile: string;
  /** 0..100 */
  percent: number;
}

export interface ChatEntry {
  id: string;
  role: 'user' | 'assistant';
  /** Markdown. */
  text: string;
  /** For the assistant: how the answer ended. */
  status?: 'streaming' | 'done' | 'cancelled' | 'error';
  /** For a summary turn: the file it summarises. */
  file?: string;
  /** Timing line shown under an answer, e.g. "42 tokens · 12.3 tok/s". */
  stats?: string;
}

// ---------------------------------------------------------------------------------------------- the maps

/** Extension → webview (chat and summary). */
export type ToWebview = {
  /** Everything the chat shows, sent after `ready` and whenever it is reset. */
  'chat/init': { entries: ChatEntry[]; memory: MemoryView; progress: ProgressView | null; busyId: string | null };
  'memory/status': { memory: MemoryView };
  'memory/progress': { progress: ProgressView | null };
  /** A new entry (a question, or an answer that starts streaming). */
  'chat/append': { entry: ChatEntry };
  /** More text for a streaming entry. */
  'chat/delta': { id: string; text: string };
  /** The entry is complete (or stopped, or failed: then `text` holds the error). */
  'chat/end': { id: string; status: 'done' | 'cancelled' | 'error'; text: string; stats: string };
  /** The extension is busy with this entry (stop targets it), or idle (null). */
  'chat/busy': { busyId: string | null };
  'chat/focusInput': Record<string, never>;
  /** Summary panel: a summary of `file` starts. */
  'summary/start': { file: string };
  'summary/delta': { text: string };
  'summary/end': { status: 'done' | 'cancelled' | 'error'; text: string; stats: string };
};

/** Webview → extension. */
export type ToExtension = {
  /** The webview's script is running and listening; the extension then sends what it queued. */
  ready: Record<string, never>;
  'chat/ask': { question: string };
  /** Stop the answer being streamed (Escape or the stop button). */
  'chat/stop': Record<string, never>;
  'chat/clear': Record<string, never>;
  /** Open a cited workspace file at a line; the extension refuses paths outside the workspace. */
  'citation/open': { path: string; line: number };
  /** Run one of the allow-listed commands (buttons in the header). */
  'command/run': { command: WebviewCommand };
  'summary/copy': Record<string, never>;
  'summary/openMarkdown': Record<string, never>;
  'summary/stop': Record<string, never>;
};

/** Commands a webview may ask for; anything else is refused. */
export const WEBVIEW_COMMANDS = ['readWorkspace', 'refreshMemory', 'forgetMemory', 'showStatus', 'selectDevice', 'selectModel'] as const;
export type WebviewCommand = (typeof WEBVIEW_COMMANDS)[number];

export type Message<M> = { [K in keyof M]: { type: K } & M[K] }[keyof M];
export type ToWebviewMessage = Message<ToWebview>;
export type ToExtensionMessage = Message<ToExtension>;

// ---------------------------------------------------------------------------------------------- checks

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

type Check<T> = (value: unknown, at: string) => T;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const fail = (at: string, expected: string, value: unknown): never => {
  const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
  throw new ProtocolError(`${at}: expected ${expected}, got ${got}`);
};

/** Longest text any message may carry (a question, an answer so far); protects both sides from floods. */
export const MAX_TEXT = 1_000_000;

const str = (max = MAX_TEXT, nonEmpty = false): Check<string> => (v, at) =>
  typeof v === 'string' && v.length <= max && (!nonEmpty || v.trim().length > 0)
    ? v
    : fail(at, `a ${nonEmpty ? 'non-empty ' : ''}string of at most ${max} characters`, v);
const num = (min: number, max: number, integer = false): Check<number> => (v, at) =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max && (!integer || Number.isInteger(v))
    ? v
    : fail(at, `${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`, v);
const oneOf = <const L extends readonly string[]>(...values: L): Check<L[number]> => (v, at) =>
  typeof v === 'string' && values.includes(v) ? (v as L[number]) : fail(at, `one of ${values.join(' | ')}`, v);
const nullable = <T>(check: Check<T>): Check<T | null> => (v, at) => (v === null ? null : check(v, at));
const optional = <T>(check: Check<T>): Check<T | undefined> & { optional: true } =>
  Object.assign((v: unknown, at: string) => (v === undefined ? undefined : check(v, at)), { optional: true as const });
const arrayOf = <T>(check: Check<T>, max: number): Check<T[]> => (v, at) =>
  Array.isArray(v) && v.length <= max ? v.map((x, i) => check(x, `${at}[${i}]`)) : fail(at, `an array of at most ${max}`, v);

/** An object with exactly these fields (unknown fields are refused). */
function obj<T>(shape: { [K in keyof T]-?: Check<T[K]> }): Check<T> {
  return (v, at) => {
    if (!isObject(v)) return fail(at, 'an object', v);
    for (const key of Object.keys(v)) {
      if (!Object.prototype.hasOwnProperty.call(shape, key)) throw new ProtocolError(`${at}.${key}: unknown field`);
    }
    const out: Record<string, unknown> = {};
    for (const [key, check] of Object.entries(shape) as [string, Check<unknown>][]) {
      const field = check(v[key], `${at}.${key}`);
      if (field !== undefined) out[key] = field;
    }
    return out as T;
  };
}
const empty: Check<Record<string, never>> = obj<Record<string, never>>({});

const ID = str(64, true);
const memoryView: Check<MemoryView> = obj<MemoryView>({
  phase: oneOf('no-workspace', 'untrusted', 'empty', 'starting', 'reading', 'updating', 'ready', 'error'),
  files: num(0, Number.MAX_SAFE_INTEGER, true),
  tokens: num(0, Number.MAX_SAFE_INTEGER, true),
  model: str(500),
  device: str(500),
  lastUpdate: str(64),
  detail: str(4000),
});
const progressView: Check<ProgressView> = obj<ProgressView>({
  filesDone: num(0, Number.MAX_SAFE_INTEGER, true),
  filesTotal: num(0, Number.MAX_SAFE_INTEGER, true),
  tokensDone: num(0, Number.MAX_SAFE_INTEGER, true),
  tokensPerSecond: num(0, Number.MAX_VALUE),
  secondsLeft: num(-1, Number.MAX_VALUE),
  currentFile: str(4096),
  percent: num(0, 100),
});
const chatEntry: Check<ChatEntry> = obj<ChatEntry>({
  id: ID,
  role: oneOf('user', 'assistant'),
  text: str(),
  status: optional(oneOf('streaming', 'done', 'cancelled', 'error')),
  file: optional(str(4096)),
  stats: optional(str(500)),
});
const endStatus = oneOf('done', 'cancelled', 'error');

const toWebviewChecks: { [K in keyof ToWebview]: Check<ToWebview[K]> } = {
  'chat/init': obj<ToWebview['chat/init']>({
    entries: arrayOf(chatEntry, 10_000),
    memory: memoryView,
    progress: nullable(progressView),
    busyId: nullable(ID),
  }),
  'memory/status': obj<ToWebview['memory/status']>({ memory: memoryView }),
  'memory/progress': obj<ToWebview['memory/progress']>({ progress: nullable(progressView) }),
  'chat/append': obj<ToWebview['chat/append']>({ entry: chatEntry }),
  'chat/delta': obj<ToWebview['chat/delta']>({ id: ID, text: str() }),
  'chat/end': obj<ToWebview['chat/end']>({ id: ID, status: endStatus, text: str(), stats: str(500) }),
  'chat/busy': obj<ToWebview['chat/busy']>({ busyId: nullable(ID) }),
  'chat/focusInput': empty,
  'summary/start': obj<ToWebview['summary/start']>({ file: str(4096, true) }),
  'summary/delta': obj<ToWebview['summary/delta']>({ text: str() }),
  'summary/end': obj<ToWebview['summary/end']>({ status: endStatus, text: str(), stats: str(500) }),
};

const toExtensionChecks: { [K in keyof ToExtension]: Check<ToExtension[K]> } = {
  ready: empty,
  'chat/ask': obj<ToExtension['chat/ask']>({ question: str(20_000, true) }),
  'chat/stop': empty,
  'chat/clear': empty,
  'citation/open': obj<ToExtension['citation/open']>({ path: str(4096, true), line: num(1, 10_000_000, true) }),
  'command/run': obj<ToExtension['command/run']>({ command: oneOf(...WEBVIEW_COMMANDS) }),
  'summary/copy': empty,
  'summary/openMarkdown': empty,
  'summary/stop': empty,
};

function parseWith<M>(checks: { [K in keyof M]: Check<M[K]> }, message: unknown): Message<M> {
  if (!isObject(message)) return fail('message', 'an object', message);
  const { type, ...payload } = message;
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(checks, type)) {
    throw new ProtocolError(`message.type: unknown message type ${JSON.stringify(String(type)).slice(0, 80)}`);
  }
  const check = checks[type as keyof M] as Check<unknown>;
  return { type, ...(check(payload, type) as object) } as Message<M>;
}

/** Checks a message a webview posted (the extension's side). Throws ProtocolError. */
export function parseToExtension(message: unknown): ToExtensionMessage {
  return parseWith(toExtensionChecks, message);
}

/** Checks a message the extension posted (the webview's side). Throws ProtocolError. */
export function parseToWebview(message: unknown): ToWebviewMessage {
  return parseWith(toWebviewChecks, message);
}

/** Builds a message with its type, so call sites stay typed: `msg('chat/delta', { id, text })`. */
export function msg<M, K extends keyof M>(type: K, payload: M[K]): { type: K } & M[K] {
  return { type, ...payload };
}
