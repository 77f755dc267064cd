/**
 * The engine process (dist/engine.js): serves the protocol of ./protocol.ts as JSON-RPC 2.0 on stdin/stdout,
 * each message framed as in the Language Server Protocol (`Content-Length: <bytes>\r\n\r\n` + JSON); see
 * docs/engine-protocol.md. stdout carries protocol messages and nothing else; every log line goes to stderr.
 *
 * The engine lives as long as its client: when stdin ends or stdout can no longer be written to (the client
 * closed it, or went away), pending requests are cancelled and the process exits, whatever it was doing.
 */
import { format } from 'node:util';
import { serveEngine } from './dispatch';
import { Engine } from './engine';
import { MAX_REQUEST_BYTES, streamMessenger } from './messenger';

/** How long the request at work may take to reach its next checkpoint and release the model before the exit. */
const EXIT_GRACE_MS = 2000;

const log = (line: string): void => {
  process.stderr.write(`[famulus-engine ${process.pid}] ${line}\n`);
};
// A stray console.log (ours or a library's) would corrupt the message stream: all console output is a log line.
for (const method of ['log', 'info', 'warn', 'debug'] as const) {
  console[method] = (...args: unknown[]) => log(format(...args));
}

// onnxruntime 1.30 starts Microsoft's telemetry (1DS) with the first session unless this is set: it writes
// /tmp/mat-debug-<pid>.log (O_CREAT|O_TRUNC, in a world-writable folder) at every start, keeps an event cache
// under ~/.cache/Microsoft/DeveloperTools/.onnxruntime/ and would upload it; the engine is offline.
process.env.ORT_DISABLE_TELEMETRY = '1';

// Started by a client, the engine stops when its stdin ends. A Ctrl-C in the client's terminal reaches the
// whole process group (unless the client gave the engine its own, as ./client.ts does); the client turns it
// into a cancel, so the engine must not die of it first.
if (!process.stdin.isTTY) process.on('SIGINT', () => log('SIGINT ignored: the client stops the engine by closing stdin'));

const engine = new Engine({ log });
const ended = serveEngine(streamMessenger(process.stdin, process.stdout, { maxMessageBytes: MAX_REQUEST_BYTES }), engine.handlers, log);

void ended.then(() => {
  const exit = () => process.exit(0);
  setTimeout(() => {
    log(`exiting: the work in progress did not stop within ${EXIT_GRACE_MS} ms`);
    exit();
  }, EXIT_GRACE_MS);
  void engine
    .dispose()
    .catch((err: Error) => log(`dispose failed: ${err.message}`))
    // Exit once what was written to stdout has been handed to the pipe (or the pipe has failed).
    .finally(() => process.stdout.write('', exit));
});
log('ready');
