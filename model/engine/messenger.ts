/**
 * The ends a JSON-RPC connection is made of: what reads the other side's messages and what writes ours
 * (vscode-jsonrpc's MessageReader and MessageWriter). The engine (./dispatch.ts) and its clients (./client.ts)
 * take a Messenger and never know what carries their messages.
 *
 * - `streamMessenger(input, output)`: messages framed as in the Language Server Protocol, a
 *   `Content-Length: <bytes>\r\n\r\n` header and then that many bytes of UTF-8 JSON, over a readable and a
 *   writable stream (a child process's stdout and stdin, or the engine's own stdin and stdout).
 * - `createInProcessPair()`: two linked ends in one process, for tests: the same framing over in-memory pipes.
 */
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { StreamMessageReader, StreamMessageWriter, type MessageReader, type MessageWriter } from 'vscode-jsonrpc/node';

export interface Messenger {
  reader: MessageReader;
  writer: MessageWriter;
}

export function streamMessenger(input: Readable, output: Writable): Messenger {
  return { reader: new StreamMessageReader(input), writer: new StreamMessageWriter(output) };
}

/** Two linked ends: what one writes, the other reads. Ending one end's writer closes the other's reader. */
export function createInProcessPair(): [Messenger, Messenger] {
  const aToB = new PassThrough();
  const bToA = new PassThrough();
  return [streamMessenger(bToA, aToB), streamMessenger(aToB, bToA)];
}
