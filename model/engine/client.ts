/**
 * The client's end of the protocol: typed `request()` for unary messages, `stream()` for streaming ones,
 * cancellation by AbortSignal (sent as `engine/cancel` with the request's id), and an engine that goes away
 * reported as an error on every pending request.
 *
 * `EngineClient.spawn()` starts the engine process (`node dist/engine.js`) and talks NDJSON over its stdio;
 * `new EngineClient(messenger)` talks over any other messenger, such as one end of an in-process pair.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { NdjsonMessenger, type Messenger } from './messenger';
import {
  EngineError,
  parseReply,
  type ChunkOf,
  type ErrorCode,
  type RequestOf,
  type ResultOf,
  type StreamingType,
  type UnaryType,
} from './protocol';

/** Chunks as they arrive (`for await`), and the final value once the stream ends. */
export interface EngineStream<C, F> extends AsyncIterable<C> {
  readonly messageId: string;
  /** Resolves with the final value; rejects with an EngineError. Settles whether or not chunks are read. */
  readonly result: Promise<F>;
}

export interface RequestOptions {
  /** Aborting sends `engine/cancel`; the engine then ends the request at its next checkpoint. */
  signal?: AbortSignal;
}

interface Pending {
  chunk(content: unknown): void;
  done(content: unknown): void;
  fail(error: EngineError): void;
}

export interface ClientOptions {
  /** Called once the connection has closed, for the error every pending request then gets. */
  closeReason?: () => Promise<EngineError>;
  /** Problems that belong to no request (an unreadable reply, an error about an unreadable request). */
  log?: (line: string) => void;
}

export class EngineClient {
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private closedWith: EngineError | null = null;
  private readonly log: (line: string) => void;
  private readonly disposers: Array<() => void> = [];

  constructor(
    private readonly messenger: Messenger,
    options: ClientOptions = {},
  ) {
    this.log = options.log ?? (() => undefined);
    const closeReason = options.closeReason ?? (async () => new EngineError('engine-crashed', 'the connection to the engine closed'));
    this.disposers.push(
      messenger.onMessage((m) => this.receive(m)),
      messenger.onError((err) => this.log(`unreadable message from the engine: ${err.message}`)),
      messenger.onClose(() => {
        void closeReason().then((err) => this.failAll(err));
      }),
    );
  }

  /** Sends a unary request; resolves with the engine's response or rejects with an EngineError. */
  request<K extends UnaryType>(messageType: K, data: RequestOf<K>, options: RequestOptions = {}): Promise<ResultOf<K>> {
    return new Promise<ResultOf<K>>((resolve, reject) => {
      this.start(messageType, data, options.signal, {
        chunk: (content) => this.log(`unexpected chunk for unary ${messageType}: ${JSON.stringify(content)}`),
        done: (content) => resolve(content as ResultOf<K>),
        fail: reject,
      });
    });
  }

  /** Sends a streaming request; iterate the result for chunks, await `.result` for the final value. */
  stream<K extends StreamingType>(messageType: K, data: RequestOf<K>, options: RequestOptions = {}): EngineStream<ChunkOf<K>, ResultOf<K>> {
    const chunks: Array<ChunkOf<K>> = [];
    let ended = false;
    let error: EngineError | null = null;
    let wake: (() => void) | null = null;
    const notify = () => {
      wake?.();
      wake = null;
    };
    let settle!: { resolve: (v: ResultOf<K>) => void; reject: (e: EngineError) => void };
    const result = new Promise<ResultOf<K>>((resolve, reject) => (settle = { resolve, reject }));
    // The result may be left unread by a caller that only iterates; its rejection is not "unhandled" then.
    result.catch(() => undefined);
    const messageId = this.start(messageType, data, options.signal, {
      chunk: (content) => {
        chunks.push(content as ChunkOf<K>);
        notify();
      },
      done: (content) => {
        ended = true;
        settle.resolve(content as ResultOf<K>);
        notify();
      },
      fail: (err) => {
        ended = true;
        error = err;
        settle.reject(err);
        notify();
      },
    });
    return {
      messageId,
      result,
      [Symbol.asyncIterator]: (): AsyncIterator<ChunkOf<K>> => ({
        next: async () => {
          for (;;) {
            if (chunks.length > 0) return { value: chunks.shift()!, done: false };
            if (error) throw error;
            if (ended) return { value: undefined, done: true };
            await new Promise<void>((resolve) => (wake = resolve));
          }
        },
      }),
    };
  }

  /** Closes the connection; pending requests fail with code 'cancelled'. */
  close(): void {
    this.failAll(new EngineError('cancelled', 'the engine client was closed'));
    for (const dispose of this.disposers.splice(0)) dispose();
    this.messenger.close();
  }

  private start(messageType: string, data: unknown, signal: AbortSignal | undefined, handlers: Pending): string {
    const messageId = `c${this.nextId++}`;
    if (this.closedWith) {
      handlers.fail(this.closedWith);
      return messageId;
    }
    if (signal?.aborted) {
      handlers.fail(new EngineError('cancelled', `${messageType} was cancelled before it was sent`));
      return messageId;
    }
    const onAbort = () => {
      this.request('engine/cancel', { messageId }).catch((err: Error) => this.log(`cancel of ${messageId} failed: ${err.message}`));
    };
    const finish = () => {
      this.pending.delete(messageId);
      signal?.removeEventListener('abort', onAbort);
    };
    this.pending.set(messageId, {
      chunk: handlers.chunk,
      done: (content) => {
        finish();
        handlers.done(content);
      },
      fail: (err) => {
        finish();
        handlers.fail(err);
      },
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      this.messenger.send({ messageType, messageId, data });
    } catch (err) {
      this.pending.get(messageId)?.fail(new EngineError('engine-crashed', `could not send ${messageType}: ${(err as Error).message}`));
    }
    return messageId;
  }

  private receive(message: unknown): void {
    const reply = parseReply(message);
    if (!reply) {
      this.log(`not a reply envelope: ${JSON.stringify(message).slice(0, 200)}`);
      return;
    }
    const target = this.pending.get(reply.messageId);
    if (!target) {
      const detail = reply.data.status === 'error' ? `: ${reply.data.content.message}` : '';
      this.log(`reply to no pending request (${reply.messageType || '?'} ${reply.messageId || '?'})${detail}`);
      return;
    }
    const { data } = reply;
    if (data.status === 'error') target.fail(new EngineError(data.content.code as ErrorCode, data.content.message));
    else if (data.done) target.done(data.content);
    else target.chunk(data.content);
  }

  private failAll(err: EngineError): void {
    this.closedWith ??= err;
    for (const p of [...this.pending.values()]) p.fail(err);
  }

  // ---- the engine process ----------------------------------------------------------------------------------

  /**
   * Starts the engine process and connects to it. Its stderr (the engine's log) is kept (the last 8 KB go
   * into the error of a crash) and passed to `onStderr` when given.
   */
  static spawn(options: SpawnOptions = {}): EngineProcess {
    const enginePath = options.enginePath ?? resolveEngineBundle();
    const child = spawn(options.execPath ?? process.execPath, [enginePath], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    let stderrTail = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      stderrTail = (stderrTail + text).slice(-8192);
      options.onStderr?.(text);
    });
    const exited = new Promise<EngineError>((resolve) => {
      const report = (how: string) => {
        const tail = stderrTail.trim();
        resolve(new EngineError('engine-crashed', `the engine process ${how}${tail ? `; its last output:\n${tail}` : ''}`));
      };
      child.once('exit', (code, signal) => report(signal ? `was killed by ${signal}` : `exited with code ${code}`));
      child.once('error', (err) => report(`could not start (${err.message})`));
    });
    const messenger = new NdjsonMessenger(child.stdout!, child.stdin!);
    const clientOptions: ClientOptions = { closeReason: () => exited };
    if (options.log) clientOptions.log = options.log;
    return new EngineProcess(messenger, clientOptions, child, exited);
  }
}

export interface SpawnOptions {
  /** The engine bundle; default: engine.js beside this bundle (dist/), or dist/engine.js from the sources. */
  enginePath?: string;
  /** The Node binary; default: the one running now. */
  execPath?: string;
  env?: NodeJS.ProcessEnv;
  onStderr?: (text: string) => void;
  log?: (line: string) => void;
}

/** A client connected to an engine process it started. */
export class EngineProcess extends EngineClient {
  constructor(
    messenger: Messenger,
    options: ClientOptions,
    readonly child: ChildProcess,
    private readonly exited: Promise<EngineError>,
  ) {
    super(messenger, options);
  }

  /**
   * Closes stdin (the engine stops its work at the next checkpoint and exits when it sees the end) and waits
   * for the process to exit; kills it if it has not after `graceMs`.
   */
  async shutdown(graceMs = 5000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.close();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Where the engine bundle is: beside the running bundle (dist/cli.js → dist/engine.js), or built from the sources. */
export function resolveEngineBundle(): string {
  const candidates = [path.join(__dirname, 'engine.js'), path.resolve(__dirname, '../../dist/engine.js')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new EngineError('not-found', `the engine bundle is missing (looked for ${candidates.join(', ')}); run \`npm run build\``);
  return found;
}
