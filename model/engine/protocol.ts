/**
 * The protocol between the engine process and its clients (the CLI, the extension, any JSON-RPC client): one
 * typed map of namespaced methods, and the runtime checks the engine applies to every request it receives.
 * Both sides import this module; it loads no onnxruntime and no node built-ins.
 *
 * The messages are JSON-RPC 2.0 (vscode-jsonrpc; ./dispatch.ts serves them, ./client.ts sends them):
 *   request   { jsonrpc: '2.0', id: 7, method: 'engine/ask', params: { question: '…', partialResultToken: 'p7' } }
 *   chunk     { jsonrpc: '2.0', method: '$/progress', params: { token: 'p7', value: { text: '…' } } }
 *   response  { jsonrpc: '2.0', id: 7, result: { … } }   or   { …, error: { code, message, data: { code } } }
 * A streaming method sends its chunks as `$/progress` (when the request carries a partialResultToken), then
 * its final value as the response. docs/engine-protocol.md describes each method for other clients.
 *
 * Cancellation: `$/cancelRequest { id }` ends the request at its next checkpoint (between blocks while reading,
 * between tokens while answering). A streaming request that had started ends with its final value and
 * `cancelled: true` (a read keeps the memory of the last file it completed); a request still waiting in the
 * queue, or a unary one, ends with the error code 'cancelled'.
 */
import type { DeviceChoice, DeviceInfo, StopReason } from '../runtime/types';
import type { Definition } from '../index';
import type { SkipReason, SkippedEntry, WalkOptions } from '../workspace/walker';
import { ValidationError, describe, fail, isPlainObject, v, type Check } from '../protocol/check';

/** The runtime checks, shared with the webview protocol; re-exported for the engine's modules. */
export { ValidationError, v, type Check };

/** Bumped whenever a message or a field changes meaning. Reported by `engine/status`. */
export const PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------------------------------------- payloads

/** The walker's options that can cross the process boundary (see model/workspace/walker.ts). */
export type WalkerOptions = Omit<WalkOptions, 'signal'>;

/** Answers stop after this many tokens unless GenerationSettings.maxNewTokens says otherwise. */
export const DEFAULT_MAX_NEW_TOKENS = 128;

/**
 * Answers use this repetition penalty unless GenerationSettings.repetitionPenalty says otherwise: small models
 * loop on a phrase under greedy decoding, and 1.1 (llama.cpp's default) ends such loops without changing short
 * answers: the shipped model's answers to 24 PassKey prompts of 900 tokens were the same at 1, 1.1 and 1.2.
 */
export const DEFAULT_REPETITION_PENALTY = 1.1;

/** Sampling settings; temperature 0 (the default) is greedy decoding. */
export interface GenerationSettings {
  maxNewTokens?: number;
  temperature?: number;
  topP?: number;
  /** 1 is off; see GenerateOptions.repetitionPenalty. */
  repetitionPenalty?: number;
  seed?: number;
}

export interface ModelSummary {
  dir: string;
  modelId: string;
  /** The decoder family in words and as config.json names it: "Qwen2/Qwen2.5 (qwen2)" (config.ts familyLabel). */
  family: string;
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  /** B, F and m of docs/fam.md. */
  blockSize: number;
  famLength: number;
  memorySegments: number;
  /** What the model remembers of what it read, in words: FAM, or BSWA when famLength is 0 (config.ts memoryModeText). */
  memoryMode: string;
}

/** The workspace state the engine holds: what it has read, and how big its working memory is. */
export interface StateSummary {
  /** Absolute path of the ingested folder. */
  root: string;
  files: number;
  tokens: number;
  /** Full blocks folded into the state; `pendingTokens` wait for the next block. */
  blocks: number;
  pendingTokens: number;
  /** Bytes of the working memory (per-layer FAM + memory ring), constant whatever was read. */
  stateBytes: number;
  /** ISO time of the last ingest, or of the ingest that produced a loaded state. */
  lastUpdate: string;
  /** Where the memory came from: a bundle made elsewhere (and what was read here since), or null: read here. */
  origin: MemoryOrigin | null;
}

/** A memory that started as a bundle (docs/team-memory.md): which one, and how far this workspace is from it. */
export interface MemoryOrigin {
  kind: 'bundle';
  /** The git commit the bundle was made at, or null when its maker knew none. */
  commit: string | null;
  /** The bundle's path or URL (without its query). */
  source: string;
  /** SHA-256 of the bundle. */
  sha256: string;
  /** ISO time it was imported. */
  importedAt: string;
  /** Files read or dropped here since: new, changed and deleted ones. */
  localChanges: number;
}

export interface EngineStatus {
  protocolVersion: number;
  pid: number;
  model: ModelSummary | null;
  device: DeviceInfo | null;
  state: StateSummary | null;
  /** The request being worked on, if any. */
  busy: { messageType: string; messageId: string } | null;
}

export type StatusRequest = Record<string, never>;

export interface LoadModelRequest {
  /** Model folder (config.json, safetensors, tokenizer.json); default: the engine's default model. */
  modelDir?: string;
  device?: DeviceChoice;
  threads?: number;
}

export interface LoadModelResult {
  model: ModelSummary;
  device: DeviceInfo;
  seconds: number;
  /** A workspace state held for another model was dropped. */
  droppedState: boolean;
}

/**
 * How `workspace/open` and `workspace/update` bring the memory up to date:
 * - 'restore': load the saved memory if there is a usable one; read nothing.
 * - 'read': the saved (or held) memory, then every file that is new or changed since it was read; then save.
 * - 'fresh': forget what is held and read the whole workspace again; then save.
 */
export type ReadMode = 'restore' | 'read' | 'fresh';

export interface OpenRequest {
  /** The workspace folder (absolute). */
  root: string;
  /**
   * The folder the workspace's memory is saved in (the FAM state and the workspace index); the engine names
   * the files in it (MEMORY_FILES). Omitted: the memory lives in the engine only and is never saved.
   */
  memoryDir?: string;
  walker?: WalkerOptions;
  /** Default 'read'. */
  mode?: ReadMode;
  /**
   * Read the root even when it is the filesystem root, the home folder or a folder above it, which the engine
   * otherwise refuses to read (it would read every file there). Default false.
   */
  allowBroadRoot?: boolean;
}

export interface UpdateRequest {
  /** Default 'read'. 'restore' is not an update. */
  mode?: Exclude<ReadMode, 'restore'>;
  /** New walker settings for this and later updates (the open request's stay otherwise). */
  walker?: WalkerOptions;
}

/** `workspace/bundle`: writes the open workspace's memory as a bundle (model/bundle/format.ts). */
export interface BundleRequest {
  /** The bundle file to write (absolute); replaced atomically. */
  file: string;
  /** The git commit the workspace is at, recorded in the bundle. */
  commit?: string;
}

export interface BundleResult {
  file: string;
  bytes: number;
  sha256: string;
  files: number;
  tokens: number;
  commit: string | null;
  seconds: number;
}

/**
 * `workspace/import`: opens a workspace from a bundle: checks it (nothing is changed if any check fails:
 * 'bundle-rejected'; 'bundle-unavailable' when it cannot be had), makes it the workspace's memory, reads what
 * differs on disk (new, changed and deleted files, as workspace/update does), and saves.
 */
export interface ImportRequest {
  root: string;
  memoryDir?: string;
  walker?: WalkerOptions;
  allowBroadRoot?: boolean;
  /** A bundle's path, or an https URL (plain http to localhost only). */
  source: string;
}

export interface ImportResult extends WorkspaceResult {
  bundle: {
    /** The path or URL (without its query). */
    source: string;
    commit: string | null;
    sha256: string;
    bytes: number;
    /** Readings in the bundle, and its tokens. */
    files: number;
    tokens: number;
    /** The bundle was read with this workspace's walker settings (else the read here decides what is in). */
    walkerMatches: boolean;
    fetchSeconds: number;
    verifySeconds: number;
  };
}

/** The files a memory folder holds, named once for every client. */
export const MEMORY_FILES = { state: 'state.fams', index: 'index.fidx' } as const;

export type ReadChunk =
  | {
      kind: 'restored';
      /** The saved memory that was loaded. */
      state: StateSummary;
      seconds: number;
    }
  | {
      kind: 'walked';
      filesTotal: number;
      bytesTotal: number;
      /** Files already in the memory (unchanged since they were read). */
      filesReused: number;
      skipped: SkippedEntry[];
    }
  | {
      /**
       * Sent when reading starts, then at most every 100 ms and after the last file. The bytes move within a
       * file as its blocks are read (a 115 KB file does not hold the progress at 0% until it is done):
       * bytesDone / bytesTotal is the share of the read that is done, counting files kept from the memory.
       */
      kind: 'progress';
      filesDone: number;
      filesTotal: number;
      bytesDone: number;
      bytesTotal: number;
      /** The file being read (the last one read, once all are). */
      currentFile: string;
      /** Tokens read by this request so far. */
      tokensDone: number;
      /** tokensDone over the wall-clock seconds since reading started. */
      tokensPerSecond: number;
    };

/** What one read (walk + ingest) did. */
export interface ReadSummary {
  /** Files read by this request, and files kept from the memory held before. */
  filesIngested: number;
  filesReused: number;
  tokensIngested: number;
  skipped: SkippedEntry[];
  /** Wall-clock seconds of the read (walk, tokenise, ingest, index). */
  seconds: number;
  /** Seconds of it spent building the workspace index (parsing, chunking, search terms). */
  indexSeconds: number;
  /** tokensIngested over the seconds spent tokenising and reading them. */
  tokensPerSecond: number;
}

export interface WorkspaceResult {
  root: string;
  memoryDir: string | null;
  /** The saved memory was loaded (seconds it took), or null. */
  restored: { seconds: number } | null;
  /** Why a saved memory was there but not used (it was then read again), or null. */
  restoreProblem: string | null;
  /** Why the saved workspace index was not used as it was (it was rebuilt), or null. */
  indexProblem: string | null;
  /** null for 'restore'. */
  read: ReadSummary | null;
  /** The memory was saved (bytes of all its files), or null when nothing changed or there is no memoryDir. */
  saved: { bytes: number; seconds: number } | null;
  /** Why saving failed (the memory read is held all the same, and answers use it), or null. */
  saveProblem: string | null;
  /** Stopped by a cancel: the memory holds every file completed before it (and was saved). */
  cancelled: boolean;
  /** The memory after the request: null when none is held. */
  state: StateSummary | null;
}

export type ForgetRequest = Record<string, never>;

export interface ForgetResult {
  /** Saved files that were deleted. */
  deleted: string[];
}

export type WorkspaceStatusRequest = Record<string, never>;

export type FilesRequest = Record<string, never>;

/** One file in the memory, as its manifest records it. */
export interface FileInMemory {
  /** Root-relative, forward slashes. */
  path: string;
  bytes: number;
  /** Tokens it took in the memory (its `<|file|>` header included). */
  tokens: number;
}

/** What the memory holds, file by file, and what the last walk of the workspace left out. */
export interface FilesResult {
  root: string;
  /** Each file the memory has read (its latest reading), in the order read. */
  files: FileInMemory[];
  /**
   * What the last walk skipped and why, in path order: at most MAX_SKIPPED_KEPT entries (`skippedTotal` counts
   * them all). A restored memory lists those of the walk it was read with.
   */
  skipped: SkippedEntry[];
  skippedTotal: number;
  /** ISO time of that walk, or null when the memory was saved by an engine that did not keep it. */
  walkedAt: string | null;
  /** ISO time of the last file read into the memory. */
  lastUpdate: string;
}

/** Skipped entries kept with the memory (and saved with it): enough to show, bounded for a hostile workspace. */
export const MAX_SKIPPED_KEPT = 2000;

export interface SuggestRequest {
  /** Most suggestions (default 3). */
  limit?: number;
}

/** A question about the workspace that its index can answer, for a placeholder or a hint. */
export interface Suggestion {
  /** e.g. "Where is `createApplication` defined?" */
  question: string;
  /** The definition it is about. */
  definition: Definition;
}

export interface SuggestResult {
  /** Best first; empty when the index holds no definition worth asking about. */
  suggestions: Suggestion[];
}

export interface WorkspaceStatus {
  /** The open workspace, or null when none was opened. */
  root: string | null;
  memoryDir: string | null;
  /** The memory held, or null. */
  state: StateSummary | null;
  /** Bytes of the saved memory files, or null when none is saved. */
  savedBytes: number | null;
}

/** How much workspace code is re-read into the memory's copy before a question (docs/grounded-answers.md). */
export interface RereadSettings {
  /** false: answer from the memory alone (for comparison). Default true. */
  enabled?: boolean;
  /** Most tokens of re-read code; default DEFAULT_REREAD_TOKENS for the device. */
  tokens?: number;
  /**
   * What the re-read is streamed into: 'workspace' (default), a copy of the workspace's memory; 'blank', a fresh
   * state that has read nothing (for comparison: what the memory adds to the re-read, docs/results/qa-kinds.md).
   */
  memory?: 'workspace' | 'blank';
}

/**
 * Re-read budgets by device, from `npm run bench` (docs/perf.md): the largest budget whose re-read + first
 * token stays within the first-token targets (2.5 s on a 2-core CPU, 0.3 s on a GPU).
 */
export const DEFAULT_REREAD_TOKENS = { cpu: 2048, webgpu: 16384 } as const;

/**
 * Earlier-turn budgets by device: the most tokens of the conversation streamed before a follow-up. Measured on the
 * 2-core CPU with the shipped model and a full re-read (demo workspace, median of 5): the first token came after
 * 0.87 s with no turns, 0.96 s with 480 tokens of turns, 1.16 s with 1020. 512 holds the last few turns of the
 * default answer length for about 0.1 s; more would sit further from the question than the re-read code anyway
 * (outside the model's exact attention window). The GPU budget is a quarter of its re-read budget (not measured
 * on a GPU here).
 */
export const DEFAULT_HISTORY_TOKENS = { cpu: 512, webgpu: 4096 } as const;

/** An earlier question of the conversation and the answer it got (the answer as it was shown). */
export interface Turn {
  question: string;
  answer: string;
}

/**
 * Code the user pointed at for a question (a selection, a `#file` reference, the active editor's file): a file of
 * the open workspace (absolute, or relative to its root), whole or lines `startLine`-`endLine` (1-based,
 * inclusive; either may be left out: from the first line, to the last).
 */
export interface ContextRef {
  path: string;
  startLine?: number;
  endLine?: number;
  /**
   * The file's text as the user sees it, when that is not what is on disk (an editor with unsaved changes), at
   * most MAX_CONTEXT_TEXT characters: the question re-reads this file, at every span, from this text instead of
   * the disk, and its lines are those of this text. Sources and citations still name the workspace path.
   */
  text?: string;
}

export interface AskRequest {
  question: string;
  options?: GenerationSettings;
  reread?: RereadSettings;
  /**
   * The conversation's earlier turns, oldest first. The question is asked as their follow-up unless it names its
   * own subject (a definition or file of the workspace) and does not lean on them (retrieval.ts conversationOf,
   * the one rule for every client): then the most recent turns that fit `historyTokens` are streamed, in the
   * question/answer layout, before the re-read code, and for a question that leans on them the names of the
   * last turns feed retrieval.
   */
  history?: Turn[];
  /** Most tokens of earlier turns streamed; default DEFAULT_HISTORY_TOKENS for the device; 0: none. */
  historyTokens?: number;
  /**
   * Code the user pointed at, most important first: re-read before anything retrieval finds (it gets the
   * re-read budget first; a span larger than what is left is cut to its head that fits), listed as sources
   * with reason 'context'. A path outside the workspace is refused (invalid-request).
   */
  context?: ContextRef[];
}

export interface SummarizeRequest {
  /** A file inside the open workspace: absolute, or relative to the root. */
  path: string;
  options?: GenerationSettings;
  reread?: RereadSettings;
}

/** A piece of workspace code re-read for an answer: shown under the answer, clickable. */
export interface Source {
  /** Root-relative, forward slashes. */
  path: string;
  /** 1-based, inclusive. */
  startLine: number;
  endLine: number;
  /**
   * Why it was chosen: code the user pointed at (AskRequest.context), a definition the question (or the last
   * turns) names, a file it names, a lexical match, or a file's outline.
   */
  reason: 'context' | 'definition' | 'file' | 'search' | 'outline';
  /** The definition it holds, when it is one (qualified name). */
  definition?: string;
  /** Set when the span was cut to fit the re-read budget: the line it was to end at. */
  requestedEndLine?: number;
}

/** A `path:line` in an answer, checked against the workspace index. */
export interface Citation {
  /** As written in the answer (e.g. `src/queue.ts:18`). */
  text: string;
  path: string;
  line: number;
  /** The file is in the workspace, the line inside it, and (for a definition question) the definition's line. */
  verified: boolean;
  /** What the citation points at when verified (e.g. "function retryWithBackoff"), or why it is not. */
  note: string;
}

/** What an answer was grounded on. */
export interface Grounding {
  sources: Source[];
  citations: Citation[];
  /** Tokens of re-read code streamed before the question. */
  rereadTokens: number;
  /** Earlier turns of the conversation streamed before the re-read code (the most recent ones that fit). */
  historyTurns: number;
  /** Their tokens. */
  historyTokens: number;
  /** Set when retrieval found nothing relevant to the question (the answer is from the memory alone). */
  nothingFound: boolean;
}

export interface TextDelta {
  text: string;
}

/**
 * How an answer was made. The answer's text is not repeated here: it crossed the boundary once, as the
 * stream's deltas.
 */
export interface AnswerResult {
  /** Tokens generated (a stop token that ended the answer is not counted). */
  tokens: number;
  /** Tokens streamed into the copied state before generating (earlier turns, re-read code, the question). */
  promptTokens: number;
  stopReason: StopReason;
  cancelled: boolean;
  timings: {
    /** Wall clock from the start of the work to the first text of the answer (quoted or generated). */
    firstTokenSeconds: number;
    totalSeconds: number;
    /** Choosing what to re-read: question analysis, index look-ups, search, packing. */
    retrievalSeconds: number;
    /** Streaming the earlier turns and the re-read code into the copy of the memory. */
    rereadSeconds: number;
  };
  /** Generated tokens after the first over the seconds after the first: the decode speed. */
  tokensPerSecond: number;
  grounding: Grounding;
}

export interface SummarizeResult extends AnswerResult {
  /** The root-relative path that was summarised. */
  path: string;
}

export interface DefinitionsRequest {
  /** A name or a qualified name (`Router.handle`); exact, then case-insensitive. */
  name: string;
}

export interface OutlineRequest {
  /** A file of the open workspace: absolute, or relative to the root. */
  path: string;
}

export interface DefinitionsResult {
  definitions: Definition[];
}

export interface SearchRequest {
  query: string;
  /** Most hits (default 10). */
  limit?: number;
}

export interface SearchResult {
  hits: Array<Source & { score: number }>;
}

// ---------------------------------------------------------------------------------------------- the map

/** Client → engine. Streaming messages answer with `AsyncGenerator<Chunk, Final>`. */
export type ToEngineProtocol = {
  'engine/status': [StatusRequest, EngineStatus];
  'engine/loadModel': [LoadModelRequest, LoadModelResult];
  'workspace/open': [OpenRequest, AsyncGenerator<ReadChunk, WorkspaceResult>];
  'workspace/update': [UpdateRequest, AsyncGenerator<ReadChunk, WorkspaceResult>];
  'workspace/forget': [ForgetRequest, ForgetResult];
  'workspace/status': [WorkspaceStatusRequest, WorkspaceStatus];
  'workspace/files': [FilesRequest, FilesResult];
  'workspace/bundle': [BundleRequest, BundleResult];
  'workspace/import': [ImportRequest, AsyncGenerator<ReadChunk, ImportResult>];
  'engine/ask': [AskRequest, AsyncGenerator<TextDelta, AnswerResult>];
  'engine/summarize': [SummarizeRequest, AsyncGenerator<TextDelta, SummarizeResult>];
  'index/definitions': [DefinitionsRequest, DefinitionsResult];
  'index/outline': [OutlineRequest, DefinitionsResult];
  'index/search': [SearchRequest, SearchResult];
  'index/suggest': [SuggestRequest, SuggestResult];
};

export type MessageType = keyof ToEngineProtocol;
export type RequestOf<K extends MessageType> = ToEngineProtocol[K][0];
type ResponseSlot<K extends MessageType> = ToEngineProtocol[K][1];
export type StreamingType = {
  [K in MessageType]: ResponseSlot<K> extends AsyncGenerator<unknown, unknown> ? K : never;
}[MessageType];
export type UnaryType = Exclude<MessageType, StreamingType>;
/** The chunk type of a streaming message. */
export type ChunkOf<K extends MessageType> = ResponseSlot<K> extends AsyncGenerator<infer C, unknown> ? C : never;
/** The final value: the response of a unary message, the generator's return value of a streaming one. */
export type ResultOf<K extends MessageType> =
  ResponseSlot<K> extends AsyncGenerator<unknown, infer F> ? F : ResponseSlot<K>;

/** Which messages stream, as a value (typed so that a message missing here fails to compile). */
export const STREAMING: { readonly [K in MessageType]: K extends StreamingType ? true : false } = {
  'engine/status': false,
  'engine/loadModel': false,
  'workspace/open': true,
  'workspace/update': true,
  'workspace/forget': false,
  'workspace/status': false,
  'workspace/files': false,
  'workspace/bundle': false,
  'workspace/import': true,
  'engine/ask': true,
  'engine/summarize': true,
  'index/definitions': false,
  'index/outline': false,
  'index/search': false,
  'index/suggest': false,
};

export function isMessageType(value: unknown): value is MessageType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(STREAMING, value);
}

// ---------------------------------------------------------------------------------------------- JSON-RPC

/**
 * The request param that asks for a streaming method's chunks (the name LSP uses): the engine sends each chunk
 * as a `$/progress { token, value: chunk }` notification before the response. A unary method ignores it.
 * It is not part of any method's params type: the engine takes it out before checking the params.
 */
export const PARTIAL_RESULT_TOKEN = 'partialResultToken';
export type ProgressToken = string | number;

export type ErrorCode =
  /** An unknown method. */
  | 'invalid-message'
  /** The params do not match the method's request type. */
  | 'invalid-request'
  /** The request needs a model and none is loaded (send engine/loadModel first). */
  | 'no-model'
  /** The request needs a workspace memory and none is held (workspace/open first). */
  | 'no-state'
  /** Model files missing or inconsistent, or the runtime failed. */
  | 'model-error'
  | 'not-found'
  | 'io-error'
  /** A memory bundle failed a check (workspace/import); nothing was changed. */
  | 'bundle-rejected'
  /** A memory bundle could not be had (no such file, HTTP error, time limit). */
  | 'bundle-unavailable'
  | 'cancelled'
  /** The engine process exited (reported by the client to every pending request). */
  | 'engine-crashed'
  | 'internal';

/**
 * The JSON-RPC error code an ErrorCode is sent with: the standard one where JSON-RPC (or LSP, for a cancelled
 * request) has one, else -32000, a server error. `error.data.code` always carries the ErrorCode itself.
 */
export const JSONRPC_ERROR_CODES: { readonly [C in ErrorCode]?: number } = {
  'invalid-message': -32601, // MethodNotFound
  'invalid-request': -32602, // InvalidParams
  internal: -32603, // InternalError
  cancelled: -32800, // LSP's RequestCancelled
};
export const SERVER_ERROR = -32000;

/** `error.data` of every JSON-RPC error the engine sends. */
export interface ErrorData {
  code: ErrorCode;
}

/** An error that crosses the boundary as data: thrown by engine handlers, re-thrown by the client. */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------- validation

/** Also checks the walker settings a memory bundle records (model/bundle/format.ts). */
export const walkerOptions: Check<WalkerOptions> = v.object({
  excludes: v.optional(v.array(v.string({ nonEmpty: true }))),
  includes: v.optional(v.array(v.string({ nonEmpty: true }))),
  useDefaultExcludes: v.optional(v.boolean()),
  defaultExcludes: v.optional(v.array(v.string({ nonEmpty: true }))),
  skipMinified: v.optional(v.boolean()),
  gitignore: v.optional(v.boolean()),
  maxFileBytes: v.optional(v.number({ integer: true, min: 1 })),
  followSymlinks: v.optional(v.boolean()),
});

const generationSettings: Check<GenerationSettings> = v.object({
  maxNewTokens: v.optional(v.number({ integer: true, min: 1, max: 1 << 20 })),
  temperature: v.optional(v.number({ min: 0, max: 100 })),
  topP: v.optional(v.number({ min: 0, max: 1 })),
  repetitionPenalty: v.optional(v.number({ min: 1, max: 2 })),
  seed: v.optional(v.number({ integer: true, min: 0, max: 2 ** 32 - 1 })),
});

const rereadSettings: Check<RereadSettings> = v.object({
  enabled: v.optional(v.boolean()),
  tokens: v.optional(v.number({ integer: true, min: 0, max: 1 << 20 })),
  memory: v.optional(v.literal('workspace', 'blank')),
});

/** Most earlier turns and context entries one question may carry; the longest text of a turn. */
export const MAX_HISTORY_TURNS = 100;
export const MAX_CONTEXT = 50;
export const MAX_TURN_TEXT = 100_000;
/** The longest `ContextRef.text`: the walker's default largest file (DEFAULT_MAX_FILE_BYTES), in characters. */
export const MAX_CONTEXT_TEXT = 1024 * 1024;

const turn: Check<Turn> = v.object({ question: v.string({ max: MAX_TURN_TEXT }), answer: v.string({ max: MAX_TURN_TEXT }) });

const line = v.number({ integer: true, min: 1, max: 1_000_000_000 });
const contextRef: Check<ContextRef> = (value, at) => {
  const ref = v.object({
    path: v.string({ nonEmpty: true, max: 4096 }),
    startLine: v.optional(line),
    endLine: v.optional(line),
    text: v.optional(v.string({ max: MAX_CONTEXT_TEXT })),
  })(value, at);
  if (ref.startLine !== undefined && ref.endLine !== undefined && ref.endLine < ref.startLine) {
    return fail(`${at}.endLine`, `a line ≥ startLine ${ref.startLine}`, ref.endLine);
  }
  return ref;
};

/** One check per message: the engine applies it to every request payload before any handler sees it. */
export const requestChecks: { readonly [K in MessageType]: Check<RequestOf<K>> } = {
  'engine/status': v.object({}),
  'engine/loadModel': v.object({
    modelDir: v.optional(v.string({ nonEmpty: true })),
    device: v.optional(v.literal('auto', 'cpu', 'webgpu')),
    threads: v.optional(v.number({ integer: true, min: 1, max: 1024 })),
  }),
  'workspace/open': v.object({
    root: v.string({ nonEmpty: true }),
    memoryDir: v.optional(v.string({ nonEmpty: true })),
    walker: v.optional(walkerOptions),
    mode: v.optional(v.literal('restore', 'read', 'fresh')),
    allowBroadRoot: v.optional(v.boolean()),
  }),
  'workspace/update': v.object({ mode: v.optional(v.literal('read', 'fresh')), walker: v.optional(walkerOptions) }),
  'workspace/forget': v.object({}),
  'workspace/status': v.object({}),
  'workspace/files': v.object({}),
  'workspace/bundle': v.object({ file: v.string({ nonEmpty: true }), commit: v.optional(v.string({ nonEmpty: true, max: 64 })) }),
  'workspace/import': v.object({
    root: v.string({ nonEmpty: true }),
    memoryDir: v.optional(v.string({ nonEmpty: true })),
    walker: v.optional(walkerOptions),
    allowBroadRoot: v.optional(v.boolean()),
    source: v.string({ nonEmpty: true, max: 8192 }),
  }),
  'engine/ask': v.object({
    question: v.string({ nonEmpty: true }),
    options: v.optional(generationSettings),
    reread: v.optional(rereadSettings),
    history: v.optional(v.array(turn, { max: MAX_HISTORY_TURNS })),
    historyTokens: v.optional(v.number({ integer: true, min: 0, max: 1 << 20 })),
    context: v.optional(v.array(contextRef, { max: MAX_CONTEXT })),
  }),
  'engine/summarize': v.object({ path: v.string({ nonEmpty: true }), options: v.optional(generationSettings), reread: v.optional(rereadSettings) }),
  'index/definitions': v.object({ name: v.string({ nonEmpty: true }) }),
  'index/outline': v.object({ path: v.string({ nonEmpty: true }) }),
  'index/search': v.object({ query: v.string({ nonEmpty: true }), limit: v.optional(v.number({ integer: true, min: 1, max: 1000 })) }),
  'index/suggest': v.object({ limit: v.optional(v.number({ integer: true, min: 1, max: 100 })) }),
};

/** A request as the engine runs it: its checked params, and where its chunks go if the client asked for them. */
export interface ParsedRequest<K extends MessageType = MessageType> {
  method: K;
  params: RequestOf<K>;
  progressToken: ProgressToken | undefined;
}

const progressToken: Check<ProgressToken> = (value, at) =>
  typeof value === 'string' || typeof value === 'number' ? value : fail(at, 'a string or a number', value);

/**
 * Checks a request's method and params (omitted params count as `{}`). Throws an EngineError whose message
 * says what was wrong: 'invalid-message' for an unknown method, 'invalid-request' naming the bad field.
 */
export function parseRequest(method: string, params: unknown): ParsedRequest {
  if (!isMessageType(method)) {
    throw new EngineError('invalid-message', `unknown method ${describe(method)}; the engine's methods are ${Object.keys(STREAMING).join(', ')}`);
  }
  try {
    let rest = params ?? {};
    let token: ProgressToken | undefined;
    if (isPlainObject(rest) && PARTIAL_RESULT_TOKEN in rest) {
      const { [PARTIAL_RESULT_TOKEN]: value, ...others } = rest;
      token = progressToken(value, `params.${PARTIAL_RESULT_TOKEN}`);
      rest = others;
    }
    return { method, params: requestChecks[method](rest, 'params'), progressToken: token };
  } catch (err) {
    if (err instanceof ValidationError) throw new EngineError('invalid-request', `${method}: ${err.message}`);
    throw err;
  }
}

/** Re-exported for clients that show skip reasons. */
export type { Definition, DeviceChoice, DeviceInfo, SkipReason, SkippedEntry, StopReason };
