/**
 * The protocol between the engine process and its clients (the CLI, the extension): one typed map of
 * namespaced messages, the envelopes they travel in, and the runtime checks the engine applies to everything
 * it receives. Both sides import this module; it loads no onnxruntime and no node built-ins.
 *
 * Wire format (one JSON value per message; over stdio, one per line):
 *   request   { messageType: 'engine/ask', messageId: 'c7', data: { question: '…' } }
 *   reply     { messageType: 'engine/ask', messageId: 'c7', data: { status, done, content } }
 * A unary request gets one reply with done: true. A streaming request gets any number of
 * { status: 'success', done: false, content: chunk } replies, then one done: true reply with the final value.
 * Errors are data: { status: 'error', done: true, content: { code, message } }, and end the request.
 *
 * Cancellation: `engine/cancel { messageId }` ends the request with that id at its next checkpoint (between
 * blocks while reading, between tokens while answering). A streaming request that had started ends with its
 * final value and `cancelled: true` (an ingest keeps the state of the last file it completed); a request
 * still waiting in the queue, or a unary one, ends with the error code 'cancelled'.
 */
import type { DeviceChoice, DeviceInfo, StopReason } from '../runtime/types';
import type { SkipReason, SkippedEntry, WalkOptions } from '../workspace/walker';

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
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  /** B, F and m of fam.md. */
  blockSize: number;
  famLength: number;
  memorySegments: number;
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

export interface IngestRequest {
  root: string;
  walker?: WalkerOptions;
  /**
   * Start from an empty state. Otherwise (default) an ingest continues from the state held for the same
   * root when that state's files are a prefix of the new walk (same paths and hashes, same order): after a
   * cancelled ingest, or when files sorting after all others were added, only the rest is read.
   */
  fresh?: boolean;
}

export type IngestChunk =
  | {
      kind: 'walked';
      filesTotal: number;
      bytesTotal: number;
      /** Files already in the state (see IngestRequest.fresh). */
      filesReused: number;
      skipped: SkippedEntry[];
    }
  | {
      kind: 'progress';
      filesDone: number;
      filesTotal: number;
      bytesDone: number;
      bytesTotal: number;
      currentFile: string;
      /** Tokens read by this request so far. */
      tokensDone: number;
      /** tokensDone over the wall-clock seconds since reading started. */
      tokensPerSecond: number;
    };

export interface IngestResult {
  root: string;
  /** Files read by this request, and files kept from the previous state. */
  filesIngested: number;
  filesReused: number;
  tokensIngested: number;
  skipped: number;
  /** Wall-clock seconds of the whole request (walk, tokenise, read). */
  seconds: number;
  /** tokensIngested over the seconds spent tokenising and reading them. */
  tokensPerSecond: number;
  cancelled: boolean;
  /** The engine's workspace state after the request (null when cancelled while walking, with none held before). */
  state: StateSummary | null;
}

export interface AskRequest {
  question: string;
  options?: GenerationSettings;
}

export interface SummarizeRequest {
  /** A file inside the ingested root: absolute, or relative to the root. */
  path: string;
  options?: GenerationSettings;
}

export interface TextDelta {
  text: string;
}

export interface AnswerResult {
  answer: string;
  /** Tokens generated (a stop token that ended the answer is not counted). */
  tokens: number;
  /** Tokens streamed into the copied state before generating (the question; for a summary, the file too). */
  promptTokens: number;
  stopReason: StopReason;
  cancelled: boolean;
  timings: {
    /** Wall clock from the start of the work to the first generated token. */
    firstTokenSeconds: number;
    totalSeconds: number;
  };
  /** Generated tokens after the first over the seconds after the first: the decode speed. */
  tokensPerSecond: number;
}

export interface SummarizeResult extends AnswerResult {
  /** The root-relative path that was summarised. */
  path: string;
}

export interface SaveStateRequest {
  path: string;
}

export interface SaveStateResult {
  path: string;
  /** Size of the written file. */
  bytes: number;
  state: StateSummary;
  seconds: number;
}

export interface LoadStateRequest {
  path: string;
}

export interface LoadStateResult {
  path: string;
  state: StateSummary;
  seconds: number;
}

export interface CancelRequest {
  messageId: string;
}

export interface CancelResult {
  /** False when no request with that id was pending (it had already finished, or never existed). */
  cancelled: boolean;
}

// ---------------------------------------------------------------------------------------------- the map

/** Client → engine. Streaming messages answer with `AsyncGenerator<Chunk, Final>`. */
export type ToEngineProtocol = {
  'engine/status': [StatusRequest, EngineStatus];
  'engine/loadModel': [LoadModelRequest, LoadModelResult];
  'workspace/ingest': [IngestRequest, AsyncGenerator<IngestChunk, IngestResult>];
  'engine/ask': [AskRequest, AsyncGenerator<TextDelta, AnswerResult>];
  'engine/summarize': [SummarizeRequest, AsyncGenerator<TextDelta, SummarizeResult>];
  'state/save': [SaveStateRequest, SaveStateResult];
  'state/load': [LoadStateRequest, LoadStateResult];
  'engine/cancel': [CancelRequest, CancelResult];
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
  'workspace/ingest': true,
  'engine/ask': true,
  'engine/summarize': true,
  'state/save': false,
  'state/load': false,
  'engine/cancel': false,
};

export function isMessageType(value: unknown): value is MessageType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(STREAMING, value);
}

// ---------------------------------------------------------------------------------------------- envelopes

export interface RequestEnvelope<K extends MessageType = MessageType> {
  messageType: K;
  messageId: string;
  data: RequestOf<K>;
}

export type ErrorCode =
  /** The envelope is not an object with a known messageType, a non-empty messageId and data. */
  | 'invalid-message'
  /** The payload does not match the message's request type. */
  | 'invalid-request'
  /** The request needs a model and none is loaded (send engine/loadModel first). */
  | 'no-model'
  /** The request needs a workspace state and none is held (ingest or state/load first). */
  | 'no-state'
  /** Model files missing or inconsistent, or the runtime failed. */
  | 'model-error'
  /** A state file from another model, or of another format version. */
  | 'state-mismatch'
  /** A state file that is damaged (bad magic, checksum, truncated). */
  | 'state-corrupt'
  | 'not-found'
  | 'io-error'
  | 'cancelled'
  /** The engine process exited (reported by the client to every pending request). */
  | 'engine-crashed'
  | 'internal';

export interface ErrorData {
  code: ErrorCode;
  message: string;
}

export type ReplyData =
  | { status: 'success'; done: boolean; content: unknown }
  | { status: 'error'; done: true; content: ErrorData };

export interface ReplyEnvelope {
  messageType: string;
  messageId: string;
  data: ReplyData;
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

  toData(): ErrorData {
    return { code: this.code, message: this.message };
  }
}

// ---------------------------------------------------------------------------------------------- validation

/** A runtime check: returns the value typed, or throws a ValidationError naming the path of the bad field. */
export type Check<T> = (value: unknown, at: string) => T;
type OptionalCheck<T> = Check<T | undefined> & { readonly optional: true };
type Infer<C> = C extends Check<infer T> ? T : never;

export class ValidationError extends Error {
  override readonly name = 'ValidationError';
}

const fail = (at: string, expected: string, value: unknown): never => {
  throw new ValidationError(`${at}: expected ${expected}, got ${describe(value)}`);
};

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export const v = {
  string(opts: { nonEmpty?: boolean } = {}): Check<string> {
    return (value, at) =>
      typeof value === 'string' && (!opts.nonEmpty || value.length > 0)
        ? value
        : fail(at, opts.nonEmpty ? 'a non-empty string' : 'a string', value);
  },
  number(opts: { integer?: boolean; min?: number; max?: number } = {}): Check<number> {
    const { integer = false, min = -Infinity, max = Infinity } = opts;
    const what = `${integer ? 'an integer' : 'a finite number'}${min > -Infinity ? ` ≥ ${min}` : ''}${max < Infinity ? ` ≤ ${max}` : ''}`;
    return (value, at) =>
      typeof value === 'number' && Number.isFinite(value) && (!integer || Number.isInteger(value)) && value >= min && value <= max
        ? value
        : fail(at, what, value);
  },
  boolean(): Check<boolean> {
    return (value, at) => (typeof value === 'boolean' ? value : fail(at, 'a boolean', value));
  },
  literal<const L extends readonly string[]>(...values: L): Check<L[number]> {
    return (value, at) =>
      typeof value === 'string' && values.includes(value) ? (value as L[number]) : fail(at, `one of ${values.join(' | ')}`, value);
  },
  array<T>(item: Check<T>): Check<T[]> {
    return (value, at) => (Array.isArray(value) ? value.map((x, i) => item(x, `${at}[${i}]`)) : fail(at, 'an array', value));
  },
  optional<T>(check: Check<T>): OptionalCheck<T> {
    return Object.assign((value: unknown, at: string) => (value === undefined ? undefined : check(value, at)), {
      optional: true as const,
    });
  },
  /** An object with exactly these fields: unknown fields are refused, so a misspelt option is not silently ignored. */
  object<S extends Record<string, Check<unknown>>>(shape: S): Check<ObjectOf<S>> {
    return (value, at) => {
      if (!isPlainObject(value)) return fail(at, 'an object', value);
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        if (!Object.prototype.hasOwnProperty.call(shape, key)) throw new ValidationError(`${at}.${key}: unknown field`);
      }
      for (const [key, check] of Object.entries(shape)) {
        const field = check(value[key], `${at}.${key}`);
        if (field !== undefined) out[key] = field;
      }
      return out as ObjectOf<S>;
    };
  },
};

type OptionalKeys<S> = { [K in keyof S]: S[K] extends { optional: true } ? K : never }[keyof S];
type ObjectOf<S> = { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> };

const walkerOptions: Check<WalkerOptions> = v.object({
  excludes: v.optional(v.array(v.string({ nonEmpty: true }))),
  includes: v.optional(v.array(v.string({ nonEmpty: true }))),
  useDefaultExcludes: v.optional(v.boolean()),
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

/** One check per message: the engine applies it to every request payload before any handler sees it. */
export const requestChecks: { readonly [K in MessageType]: Check<RequestOf<K>> } = {
  'engine/status': v.object({}),
  'engine/loadModel': v.object({
    modelDir: v.optional(v.string({ nonEmpty: true })),
    device: v.optional(v.literal('auto', 'cpu', 'webgpu')),
    threads: v.optional(v.number({ integer: true, min: 1, max: 1024 })),
  }),
  'workspace/ingest': v.object({
    root: v.string({ nonEmpty: true }),
    walker: v.optional(walkerOptions),
    fresh: v.optional(v.boolean()),
  }),
  'engine/ask': v.object({ question: v.string({ nonEmpty: true }), options: v.optional(generationSettings) }),
  'engine/summarize': v.object({ path: v.string({ nonEmpty: true }), options: v.optional(generationSettings) }),
  'state/save': v.object({ path: v.string({ nonEmpty: true }) }),
  'state/load': v.object({ path: v.string({ nonEmpty: true }) }),
  'engine/cancel': v.object({ messageId: v.string({ nonEmpty: true }) }),
};

/**
 * Checks an incoming envelope and its payload. Throws an EngineError ('invalid-message' or
 * 'invalid-request') whose message says what was wrong.
 */
export function parseRequest(message: unknown): RequestEnvelope {
  if (!isPlainObject(message)) throw new EngineError('invalid-message', `message: expected an object envelope, got ${describe(message)}`);
  const { messageType, messageId, data } = message;
  if (typeof messageId !== 'string' || messageId.length === 0) {
    throw new EngineError('invalid-message', `messageId: expected a non-empty string, got ${describe(messageId)}`);
  }
  if (!isMessageType(messageType)) {
    throw new EngineError(
      'invalid-message',
      `messageType: expected one of ${Object.keys(STREAMING).join(', ')}, got ${describe(messageType)}`,
    );
  }
  try {
    return { messageType, messageId, data: requestChecks[messageType](data, 'data') };
  } catch (err) {
    if (err instanceof ValidationError) throw new EngineError('invalid-request', `${messageType}: ${err.message}`);
    throw err;
  }
}

/** Checks a reply envelope (the client's side); returns null when it is not one. */
export function parseReply(message: unknown): ReplyEnvelope | null {
  if (!isPlainObject(message) || typeof message.messageId !== 'string' || typeof message.messageType !== 'string') return null;
  const data = message.data;
  if (!isPlainObject(data) || typeof data.done !== 'boolean') return null;
  if (data.status === 'success') return message as unknown as ReplyEnvelope;
  if (data.status === 'error' && data.done && isPlainObject(data.content) && typeof data.content.message === 'string' && typeof data.content.code === 'string') {
    return message as unknown as ReplyEnvelope;
  }
  return null;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

/** Re-exported for clients that show skip reasons. */
export type { DeviceChoice, DeviceInfo, SkipReason, SkippedEntry, StopReason };
