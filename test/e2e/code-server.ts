/**
 * A real VS Code for tests, offline: code-server (VS Code 1.139 server + web workbench, Node extension host)
 * driven by playwright-core with Debian's chromium. The recipe is shared/design/vscode-testing.md; .ci/run
 * installs both. Used by the extension-host suite (test/ext/run-in-code-server.ts) and the e2e tests.
 *
 * Where things are found (override with env):
 *   FAMULUS_CODE_SERVER  the code-server launcher   (default: .tools/code-server/bin/code-server, then /opt/famulus-tools/cs/bin/code-server)
 *   FAMULUS_NODE24       node 24 for code-server     (default: .tools/node24/bin/node, then /opt/famulus-tools/node24/bin/node)
 *   FAMULUS_CHROMIUM     the browser                (default: /usr/bin/chromium)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const REPO = path.resolve(__dirname, '..', '..');
/** Where the e2e screenshots go (cleared when the e2e suite starts). */
export const ARTIFACTS = path.join(REPO, 'test', 'artifacts', 'e2e');

function firstExisting(candidates: (string | undefined)[], what: string): string {
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  throw new Error(`${what} not found (looked at ${candidates.filter(Boolean).join(', ')}); see shared/design/vscode-testing.md or run .ci/run`);
}

export function tools(): { codeServer: string; node24: string; chromium: string } {
  return {
    codeServer: firstExisting(
      [process.env.FAMULUS_CODE_SERVER, path.join(REPO, '.tools/code-server/bin/code-server'), '/opt/famulus-tools/cs/bin/code-server'],
      'code-server',
    ),
    node24: firstExisting([process.env.FAMULUS_NODE24, path.join(REPO, '.tools/node24/bin/node'), '/opt/famulus-tools/node24/bin/node'], 'node 24'),
    chromium: firstExisting([process.env.FAMULUS_CHROMIUM, '/usr/bin/chromium'], 'chromium'),
  };
}

/** True when everything the code-server tests need is installed. */
export function toolsAvailable(): boolean {
  try {
    tools();
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export interface CodeServerOptions {
  /** Honour the `payload` query parameter (extension-host tests). Toasts are suppressed in this mode. */
  smokeTestDriver?: boolean;
  /** User settings on top of the quiet defaults. */
  settings?: Record<string, unknown>;
  /** Start without --disable-workspace-trust. */
  workspaceTrust?: boolean;
  /** Reuse a profile folder (to test a reload with the same storage). */
  home?: string;
}

export interface CodeServer {
  url: string;
  port: number;
  home: string;
  extensionsDir: string;
  stop(): Promise<void>;
  log(): string;
}

/** Makes a throwaway profile (user data, extensions, XDG folders) under `home`. */
export function makeProfile(home: string, settings: Record<string, unknown> = {}): { userData: string; extensionsDir: string; env: NodeJS.ProcessEnv } {
  const userData = path.join(home, 'user-data');
  const extensionsDir = path.join(home, 'extensions');
  for (const d of [userData, extensionsDir, path.join(home, 'config'), path.join(home, 'data'), path.join(home, 'cache'), path.join(userData, 'User')]) {
    fs.mkdirSync(d, { recursive: true });
  }
  const quiet = {
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoUpdate': false,
    'extensions.autoCheckUpdates': false,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'chat.disableAIFeatures': true,
    'security.workspace.trust.enabled': true,
    'window.commandCenter': false,
  };
  fs.writeFileSync(path.join(userData, 'User', 'settings.json'), JSON.stringify({ ...quiet, ...settings }, null, 2));
  // code-server's extension host is "remote": machine-scoped settings (famulus.modelPath, famulus.device) are read
  // from the server's Machine settings only.
  fs.mkdirSync(path.join(userData, 'Machine'), { recursive: true });
  fs.writeFileSync(path.join(userData, 'Machine', 'settings.json'), JSON.stringify(settings, null, 2));
  const env = {
    ...process.env,
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_DATA_HOME: path.join(home, 'data'),
    XDG_CACHE_HOME: path.join(home, 'cache'),
  };
  return { userData, extensionsDir, env };
}

/** Installs a .vsix into a profile's extensions folder with code-server's own installer. */
export function installVsix(home: string, vsix: string): void {
  const t = tools();
  const { userData, extensionsDir, env } = makeProfile(home);
  const r = spawnSync(t.codeServer, ['--extensions-dir', extensionsDir, '--user-data-dir', userData, '--install-extension', vsix, '--force'], {
    env: { ...env, PATH: `${path.dirname(t.node24)}:${process.env.PATH}` },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`installing ${vsix} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

export async function startCodeServer(options: CodeServerOptions = {}): Promise<CodeServer> {
  const t = tools();
  const home = options.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'famulus-cs-'));
  const { userData, extensionsDir, env } = makeProfile(home, options.settings);
  const port = await freePort();
  const args = [
    '--bind-addr', `127.0.0.1:${port}`,
    '--auth', 'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--extensions-dir', extensionsDir,
    '--user-data-dir', userData,
  ];
  if (!options.workspaceTrust) args.push('--disable-workspace-trust');
  if (options.smokeTestDriver) args.push('--vscode-option', 'enable-smoke-test-driver');
  let output = '';
  const child: ChildProcess = spawn(t.codeServer, args, {
    env: { ...env, PATH: `${path.dirname(t.node24)}:${process.env.PATH}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-200_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`code-server exited with ${child.exitCode}:\n${output}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`code-server did not answer /healthz within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    port,
    home,
    extensionsDir,
    log: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: tools().chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
}

/** Copies a folder (the demo workspace) to a fresh temporary folder and returns the copy's path. */
export function copyWorkspace(src: string, prefix = 'famulus-ws-'): string {
  const dest = path.join(fs.mkdtempSync(path.join(os.tmpdir(), prefix)), path.basename(src));
  fs.cpSync(src, dest, { recursive: true });
  return dest;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}
