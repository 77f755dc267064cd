/**
 * The engine process (dist/engine.js): serves the protocol of ./protocol.ts as newline-delimited JSON on
 * stdin/stdout. stdout carries protocol messages and nothing else; every log line goes to stderr. When stdin
 * ends (the client closed it or went away), pending requests are cancelled, the model is released and the
 * process exits.
 */
import { format } from 'node:util';
import { serveEngine } from './dispatch';
import { Engine } from './engine';
import { NdjsonMessenger } from './messenger';

const log = (line: string): void => {
  process.stderr.write(`[famulus-engine ${process.pid}] ${line}\n`);
};
// A stray console.log (ours or a library's) would corrupt the message stream: all console output is a log line.
for (const method of ['log', 'info', 'warn', 'debug'] as const) {
  console[method] = (...args: unknown[]) => log(format(...args));
}

// Started by a client, the engine stops when its stdin ends. A Ctrl-C in the client's terminal reaches the
// whole process group; the client turns it into engine/cancel, so the engine must not die of it first.
if (!process.stdin.isTTY) process.on('SIGINT', () => log('SIGINT ignored: the client stops the engine by closing stdin'));

const engine = new Engine({ log });
const messenger = new NdjsonMessenger(process.stdin, process.stdout);
serveEngine(messenger, engine.handlers, log);
messenger.onClose(() => {
  void engine
    .dispose()
    .catch((err: Error) => log(`dispose failed: ${err.message}`))
    // Exit once what was written to stdout has been handed to the pipe.
    .finally(() => process.stdout.write('', () => process.exit(0)));
});
log('ready');
