/**
 * The engine's end of the protocol: a JSON-RPC connection (vscode-jsonrpc) whose requests are checked against
 * ./protocol.ts and run by the engine's handlers. A streaming handler's chunks go out as `$/progress`
 * notifications to the request's partialResultToken, its return value as the response. `$/cancelRequest`
 * (vscode-jsonrpc's CancellationToken) aborts the AbortSignal the handler was given.
 *
 * Nothing that arrives can crash the engine: a request that fails its checks gets an error response, and a
 * handler that throws ends its request with one. What cannot be read at all (a bad frame, bad JSON) is
 * logged and never answered: the broken transport is not written to about its own failure.
 */
import { Message, ProgressType, ResponseError, createMessageConnection, type CancellationToken } from 'vscode-jsonrpc/node';
import { isCancellation } from './cancellation';
import type { Messenger } from './messenger';
import {
  EngineError,
  JSONRPC_ERROR_CODES,
  SERVER_ERROR,
  STREAMING,
  ValidationError,
  parseRequest,
  type ChunkOf,
  type ErrorCode,
  type ErrorData,
  type MessageType,
  type RequestOf,
  type ResultOf,
  type StreamingType,
} from './protocol';

export interface RequestContext {
  /** The JSON-RPC id of the request, as a string (engine/status reports the busy request by it). */
  messageId: string;
  /** Aborted by `$/cancelRequest` for this request, or when the connection ends. */
  signal: AbortSignal;
}

export type Handler<K extends MessageType> = (
  data: RequestOf<K>,
  ctx: RequestContext,
) => K extends StreamingType ? AsyncGenerator<ChunkOf<K>, ResultOf<K>> : Promise<ResultOf<K>>;

export type EngineHandlers = { [K in MessageType]: Handler<K> };

const CHUNK = new ProgressType<unknown>();

/** Turns anything a request failed with into the JSON-RPC error sent to the client. */
export function toResponseError(err: unknown): ResponseError<ErrorData> {
  let code: ErrorCode = 'internal';
  let message = err instanceof Error ? err.message : String(err);
  if (err instanceof EngineError) code = err.code;
  else if (err instanceof ValidationError) code = 'invalid-request';
  else if (isCancellation(err)) [code, message] = ['cancelled', 'cancelled'];
  return new ResponseError(JSONRPC_ERROR_CODES[code] ?? SERVER_ERROR, message, { code });
}

/**
 * Serves `handlers` on `messenger`. Resolves when the connection has ended: the other side closed it, or it
 * could no longer be written to; the requests still running are then aborted. `log` receives what cannot be
 * answered (an unreadable message, a failed write, a handler's unexpected error).
 */
export function serveEngine(messenger: Messenger, handlers: EngineHandlers, log: (line: string) => void = () => undefined): Promise<void> {
  const running = new Set<AbortController>();
  // vscode-jsonrpc gives a handler no request id; it calls the handler while dispatching the request, so the id
  // of the message being dispatched is the handler's.
  let dispatching = '';
  const connection = createMessageConnection(
    messenger.reader,
    messenger.writer,
    { error: log, warn: log, info: () => undefined, log: () => undefined },
    {
      messageStrategy: {
        handleMessage(message, next) {
          dispatching = Message.isRequest(message) ? String(message.id) : '';
          next(message);
        },
      },
    },
  );

  let ended = false;
  let resolveEnded!: () => void;
  const whenEnded = new Promise<void>((resolve) => (resolveEnded = resolve));
  const end = (why: string): void => {
    if (ended) return;
    ended = true;
    log(`connection ended (${why}); cancelling ${running.size} request(s)`);
    for (const controller of running) controller.abort();
    connection.dispose();
    resolveEnded();
  };

  const run = async (method: string, params: unknown, token: CancellationToken, messageId: string): Promise<unknown> => {
    const controller = new AbortController();
    if (token.isCancellationRequested) controller.abort();
    const onCancel = token.onCancellationRequested(() => controller.abort());
    running.add(controller);
    try {
      const req = parseRequest(method, params);
      const ctx: RequestContext = { messageId, signal: controller.signal };
      // The cast picks the handler for this method; parseRequest has checked the params against its type.
      const handler = handlers[req.method] as (data: unknown, ctx: RequestContext) => AsyncGenerator<unknown, unknown> | Promise<unknown>;
      if (!STREAMING[req.method]) return await handler(req.params, ctx);
      const stream = handler(req.params, ctx) as AsyncGenerator<unknown, unknown>;
      for (;;) {
        const step = await stream.next();
        if (step.done) return step.value;
        // Written in order, and before the response (vscode-jsonrpc's writer keeps the order of its calls).
        if (req.progressToken !== undefined && !ended) {
          connection.sendProgress(CHUNK, req.progressToken, step.value).catch(() => undefined);
        }
      }
    } catch (err) {
      if (!(err instanceof EngineError) && !(err instanceof ValidationError) && !isCancellation(err)) {
        log(`${method} ${messageId} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
      throw toResponseError(err);
    } finally {
      onCancel.dispose();
      running.delete(controller);
    }
  };

  connection.onRequest((method, params, token) => run(method, params, token, dispatching));
  messenger.reader.onError((err) => log(`unreadable message: ${err.message}`));
  messenger.writer.onError(([err]) => end(`cannot write: ${err.message}`));
  connection.onClose(() => end('closed by the client'));
  connection.listen();
  return whenEnded;
}
