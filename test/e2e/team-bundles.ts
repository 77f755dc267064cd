/**
 * Team memory for the tests that use it in a real VS Code (test/ext/team-memory.test.ts, test/e2e/e2e.test.ts):
 * a bundle made the way a CI job makes one (`famulus ingest <checkout> --bundle`, docs/team-memory.md), and a
 * real HTTP server on loopback that serves bundles and records what was asked of it. Node only: the
 * extension-host suite bundles this module, so it imports neither vscode nor playwright.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

export interface CiBundleOptions {
  /** The CLI to run (dist/cli.js of the build under test). */
  cli: string;
  /** The folder CI reads: a copy or a clone of the workspace as committed. */
  checkout: string;
  /** The model folder; the extension refuses a bundle made with another model. */
  model: string;
  /** The commit the bundle records (the CLI takes the checkout's git HEAD without it). */
  commit?: string;
}

/** The bytes of the bundle CI makes of `checkout` on the CPU (run as a child process: the caller's loop stays free). */
export async function ciBundle({ cli, checkout, model, commit }: CiBundleOptions): Promise<Buffer> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-ci-'));
  const file = path.join(tmp, 'memory.famb');
  const args = [cli, 'ingest', checkout, '--bundle', file, '--memory', path.join(tmp, 'memory'), '--model', model, '--device', 'cpu'];
  if (commit) args.push('--commit', commit);
  await promisify(execFile)(process.execPath, args, { timeout: 120_000 });
  const bytes = await fs.readFile(file);
  await fs.rm(tmp, { recursive: true, force: true });
  return bytes;
}

export interface BundleServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** The path of every request, in arrival order. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves `bundles` (URL path → bytes; filled in at any time) on a free loopback port; anything else is a 404. */
export async function serveBundles(bundles: ReadonlyMap<string, Buffer>): Promise<BundleServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    requests.push(url);
    const bytes = bundles.get(url);
    if (bytes) res.end(bytes);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
