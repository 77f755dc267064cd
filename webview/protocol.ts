/**
 * The one message protocol between the extension and its webviews (the sidebar chat and the summary panel).
 * Both sides import this module: the extension to check what a webview posts, the webviews to check what the
 * extension posts. It uses no DOM, node or vscode API, so it runs in either place and in unit tests.
 *
 * Each direction is a type map `{ type: payload }`; a message on the wire is `{ type, ...payload }`.
 * `parseToExtension` / `parseToWebview` return the typed message or throw a ValidationError naming the bad
 * field (the checks are model/protocol/check.ts, shared with the engine's protocol): a message is never acted
 * on unless it passed its check.
 */
import type { Citation, Source } from '../model/engine/protocol';
import { ValidationError, fail, isPlainObject, v, type Check } from '../model/protocol/check';
import { MAX_REFERENCE, MAX_REFERENCES } from './references';

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
  /** Model and device in one line of detail (ids, adapter, why WebGPU was not used), for a tooltip; ''. */
  about: string;
  /** A short line for the user (a problem, or what to do next), or ''. The whole story is in the log. */
  detail: string;
  /** What the user can do about `detail`, as a button, or null. */
  action: ProblemAction | null;
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
  /** A question, an answer, or the line where a new topic starts (the turns above it are not sent with a question). */
  role: 'user' | 'assistant' | 'divider';
  /** Markdown. */
  text: string;
  /** For the assistant: how the answer ended. */
  status?: 'streaming' | 'done' | 'cancelled' | 'error';
  /** For a summary turn: the file it summarises. */
  file?: string;
  /** Timing line shown under an answer, e.g. "42 tokens · 12.3 tok/s". */
  stats?: string;
  /** For a finished answer: what it was grounded on (kept with the conversation, so a reload shows it). */
  grounding?: GroundingView;
  /** The answer stopped at its token limit, this many tokens: it may go on ("continue?"). */
  cutOff?: number;
  /** For a failed answer: what the user can do about it. */
  action?: ProblemAction;
  /** How the answer was generated, so that Continue writes the same start again. */
  sampling?: Sampling;
  /** For a question: the code it was asked about (re-read before it), so a Regenerate asks about the same. */
  context?: ContextView[];
  /** For a question: `#file` / `@file` references that named no workspace file, as written. */
  unresolved?: string[];
  /** For a question whose references were resolved: the question as the engine was asked it (paths for them). */
  asked?: string;
}

/**
 * Code attached to a question (model/engine/protocol.ts ContextRef, root-relative): `selection` by Ask about
 * Selection, `reference` by a `#file` / `@file` in the question, `editor` the active editor's file.
 */
export interface ContextView {
  kind: 'selection' | 'reference' | 'editor';
  path: string;
  startLine?: number;
  endLine?: number;
}

/** What the composer offers as context for the next question; the user attaches or removes each. */
export interface ContextChip {
  id: ContextChipId;
  context: ContextView;
  /** Sent with the next question. The selection is attached when it is offered; the active editor's file is not. */
  attached: boolean;
  /** A word about it, e.g. that the editor has unsaved changes (which the question reads), or ''. */
  note: string;
}
export const CONTEXT_CHIPS = ['selection', 'editor'] as const;
export type ContextChipId = (typeof CONTEXT_CHIPS)[number];

/** A `#file` / `@file` reference of the draft, resolved against the workspace's files (or not, and why). */
export interface ReferenceView {
  written: string;
  path: string | null;
  /** Why it resolved to nothing ("no such file", "3 files match"), or ''. */
  note: string;
}

/** The generation settings of one answer (model/engine/protocol.ts GenerationSettings, every field set). */
export interface Sampling {
  maxNewTokens: number;
  temperature: number;
  repetitionPenalty: number;
  seed: number;
}

/** Most tokens one answer may have: the bound of `famulus.answerLength`, and of Continue. */
export const MAX_ANSWER_TOKENS = 4096;

/** The room Continue gives an answer cut off at `limit` tokens: twice as much, or null at the most there is. */
export function continuedLimit(limit: number): number | null {
  return limit >= MAX_ANSWER_TOKENS ? null : Math.min(2 * limit, MAX_ANSWER_TOKENS);
}

/**
 * Commands a webview may ask for; anything else is refused. The problem actions among them are the buttons
 * shown beside a problem (an answer that failed, the header's error line).
 */
export const WEBVIEW_COMMANDS = ['readWorkspace', 'refreshMemory', 'forgetMemory', 'showStatus', 'selectDevice', 'selectModel', 'useCpu', 'showLog', 'manageTrust'] as const;
export type WebviewCommand = (typeof WEBVIEW_COMMANDS)[number];
export const PROBLEM_ACTIONS = ['useCpu', 'selectModel', 'readWorkspace', 'showLog', 'manageTrust'] as const satisfies readonly WebviewCommand[];
export type ProblemAction = (typeof PROBLEM_ACTIONS)[number];

/** The label of each problem action's button, the same in the chat and in notifications. */
export const ACTION_LABELS: Record<ProblemAction, string> = {
  useCpu: 'Use CPU',
  selectModel: 'Select Model',
  readWorkspace: 'Read workspace',
  showLog: 'Show Log',
  manageTrust: 'Manage Workspace Trust',
};

/** The header's read button, named the same wherever a message tells the user to click it. */
export const READ_BUTTON = { read: 'Read workspace', refresh: 'Refresh' } as const;

/**
 * What an answer was grounded on, as the engine returned it (model/engine/protocol.ts `Grounding`): the code
 * re-read or quoted for it, and every `path:line` it wrote, checked against the workspace index.
 */
export interface GroundingView {
  sources: Source[];
  citations: Citation[];
  /** Retrieval found nothing relevant: the answer is from the memory alone. */
  nothingFound: boolean;
}
export type { Citation, Source };

// ---------------------------------------------------------------------------------------------- the maps

/** Extension → webview (chat and summary). */
export type ToWebview = {
  /** Everything the chat shows, sent after `ready` and whenever it is reset. */
  'chat/init': { entries: ChatEntry[]; memory: MemoryView; progress: ProgressView | null; busyId: string | null; canUndoClear: boolean };
  'memory/status': { memory: MemoryView };
  'memory/progress': { progress: ProgressView | null };
  /** A new entry (a question, or an answer that starts streaming). */
  'chat/append': { entry: ChatEntry };
  /** More text for a streaming entry. */
  'chat/delta': { id: string; text: string };
  /** The entry is complete (or stopped, or failed: then `text` holds the problem, `action` what to do, `grounding` is null). */
  'chat/end': {
    id: string;
    status: 'done' | 'cancelled' | 'error';
    text: string;
    stats: string;
    grounding: GroundingView | null;
    /** The answer stopped at this token limit, or null. */
    cutOff: number | null;
    action: ProblemAction | null;
  };
  /** An entry is shown again as given (an answer being regenerated or continued). */
  'chat/update': { entry: ChatEntry };
  /** The extension is busy with this entry (stop targets it), or idle (null). */
  'chat/busy': { busyId: string | null };
  'chat/focusInput': Record<string, never>;
  /** What the composer offers as context for the next question (sent whenever it changes). */
  'chat/context': { chips: ContextChip[] };
  /** The draft's `#file` / `@file` references, resolved (the answer to `context/resolve`). */
  'chat/references': { references: ReferenceView[] };
  /** Summary panel: a summary of `file` starts. */
  'summary/start': { file: string };
  'summary/delta': { text: string };
  'summary/end': { status: 'done' | 'cancelled' | 'error'; text: string; stats: string; grounding: GroundingView | null };
};

/** Webview → extension. */
export type ToExtension = {
  /** The webview's script is running and listening; the extension then sends what it queued. */
  ready: Record<string, never>;
  'chat/ask': { question: string };
  /** Stop the answer being streamed (Escape or the stop button). */
  'chat/stop': Record<string, never>;
  'chat/clear': Record<string, never>;
  /** Bring back the conversation the last Clear removed. */
  'chat/undoClear': Record<string, never>;
  /** Start a new topic: later questions are sent without the turns before it. */
  'chat/newTopic': Record<string, never>;
  /** Attach or remove a context chip (a removed selection is dropped). */
  'context/attach': { id: ContextChipId; attached: boolean };
  /** Resolve the draft's `#file` / `@file` references (webview/references.ts findReferences). */
  'context/resolve': { references: string[] };
  /** Copy an answer (`block` null) or its code block number `block` (0-based, in the order shown). */
  'answer/copy': { id: string; block: number | null };
  /** Insert an answer's code block at the cursor of the active editor. */
  'answer/insert': { id: string; block: number };
  /** Ask an answer's question again, sampled afresh; the new answer replaces it. */
  'answer/regenerate': { id: string };
  /** Ask a cut-off answer's question again with twice the room. */
  'answer/continue': { id: string };
  /** Open a cited workspace file at a line; the extension refuses paths outside the workspace. */
  'citation/open': { path: string; line: number };
  /** Run one of the allow-listed commands (buttons in the header). */
  'command/run': { command: WebviewCommand };
  'summary/copy': Record<string, never>;
  'summary/openMarkdown': Record<string, never>;
  'summary/stop': Record<string, never>;
};

export type Message<M> = { [K in keyof M]: { type: K } & M[K] }[keyof M];
export type ToWebviewMessage = Message<ToWebview>;
export type ToExtensionMessage = Message<ToExtension>;

// ---------------------------------------------------------------------------------------------- checks

/** Longest text any message may carry (a question, an answer so far); protects both sides from floods. */
export const MAX_TEXT = 1_000_000;
/** Bounds of a grounding: the longest workspace path, definition name and note; the most sources and citations. */
export const MAX_PATH = 4096;
export const MAX_NAME = 1000;
export const MAX_NOTE = 5000;
export const MAX_SOURCES = 200;
export const MAX_CITATIONS = 1000;
/** Longest question; most context entries on one question. */
export const MAX_QUESTION = 20_000;
export const MAX_CONTEXT = 50;

const text = (max = MAX_TEXT) => v.string({ max });
const count = v.number({ integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
const empty: Check<Record<string, never>> = v.objectOf<Record<string, never>>({});

const ID = v.string({ nonEmpty: true, max: 64 });
/** A code block's number in its answer. */
const block = v.number({ integer: true, min: 0, max: 10_000 });
const memoryView = v.objectOf<MemoryView>({
  phase: v.literal('no-workspace', 'untrusted', 'empty', 'starting', 'reading', 'updating', 'ready', 'error'),
  files: count,
  tokens: count,
  model: text(500),
  device: text(500),
  lastUpdate: text(64),
  about: text(4000),
  detail: text(4000),
  action: v.nullable(v.literal(...PROBLEM_ACTIONS)),
});
const progressView = v.objectOf<ProgressView>({
  filesDone: count,
  filesTotal: count,
  tokensDone: count,
  tokensPerSecond: v.number({ min: 0 }),
  secondsLeft: v.number({ min: -1 }),
  currentFile: text(4096),
  percent: v.number({ min: 0, max: 100 }),
});
const path = v.string({ nonEmpty: true, max: MAX_PATH });
const lineNumber = v.number({ integer: true, min: 1, max: 1_000_000_000 });
const sourceFields = v.objectOf<Source>({
  path,
  startLine: lineNumber,
  endLine: lineNumber,
  reason: v.literal('context', 'definition', 'file', 'search', 'outline'),
  definition: v.optional(text(MAX_NAME)),
  requestedEndLine: v.optional(lineNumber),
});
const source: Check<Source> = (value, at) => {
  const s = sourceFields(value, at);
  return s.endLine >= s.startLine ? s : fail(`${at}.endLine`, `a line ≥ startLine ${s.startLine}`, s.endLine);
};
const groundingView = v.objectOf<GroundingView>({
  sources: v.array(source, { max: MAX_SOURCES }),
  citations: v.array(
    v.objectOf<Citation>({
      text: v.string({ nonEmpty: true, max: MAX_PATH }),
      path,
      // The engine also reports `a.ts:0`, as unverified.
      line: v.number({ integer: true, min: 0, max: 1_000_000_000 }),
      verified: v.boolean(),
      note: text(MAX_NOTE),
    }),
    { max: MAX_CITATIONS },
  ),
  nothingFound: v.boolean(),
});
const contextView = v.objectOf<ContextView>({
  kind: v.literal('selection', 'reference', 'editor'),
  path,
  startLine: v.optional(lineNumber),
  endLine: v.optional(lineNumber),
});
const reference = v.string({ nonEmpty: true, max: MAX_REFERENCE });
const chatEntry = v.objectOf<ChatEntry>({
  id: ID,
  role: v.literal('user', 'assistant', 'divider'),
  text: text(),
  status: v.optional(v.literal('streaming', 'done', 'cancelled', 'error')),
  file: v.optional(text(4096)),
  stats: v.optional(text(500)),
  grounding: v.optional(groundingView),
  cutOff: v.optional(v.number({ integer: true, min: 1, max: MAX_ANSWER_TOKENS })),
  action: v.optional(v.literal(...PROBLEM_ACTIONS)),
  sampling: v.optional(
    v.objectOf<Sampling>({
      maxNewTokens: v.number({ integer: true, min: 1, max: MAX_ANSWER_TOKENS }),
      temperature: v.number({ min: 0, max: 2 }),
      repetitionPenalty: v.number({ min: 1, max: 2 }),
      seed: v.number({ integer: true, min: 0, max: 2 ** 32 - 1 }),
    }),
  ),
  context: v.optional(v.array(contextView, { max: MAX_CONTEXT })),
  unresolved: v.optional(v.array(reference, { max: MAX_REFERENCES })),
  asked: v.optional(text(MAX_QUESTION)),
});
const endStatus = v.literal('done', 'cancelled', 'error');

const toWebviewChecks: { [K in keyof ToWebview]: Check<ToWebview[K]> } = {
  'chat/init': v.objectOf<ToWebview['chat/init']>({
    entries: v.array(chatEntry, { max: 10_000 }),
    memory: memoryView,
    progress: v.nullable(progressView),
    busyId: v.nullable(ID),
    canUndoClear: v.boolean(),
  }),
  'memory/status': v.objectOf<ToWebview['memory/status']>({ memory: memoryView }),
  'memory/progress': v.objectOf<ToWebview['memory/progress']>({ progress: v.nullable(progressView) }),
  'chat/append': v.objectOf<ToWebview['chat/append']>({ entry: chatEntry }),
  'chat/delta': v.objectOf<ToWebview['chat/delta']>({ id: ID, text: text() }),
  'chat/end': v.objectOf<ToWebview['chat/end']>({
    id: ID,
    status: endStatus,
    text: text(),
    stats: text(500),
    grounding: v.nullable(groundingView),
    cutOff: v.nullable(v.number({ integer: true, min: 1, max: MAX_ANSWER_TOKENS })),
    action: v.nullable(v.literal(...PROBLEM_ACTIONS)),
  }),
  'chat/update': v.objectOf<ToWebview['chat/update']>({ entry: chatEntry }),
  'chat/busy': v.objectOf<ToWebview['chat/busy']>({ busyId: v.nullable(ID) }),
  'chat/focusInput': empty,
  'chat/context': v.objectOf<ToWebview['chat/context']>({
    chips: v.array(
      v.objectOf<ContextChip>({ id: v.literal(...CONTEXT_CHIPS), context: contextView, attached: v.boolean(), note: text(500) }),
      { max: CONTEXT_CHIPS.length },
    ),
  }),
  'chat/references': v.objectOf<ToWebview['chat/references']>({
    references: v.array(v.objectOf<ReferenceView>({ written: reference, path: v.nullable(path), note: text(500) }), { max: MAX_REFERENCES }),
  }),
  'summary/start': v.objectOf<ToWebview['summary/start']>({ file: v.string({ nonEmpty: true, max: 4096 }) }),
  'summary/delta': v.objectOf<ToWebview['summary/delta']>({ text: text() }),
  'summary/end': v.objectOf<ToWebview['summary/end']>({ status: endStatus, text: text(), stats: text(500), grounding: v.nullable(groundingView) }),
};

const toExtensionChecks: { [K in keyof ToExtension]: Check<ToExtension[K]> } = {
  ready: empty,
  'chat/ask': v.objectOf<ToExtension['chat/ask']>({ question: v.string({ nonEmpty: true, max: MAX_QUESTION }) }),
  'chat/stop': empty,
  'chat/clear': empty,
  'chat/undoClear': empty,
  'chat/newTopic': empty,
  'context/attach': v.objectOf<ToExtension['context/attach']>({ id: v.literal(...CONTEXT_CHIPS), attached: v.boolean() }),
  'context/resolve': v.objectOf<ToExtension['context/resolve']>({ references: v.array(reference, { max: MAX_REFERENCES }) }),
  'answer/copy': v.objectOf<ToExtension['answer/copy']>({ id: ID, block: v.nullable(block) }),
  'answer/insert': v.objectOf<ToExtension['answer/insert']>({ id: ID, block }),
  'answer/regenerate': v.objectOf<ToExtension['answer/regenerate']>({ id: ID }),
  'answer/continue': v.objectOf<ToExtension['answer/continue']>({ id: ID }),
  'citation/open': v.objectOf<ToExtension['citation/open']>({
    path: v.string({ nonEmpty: true, max: 4096 }),
    line: v.number({ integer: true, min: 1, max: 10_000_000 }),
  }),
  'command/run': v.objectOf<ToExtension['command/run']>({ command: v.literal(...WEBVIEW_COMMANDS) }),
  'summary/copy': empty,
  'summary/openMarkdown': empty,
  'summary/stop': empty,
};

function parseWith<M>(checks: { [K in keyof M]: Check<M[K]> }, message: unknown): Message<M> {
  if (!isPlainObject(message)) return fail('message', 'an object', message);
  const { type, ...payload } = message;
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(checks, type)) {
    throw new ValidationError(`message.type: unknown message type ${JSON.stringify(String(type)).slice(0, 80)}`);
  }
  const check = checks[type as keyof M] as Check<unknown>;
  return { type, ...(check(payload, type) as object) } as Message<M>;
}

/** Checks a message a webview posted (the extension's side). Throws a ValidationError. */
export function parseToExtension(message: unknown): ToExtensionMessage {
  return parseWith(toExtensionChecks, message);
}

/** Checks a message the extension posted (the webview's side). Throws a ValidationError. */
export function parseToWebview(message: unknown): ToWebviewMessage {
  return parseWith(toWebviewChecks, message);
}

/** Builds a message with its type, so call sites stay typed: `msg('chat/delta', { id, text })`. */
export function msg<M, K extends keyof M>(type: K, payload: M[K]): { type: K } & M[K] {
  return { type, ...payload };
}
