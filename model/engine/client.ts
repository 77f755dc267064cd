/**
 * The client's end of the protocol: typed `request()` for unary methods, `stream()` for streaming ones,
 * cancellation by AbortSignal (sent as `$/cancelRequest`), and an engine that goes away reported as an error on
 * every pending request. The messages are JSON-RPC 2.0 through vscode-jsonrpc (see ./protocol.ts).
 *
 * `EngineClient.spawn()` starts the engine process (`node dist/engine.js`) and talks to it over its stdio;
 * `new EngineClient(messenger)` talks over any other messenger, such as one end of an in-process pair.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import {
  CancellationTokenSource,
  Message,
  ProgressType,
  ResponseError,
  createMessageConnection,
  type Disposable,
  type MessageConnection,
  type MessageWriter,
} from 'vscode-jsonrpc/node';
import { streamMessenger, type Messenger } from './messenger';
import {
  EngineError,
  PARTIAL_RESULT_TOKEN,
  type ChunkOf,
  type ErrorCode,
  type ErrorData,
  type RequestOf,
  type ResultOf,
  type StreamingType,
  type UnaryType,
} from './protocol';

/** Chunks as they arrive (`for await`), and the final value once the stream ends. */
export interface EngineStream<C, F> extends AsyncIterable<C> {
  /** The JSON-RPC id of the request ('' when it failed before it was sent). */
  readonly messageId: string;
  /** Resolves with the final value; rejects with an EngineError. Settles whether or not chunks are read. */
  readonly result: Promise<F>;
}

export interface RequestOptions {
  /** Aborting sends `$/cancelRequest`; the engine then ends the request at its next checkpoint. */
  signal?: AbortSignal;
}

export interface ClientOptions {
  /** Called once the connection has closed, for the error every pending request then gets. */
  closeReason?: () => Promise<EngineError>;
  /** Problems that belong to no request (an unreadable message, a failed write). */
  log?: (line: string) => void;
}

const CHUNK = new ProgressType<unknown>();

/** The EngineError a failed request rejects with: the engine's own code travels in `error.data.code`. */
function toEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  if (err instanceof ResponseError) {
    const code = (err.data as Partial<ErrorData> | undefined)?.code;
    return new EngineError(typeof code === 'string' ? (code as ErrorCode) : 'internal', err.message);
  }
  return new EngineError('internal', err instanceof Error ? err.message : String(err));
}

export class EngineClient {
  private readonly connection: MessageConnection;
  /** The id of the request written last: vscode-jsonrpc numbers requests itself and does not return the id. */
  private lastRequestId = '';
  private nextToken = 1;
  /** How to fail each pending request, for a connection that closes under it. */
  private readonly pending = new Set<(err: EngineError) => void>();
  private closedWith: EngineError | null = null;

  constructor(messenger: Messenger, options: ClientOptions = {}) {
    const log = options.log ?? (() => undefined);
    const closeReason = options.closeReason ?? (async () => new EngineError('engine-crashed', 'the connection to the engine closed'));
    const writer = messenger.writer;
    // vscode-jsonrpc rethrows a failed write of a request where no one can catch it (an unhandled rejection):
    // a write here never fails; the engine's exit that made it fail fails the request, with the reason.
    const recording: MessageWriter = {
      onError: writer.onError,
      onClose: writer.onClose,
      end: () => writer.end(),
      dispose: () => writer.dispose(),
      write: (message) => {
        if (Message.isRequest(message)) this.lastRequestId = String(message.id);
        return writer.write(message).catch(() => undefined);
      },
    };
    const logger = { error: log, warn: log, info: () => undefined, log: () => undefined };
    this.connection = createMessageConnection(messenger.reader, recording, logger);
    this.connection.onError(([err]) => log(`connection to the engine: ${err.message}`));
    this.connection.onClose(() => {
      void closeReason().then((err) => {
        this.failAll(err);
        this.connection.dispose();
      });
    });
    this.connection.listen();
  }

  /** Sends a unary request; resolves with the engine's response or rejects with an EngineError. */
  request<K extends UnaryType>(method: K, data: RequestOf<K>, options: RequestOptions = {}): Promise<ResultOf<K>> {
    return this.send(method, data, options.signal).result as Promise<ResultOf<K>>;
  }

  /** Sends a streaming request; iterate the result for chunks, await `.result` for the final value. */
  stream<K extends StreamingType>(method: K, data: RequestOf<K>, options: RequestOptions = {}): EngineStream<ChunkOf<K>, ResultOf<K>> {
    const chunks: Array<ChunkOf<K>> = [];
    let ended = false;
    let error: EngineError | null = null;
    let wake: (() => void) | null = null;
    const notify = () => {
      wake?.();
      wake = null;
    };
    const { messageId, result } = this.send(method, data, options.signal, (chunk) => {
      chunks.push(chunk as ChunkOf<K>);
      notify();
    });
    // Every chunk has arrived before the response settles the result. Handling the rejection here also means
    // a result left unread by a caller that only iterates is not an unhandled rejection.
    result
      .then(undefined, (err: EngineError) => {
        error = err;
      })
      .finally(() => {
        ended = true;
        notify();
      });
    return {
      messageId,
      result: result as Promise<ResultOf<K>>,
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

  /** Closes the connection (the engine sees its input end); pending requests fail with code 'cancelled'. */
  close(): void {
    this.failAll(new EngineError('cancelled', 'the engine client was closed'));
    this.connection.end();
    this.connection.dispose();
  }

  private send(
    method: string,
    data: unknown,
    signal: AbortSignal | undefined,
    onChunk?: (chunk: unknown) => void,
  ): { messageId: string; result: Promise<unknown> } {
    if (this.closedWith) return { messageId: '', result: Promise.reject(this.closedWith) };
    if (signal?.aborted) {
      return { messageId: '', result: Promise.reject(new EngineError('cancelled', `${method} was cancelled before it was sent`)) };
    }

    const cancel = new CancellationTokenSource();
    const onAbort = () => cancel.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    let params = data;
    let progress: Disposable | undefined;
    if (onChunk) {
      const token = `p${this.nextToken++}`;
      progress = this.connection.onProgress(CHUNK, token, onChunk);
      params = { ...(data as object), [PARTIAL_RESULT_TOKEN]: token };
    }
    let sent: Promise<unknown>;
    let messageId = '';
    try {
      sent = this.connection.sendRequest(method, params, cancel.token);
      messageId = this.lastRequestId;
    } catch (err) {
      sent = Promise.reject(new EngineError('engine-crashed', `could not send ${method}: ${(err as Error).message}`));
    }
    const result = new Promise<unknown>((resolve, reject) => {
      this.pending.add(reject);
      sent
        .then(resolve, (err: unknown) => reject(toEngineError(err)))
        .finally(() => {
          this.pending.delete(reject);
          progress?.dispose();
          signal?.removeEventListener('abort', onAbort);
          cancel.dispose();
        });
    });
    return { messageId, result };
  }

  private failAll(err: EngineError): void {
    this.closedWith ??= err;
    for (const fail of [...this.pending]) fail(err);
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
      // Its own process group: a Ctrl-C in the client's terminal reaches the client alone, which cancels what it
      // asked for; the engine, still loading when it came, used to die of it. (On Windows this opens a console.)
      detached: process.platform !== 'win32',
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
    const clientOptions: ClientOptions = { closeReason: () => exited };
    if (options.log) clientOptions.log = options.log;
    return new EngineProcess(streamMessenger(child.stdout!, child.stdin!), clientOptions, child, exited);
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
