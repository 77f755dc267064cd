/**
 * One messenger interface, two transports (Continue's IMessenger habit): the engine and its clients speak
 * through a `Messenger` and never know which one carries their messages.
 *
 * - `createInProcessPair()`: two linked ends in one process, for tests and for hosting the engine in the
 *   caller's process. Messages go through JSON like on the wire, so both transports carry the same values.
 * - `NdjsonMessenger`: newline-delimited JSON over a readable and a writable stream (a child process's
 *   stdio, or the engine's own stdin/stdout). JSON never contains a raw newline, so one line is one message.
 */
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

export interface Messenger {
  /** Sends one JSON value to the other end. Throws if the value cannot be serialised or the end is closed. */
  send(message: unknown): void;
  /** Calls `handler` with every message from the other end, in order. Returns a function that unsubscribes. */
  onMessage(handler: (message: unknown) => void): () => void;
  /** Calls `handler` with what arrived but could not be read as a message (e.g. a line that is not JSON). */
  onError(handler: (error: Error) => void): () => void;
  /** Calls `handler` once when the connection ends, from either end. */
  onClose(handler: () => void): () => void;
  /** Ends the connection; the other end sees it close. */
  close(): void;
}

/** The handler lists and JSON encoding both transports share; a transport adds send() and close(). */
abstract class BaseMessenger implements Messenger {
  private readonly messageHandlers = new Set<(message: unknown) => void>();
  private readonly errorHandlers = new Set<(error: Error) => void>();
  private readonly closeHandlers = new Set<() => void>();
  protected closed = false;

  abstract send(message: unknown): void;
  abstract close(): void;

  onMessage(handler: (message: unknown) => void): () => void {
    this.messageHandlers.add(handler);
    return () => this.messageHandlers.delete(handler);
  }
  onError(handler: (error: Error) => void): () => void {
    this.errorHandlers.add(handler);
    return () => this.errorHandlers.delete(handler);
  }
  onClose(handler: () => void): () => void {
    if (this.closed) {
      queueMicrotask(handler);
      return () => undefined;
    }
    this.closeHandlers.add(handler);
    return () => this.closeHandlers.delete(handler);
  }
  protected emitMessage(message: unknown): void {
    for (const h of [...this.messageHandlers]) h(message);
  }
  protected emitError(error: Error): void {
    for (const h of [...this.errorHandlers]) h(error);
  }
  protected emitClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of [...this.closeHandlers]) h();
    this.closeHandlers.clear();
  }
  /** The message as one line of JSON (JSON.stringify escapes every newline inside strings). */
  protected toJson(message: unknown): string {
    const json = JSON.stringify(message);
    if (json === undefined) throw new TypeError(`cannot send ${typeof message}: not a JSON value`);
    return json;
  }
}

class InProcessMessenger extends BaseMessenger {
  peer!: InProcessMessenger;

  send(message: unknown): void {
    if (this.closed) throw new Error('messenger is closed');
    const json = this.toJson(message);
    // Delivered on a later turn, like a pipe: a handler never runs inside the sender's call.
    setImmediate(() => {
      if (!this.peer.closed) this.peer.emitMessage(JSON.parse(json));
    });
  }
  close(): void {
    // After the messages already sent have been delivered.
    setImmediate(() => {
      this.emitClose();
      this.peer.emitClose();
    });
  }
}

/** Two linked messengers: what one sends, the other receives. */
export function createInProcessPair(): [Messenger, Messenger] {
  const a = new InProcessMessenger();
  const b = new InProcessMessenger();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/**
 * Splits a text stream into lines. Keeps the partial line between chunks; accepts '\n' and '\r\n'; skips
 * empty lines. `end()` returns the last line when the stream did not end with a newline.
 */
export class LineSplitter {
  private partial = '';

  push(chunk: string): string[] {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop()!;
    return parts.map(stripCr).filter((line) => line.length > 0);
  }

  end(): string[] {
    const last = stripCr(this.partial);
    this.partial = '';
    return last.length > 0 ? [last] : [];
  }
}

const stripCr = (line: string) => (line.endsWith('\r') ? line.slice(0, -1) : line);

/** Newline-delimited JSON over two streams. */
export class NdjsonMessenger extends BaseMessenger {
  private readonly splitter = new LineSplitter();
  private readonly decoder = new StringDecoder('utf8');

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
  ) {
    super();
    input.on('data', (chunk: Buffer | string) => {
      // StringDecoder keeps a multi-byte character split between chunks for the next one.
      this.receive(this.splitter.push(typeof chunk === 'string' ? chunk : this.decoder.write(chunk)));
    });
    input.on('end', () => {
      this.receive(this.splitter.push(this.decoder.end()));
      this.receive(this.splitter.end());
      this.emitClose();
    });
    input.on('close', () => this.emitClose());
    input.on('error', (err) => this.emitError(err));
    // A reader that went away (EPIPE) closes the connection instead of crashing the process.
    output.on('error', (err) => {
      this.emitError(err);
      this.emitClose();
    });
  }

  private receive(lines: string[]): void {
    for (const line of lines) {
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch (err) {
        const preview = line.length > 80 ? `${line.slice(0, 80)}…` : line;
        this.emitError(new Error(`not a JSON message (${(err as Error).message}): ${preview}`));
        continue;
      }
      this.emitMessage(message);
    }
  }

  send(message: unknown): void {
    // The input may have ended while the output is still open (a half-closed pipe): replies can still go out.
    if (this.output.writableEnded || this.output.destroyed) throw new Error('messenger is closed');
    this.output.write(`${this.toJson(message)}\n`);
  }
  close(): void {
    if (!this.output.writableEnded) this.output.end();
    this.input.pause();
    this.emitClose();
  }
}
