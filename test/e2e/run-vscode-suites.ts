/**
 * `npm test`'s last step: the extension-host suite and the end-to-end suite, both in code-server driven by
 * chromium. Without code-server, node 24 or chromium installed (see shared/design/vscode-testing.md; .ci/run
 * installs them) both are skipped with a message, unless FAMULUS_REQUIRE_VSCODE_TESTS=1 (set by .ci/run),
 * which makes the missing tools a failure.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { REPO, tools } from './code-server';

function run(what: string, args: string[]): number {
  const started = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: REPO, stdio: 'inherit' });
  const code = r.status ?? 1;
  console.log(`${what}: ${code === 0 ? 'passed' : `FAILED (exit ${code})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return code;
}

try {
  tools();
} catch (err) {
  const message = `extension-host and e2e suites not run: ${(err as Error).message}`;
  if (process.env.FAMULUS_REQUIRE_VSCODE_TESTS === '1') {
    console.error(message);
    process.exit(1);
  }
  console.log(`SKIPPED ${message}`);
  process.exit(0);
}

const tsx = ['--import', 'tsx'];
const ext = run('extension-host suite (code-server)', [...tsx, path.join('test', 'ext', 'run-in-code-server.ts')]);
const e2e = run('end-to-end suite (code-server + chromium)', [...tsx, '--test', '--test-reporter=spec', path.join('test', 'e2e', 'e2e.test.ts')]);
process.exit(ext !== 0 || e2e !== 0 ? 1 : 0);
