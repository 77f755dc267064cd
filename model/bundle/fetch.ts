/**
 * A bundle's bytes, from a path or a URL (./source.ts), bounded: at most `maxBytes` (a larger one is refused
 * before it is read: by its size on disk, by its Content-Length, or as its bytes pass the cap), within
 * `timeoutMs` from the first byte asked to the last received. Downloads use Node's own http/https and send one
 * GET with no cookies, no credentials and no proxy; redirects are followed (at most MAX_REDIRECTS) only to URLs
 * of the same scheme that the source rules allow. Every failure is a BundleError 'unavailable' (or 'too-large').
 */
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { ENGINE_VERSION } from '../state/state-file';
import { NotRegularFileError, readRegularFile } from '../state/file-io';
import { BundleError } from './format';
import { describeSource, urlProblem, type BundleSource } from './source';

export const MAX_REDIRECTS = 5;
/** A monorepo's bundle is tens of MB: two minutes is slow on any network that can carry it. */
export const DEFAULT_FETCH_TIMEOUT_MS = 120_000;

export interface FetchOptions {
  maxBytes: number;
  timeoutMs?: number;
  signal?: AbortSignal;
}

const MiB = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** The bytes of the bundle at `source`. */
export async function loadBundleBytes(source: BundleSource, opts: FetchOptions): Promise<Uint8Array> {
  return source.kind === 'file' ? readBundleFile(source.path, opts.maxBytes) : fetchBundle(source.url, opts);
}

async function readBundleFile(file: string, maxBytes: number): Promise<Uint8Array> {
  try {
    const { size } = await fs.stat(file);
    if (size > maxBytes) throw new BundleError('too-large', `bundle ${file}: ${MiB(size)}, more than the ${MiB(maxBytes)} a bundle may have; it is not used`);
    const bytes = await readRegularFile(file);
    if (bytes.length > maxBytes) throw new BundleError('too-large', `bundle ${file}: it grew past ${MiB(maxBytes)} while it was read; it is not used`);
    return bytes;
  } catch (e) {
    if (e instanceof BundleError) throw e;
    const why = e instanceof NotRegularFileError ? e.message : (e as NodeJS.ErrnoException).code === 'ENOENT' ? `no bundle at ${file}` : `${file}: ${(e as Error).message}`;
    throw new BundleError('unavailable', why);
  }
}

/** Downloads `url`: one GET per hop, redirects checked, the body capped, the whole within the time limit. */
export async function fetchBundle(url: URL, opts: FetchOptions): Promise<Uint8Array> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new BundleError('unavailable', `${describe(url)}: no complete answer within ${timeoutMs / 1000} s`)), timeoutMs);
  const onAbort = () => controller.abort(opts.signal?.reason);
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    let at = url;
    for (let hops = 0; ; hops++) {
      const reply = await get(at, opts.maxBytes, controller.signal);
      if (reply.kind === 'body') return reply.bytes;
      if (hops === MAX_REDIRECTS) throw new BundleError('unavailable', `${describe(url)}: more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(reply.location, at);
      const problem = next.protocol !== url.protocol ? `a redirect from ${url.protocol} to ${next.protocol} is not followed` : urlProblem(next);
      if (problem) throw new BundleError('unavailable', `${describe(at)} redirects to ${describe(next)}: ${problem}`);
      at = next;
    }
  } catch (e) {
    if (controller.signal.aborted && controller.signal.reason instanceof BundleError) throw controller.signal.reason;
    if (e instanceof BundleError || opts.signal?.aborted) throw e;
    throw new BundleError('unavailable', `${describe(url)}: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

const describe = (url: URL): string => describeSource({ kind: 'url', url });

type Reply = { kind: 'body'; bytes: Uint8Array } | { kind: 'redirect'; location: string };

function get(url: URL, maxBytes: number, signal: AbortSignal): Promise<Reply> {
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<Reply>((resolve, reject) => {
    const request = client.get(
      url,
      {
        // No agent: no pooled connection, no proxy; and nothing but what names the request.
        agent: false,
        signal,
        headers: { 'user-agent': `famulus/${ENGINE_VERSION}`, accept: 'application/octet-stream', 'accept-encoding': 'identity' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
          res.resume();
          resolve({ kind: 'redirect', location: res.headers.location });
          return;
        }
        if (status !== 200) {
          res.resume();
          const hint = status === 404 ? ' (no bundle was published there: CI may not have built this commit yet)' : '';
          reject(new BundleError('unavailable', `${describe(url)}: HTTP ${status}${hint}`));
          return;
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) {
          res.destroy();
          reject(new BundleError('too-large', `${describe(url)}: ${MiB(declared)}, more than the ${MiB(maxBytes)} a bundle may have; it is not downloaded`));
          return;
        }
        const chunks: Buffer[] = [];
        let received = 0;
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > maxBytes) {
            res.destroy();
            reject(new BundleError('too-large', `${describe(url)}: more than the ${MiB(maxBytes)} a bundle may have; the download was stopped`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          if (!res.complete) reject(new BundleError('unavailable', `${describe(url)}: the connection closed before the whole bundle came`));
          else resolve({ kind: 'body', bytes: new Uint8Array(Buffer.concat(chunks, received)) });
        });
        res.on('error', reject);
      },
    );
    request.on('error', reject);
  });
}
