/**
 * The engine's end of the protocol: reads request envelopes from a messenger, checks them, runs the
 * handler, and sends the replies (chunks of a streaming handler as `done: false`, then one `done: true`).
 * `engine/cancel` is answered here, by aborting the signal of the request it names.
 *
 * Nothing that arrives can crash the engine: a malformed message gets an error reply, and a handler that
 * throws ends its request with an error reply.
 */
import type { Messenger } from './messenger';
import {
  EngineError,
  STREAMING,
  ValidationError,
  parseRequest,
  type ChunkOf,
  type ErrorData,
  type MessageType,
  type ReplyData,
  type RequestEnvelope,
  type RequestOf,
  type ResultOf,
  type StreamingType,
} from './protocol';

export interface RequestContext {
  messageId: string;
  /** Aborted by `engine/cancel` for this id, or when the connection closes. */
  signal: AbortSignal;
}

export type Handler<K extends MessageType> = (
  data: RequestOf<K>,
  ctx: RequestContext,
) => K extends StreamingType ? AsyncGenerator<ChunkOf<K>, ResultOf<K>> : Promise<ResultOf<K>>;

/** Every message but `engine/cancel`, which the dispatcher answers itself. */
export type EngineHandlers = { [K in Exclude<MessageType, 'engine/cancel'>]: Handler<K> };

/** Turns anything thrown into the error data sent to the client. */
export function toErrorData(err: unknown): ErrorData {
  if (err instanceof EngineError) return err.toData();
  if (err instanceof ValidationError) return { code: 'invalid-request', message: err.message };
  if (err instanceof Error && err.name === 'AbortError') return { code: 'cancelled', message: 'cancelled' };
  return { code: 'internal', message: err instanceof Error ? err.message : String(err) };
}

/**
 * Serves `handlers` on `messenger` until the connection closes; pending requests are then aborted.
 * `log` receives one line per problem that cannot be replied to (e.g. a send to a closed pipe).
 */
export function serveEngine(messenger: Messenger, handlers: EngineHandlers, log: (line: string) => void = () => undefined): void {
  const pending = new Map<string, AbortController>();

  const reply = (messageType: string, messageId: string, data: ReplyData): void => {
    try {
      messenger.send({ messageType, messageId, data });
    } catch (err) {
      log(`could not reply to ${messageType} ${messageId}: ${(err as Error).message}`);
    }
  };
  const replyError = (messageType: string, messageId: string, err: unknown): void =>
    reply(messageType, messageId, { status: 'error', done: true, content: toErrorData(err) });

  const run = async (req: RequestEnvelope, signal: AbortSignal): Promise<void> => {
    const { messageType, messageId } = req;
    const ctx: RequestContext = { messageId, signal };
    // The casts pick the handler for this message; parseRequest has checked `data` against its type.
    const handler = handlers[messageType as Exclude<MessageType, 'engine/cancel'>] as (
      data: unknown,
      ctx: RequestContext,
    ) => AsyncGenerator<unknown, unknown> | Promise<unknown>;
    try {
      if (STREAMING[messageType]) {
        const stream = handler(req.data, ctx) as AsyncGenerator<unknown, unknown>;
        for (;;) {
          const step = await stream.next();
          reply(messageType, messageId, { status: 'success', done: step.done === true, content: step.value });
          if (step.done) return;
        }
      }
      const content = await handler(req.data, ctx);
      reply(messageType, messageId, { status: 'success', done: true, content });
    } catch (err) {
      if (!(err instanceof EngineError) && !(err instanceof Error && err.name === 'AbortError')) {
        log(`${messageType} ${messageId} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      }
      replyError(messageType, messageId, err);
    }
  };

  messenger.onError((err) => replyError('', '', new EngineError('invalid-message', err.message)));

  messenger.onMessage((message) => {
    let req: RequestEnvelope;
    try {
      req = parseRequest(message);
    } catch (err) {
      const m = (typeof message === 'object' && message !== null ? message : {}) as Record<string, unknown>;
      replyError(typeof m.messageType === 'string' ? m.messageType : '', typeof m.messageId === 'string' ? m.messageId : '', err);
      return;
    }
    if (req.messageType === 'engine/cancel') {
      const target = pending.get((req.data as RequestOf<'engine/cancel'>).messageId);
      target?.abort();
      reply(req.messageType, req.messageId, { status: 'success', done: true, content: { cancelled: target !== undefined } });
      return;
    }
    if (pending.has(req.messageId)) {
      replyError(req.messageType, req.messageId, new EngineError('invalid-message', `messageId ${req.messageId} is already in use by a pending request`));
      return;
    }
    const controller = new AbortController();
    pending.set(req.messageId, controller);
    void run(req, controller.signal).finally(() => pending.delete(req.messageId));
  });

  messenger.onClose(() => {
    for (const controller of pending.values()) controller.abort();
  });
}
