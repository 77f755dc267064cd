/**
 * Preloaded (NODE_OPTIONS=--require) into the engine and the CLI by the security suite: every way Node offers
 * to reach the network throws, and each attempt is appended to $FAMULUS_NET_LOG (one JSON line: pid, api,
 * arguments, stack) so the test sees attempts even where the caller swallowed the error. Patched: net.connect /
 * createConnection / Socket#connect (TCP and unix-socket paths alike), net.createServer / Server#listen,
 * tls.connect, http/https request/get, dgram.createSocket, every dns lookup and resolve function, fetch and
 * WebSocket. Inherited stdio pipes (what the CLI and the engine speak over) are made by libuv, not by these
 * calls, and keep working.
 */
'use strict';
const fs = require('node:fs');

const logFile = process.env.FAMULUS_NET_LOG;
function record(api, args) {
  const line = JSON.stringify({ pid: process.pid, api, args: args.map((a) => { try { return typeof a === 'function' ? 'fn' : JSON.stringify(a)?.slice(0, 200); } catch { return String(a); } }), stack: new Error().stack.split('\n').slice(2, 8).join('\n') });
  if (logFile) fs.appendFileSync(logFile, `${line}\n`);
  const err = new Error(`network access blocked in this test: ${api}`);
  err.code = 'EFAMULUSNONET';
  throw err;
}
function block(mod, name, label) {
  const target = require(mod);
  if (typeof target[name] !== 'function') return;
  target[name] = function blocked(...args) { return record(label || `${mod}.${name}`, args); };
}

for (const name of ['connect', 'createConnection', 'createServer']) block('node:net', name);
const net = require('node:net');
net.Socket.prototype.connect = function blocked(...args) { return record('net.Socket#connect', args); };
net.Server.prototype.listen = function blocked(...args) { return record('net.Server#listen', args); };
for (const name of ['connect', 'createServer']) block('node:tls', name);
for (const mod of ['node:http', 'node:https', 'node:http2']) for (const name of ['request', 'get', 'createServer', 'connect']) block(mod, name);
block('node:dgram', 'createSocket');
const dns = require('node:dns');
for (const name of Object.keys(dns)) if (/^(lookup|resolve)/.test(name) && typeof dns[name] === 'function') block('node:dns', name);
for (const name of Object.keys(dns.promises)) if (/^(lookup|resolve)/.test(name)) dns.promises[name] = (...args) => record(`dns.promises.${name}`, args);
if (typeof globalThis.fetch === 'function') globalThis.fetch = (...args) => Promise.resolve().then(() => record('fetch', args));
if (typeof globalThis.WebSocket === 'function') globalThis.WebSocket = function blocked(...args) { return record('WebSocket', args); };
