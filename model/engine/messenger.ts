/**
 * The ends a JSON-RPC connection is made of: what reads the other side's messages and what writes ours
 * (vscode-jsonrpc's MessageReader and MessageWriter). The engine (./dispatch.ts) and its clients (./client.ts)
 * take a Messenger and never know what carries their messages.
 *
 * - `streamMessenger(input, output)`: messages framed as in the Language Server Protocol, a
 *   `Content-Length: <bytes>\r\n\r\n` header and then that many bytes of UTF-8 JSON, over a readable and a
 *   writable stream (a child process's stdout and stdin, or the engine's own stdin and stdout).
 * - `createInProcessPair()`: two linked ends in one process, for tests: the same framing over in-memory pipes.
 *
 * What is read passes a frame check first (FrameCheck below): vscode-jsonrpc looks for the end of a header by
 * scanning everything buffered again on every chunk, so a header that never ends cost quadratic time (8 MB took
 * 2 s, 64 MB 95 s), and it buffers a body of any announced length. Headers are capped at 8 KiB and messages at
 * `maxMessageBytes`; a frame over either is reported, skipped without being buffered, and the next one is read.
 */
import { PassThrough, Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { StreamMessageReader, StreamMessageWriter, type MessageReader, type MessageWriter } from 'vscode-jsonrpc/node';

export interface Messenger {
  reader: MessageReader;
  writer: MessageWriter;
}

/** The longest header section (LSP headers are a few dozen bytes). */
export const MAX_HEADER_BYTES = 8 * 1024;
/** The largest message a client reads by default: V8 cannot hold a longer string than about 512 MiB anyway. */
export const MAX_MESSAGE_BYTES = 512 * 1024 * 1024;
/** The largest request the engine reads: requests carry a question, paths and settings. */
export const MAX_REQUEST_BYTES = 16 * 1024 * 1024;

export interface MessengerOptions {
  /** Bytes of the largest message body read (default MAX_MESSAGE_BYTES). */
  maxMessageBytes?: number;
}

export function streamMessenger(input: Readable, output: Writable, options: MessengerOptions = {}): Messenger {
  return { reader: new CheckedMessageReader(input, options.maxMessageBytes ?? MAX_MESSAGE_BYTES), writer: new StreamMessageWriter(output) };
}

/** Two linked ends: what one writes, the other reads. Ending one end's writer closes the other's reader. */
export function createInProcessPair(): [Messenger, Messenger] {
  const aToB = new PassThrough();
  const bToA = new PassThrough();
  return [streamMessenger(bToA, aToB), streamMessenger(aToB, bToA)];
}

/** vscode-jsonrpc's reader behind a FrameCheck, whose rejections it reports as read errors. */
class CheckedMessageReader extends StreamMessageReader {
  constructor(input: Readable, maxMessageBytes: number) {
    const frames = new FrameCheck(maxMessageBytes);
    super(frames);
    // Off: vscode-jsonrpc re-arms a timer every 10 s while a message is incomplete, forever once the other side
    // died mid-message, and that timer kept the process alive. Nothing here listens for partial messages.
    this.partialMessageTimeout = 0;
    frames.onReject = (why) => this.fireError(new Error(why));
    input.on('error', (err) => frames.destroy(err));
    input.pipe(frames);
  }
}

const HEADER_END = Buffer.from('\r\n\r\n', 'ascii');

/**
 * Passes on well-formed frames and drops the rest, in one pass over the bytes: a header is looked for in at most
 * MAX_HEADER_BYTES, a body is counted, never held. What it drops it reports through `onReject`.
 */
class FrameCheck extends Transform {
  onReject: (why: string) => void = () => undefined;
  /** What is being read: a header, a body to pass on, or bytes to drop until a header's end or a body's end. */
  private state: 'header' | 'body' | 'skip-header' | 'skip-body' = 'header';
  /** The header read so far; while skipping a header, its last three bytes (the end may straddle chunks). */
  private head: Buffer = Buffer.alloc(0);
  /** Bytes left of the body being passed on or skipped. */
  private left = 0;

  constructor(private readonly maxMessageBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let data = chunk;
    while (data.length > 0) {
      if (this.state === 'body' || this.state === 'skip-body') {
        const n = Math.min(this.left, data.length);
        if (this.state === 'body') this.push(data.subarray(0, n));
        this.left -= n;
        data = data.subarray(n);
        if (this.left === 0) this.state = 'header';
        continue;
      }
      const buffered = this.head.length > 0 ? Buffer.concat([this.head, data]) : data;
      // A header's end is looked for where a header can end, not in the whole chunk.
      const end = buffered.subarray(0, this.state === 'header' ? MAX_HEADER_BYTES + HEADER_END.length : undefined).indexOf(HEADER_END);
      if (this.state === 'skip-header') {
        if (end < 0) {
          this.head = buffered.subarray(-3);
          break;
        }
        this.head = Buffer.alloc(0);
        this.state = 'header';
        data = buffered.subarray(end + HEADER_END.length);
        continue;
      }
      if (end < 0 || end > MAX_HEADER_BYTES) {
        if (buffered.length <= MAX_HEADER_BYTES) {
          this.head = buffered;
          break;
        }
        this.onReject(`a message header longer than ${MAX_HEADER_BYTES} bytes was skipped, up to the next blank line`);
        this.head = Buffer.alloc(0);
        this.state = 'skip-header';
        data = buffered.subarray(MAX_HEADER_BYTES - 3);
        continue;
      }
      const header = buffered.subarray(0, end + HEADER_END.length);
      data = buffered.subarray(end + HEADER_END.length);
      this.head = Buffer.alloc(0);
      this.startBody(header);
    }
    done();
  }

  /** Passes a header on and expects its body, or drops both when the header names no length or too long a one. */
  private startBody(header: Buffer): void {
    const match = /^content-length:[ \t]*(\d+)[ \t]*$/im.exec(header.toString('ascii'));
    if (!match) {
      this.onReject(`a message header without a valid Content-Length was skipped: ${JSON.stringify(header.toString('ascii').trim().slice(0, 200))}`);
      return;
    }
    const length = Number(match[1]);
    if (length > this.maxMessageBytes) {
      this.onReject(`a message of ${length} bytes was skipped: the limit is ${this.maxMessageBytes} bytes`);
      this.state = 'skip-body';
      this.left = length;
      return;
    }
    this.push(header);
    this.state = 'body';
    this.left = length;
    if (length === 0) this.state = 'header';
  }
}
