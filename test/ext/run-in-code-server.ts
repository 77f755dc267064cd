/**
 * Runs the extension-host suite (out/test/ext/index.js) inside code-server's Node extension host, offline:
 * code-server with the smoke-test driver honours a `payload` that names the extension under development and
 * the tests; the workbench reports the result through window.codeAutomationExit (shared/design/vscode-testing.md).
 * Exits with the suite's code; extension-host console output is printed as it comes.
 */
import * as path from 'node:path';
import { format } from 'node:util';
import { REPO, copyWorkspace, launchBrowser, startCodeServer } from '../e2e/code-server';

async function main(): Promise<number> {
  const trusted = await runSuite('trusted');
  const untrusted = await runSuite('untrusted');
  return trusted !== 0 ? trusted : untrusted;
}

/** Runs the suite in a fresh code-server: 'untrusted' with workspace trust on, so the folder opens in Restricted Mode. */
async function runSuite(suite: 'trusted' | 'untrusted'): Promise<number> {
  const started = Date.now();
  const workspace = copyWorkspace(path.join(REPO, 'samples', 'demo-workspace'));
  const settings: Record<string, unknown> = {
    'famulus.readOnOpen': 'always',
    'famulus.device': 'cpu',
    'famulus.modelPath': path.join(REPO, 'test', 'fixtures', 'tiny'),
  };
  if (suite === 'trusted') settings['famulus.readOnOpen'] = 'never';
  else settings['security.workspace.trust.startupPrompt'] = 'never';
  const server = await startCodeServer({ smokeTestDriver: true, workspaceTrust: suite === 'untrusted', settings });
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    const remote = `vscode-remote://127.0.0.1:${server.port}`;
    const payload = [
      ['extensionDevelopmentPath', `${remote}${REPO}`],
      ['extensionTestsPath', `${remote}${path.join(REPO, 'out', 'test', 'ext', 'index.js')}`],
      ['extensionEnvironment', JSON.stringify({ FAMULUS_TEST_WORKSPACE: workspace, FAMULUS_EXT_SUITE: suite })],
    ];
    const code = new Promise<number>((resolve) => {
      void page.exposeFunction('codeAutomationExit', (c: number) => resolve(c));
    });
    await page.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => {
      const line = format(...(Array.isArray(args) ? args : [args]));
      if (/ENOTFOUND|open-vsx|AgentHost|Canceled/.test(line)) return;
      process.stdout.write(`${type === 'error' ? '[host error] ' : ''}${line}\n`);
    });
    const url = `${server.url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    await page.goto(url);
    const timeout = new Promise<number>((resolve) => setTimeout(() => resolve(124), 8 * 60_000));
    const result = await Promise.race([code, timeout]);
    console.log(`extension-host suite (${suite}): exit ${result} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (result !== 0) console.log(`--- code-server log (tail) ---\n${server.log().slice(-4000)}`);
    return result;
  } finally {
    await browser.close();
    await server.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`extension-host suite could not run: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
