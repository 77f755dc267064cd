/**
 * Runs the extension-host suite in a downloaded VS Code with @vscode/test-electron, for machines that can
 * download one (`npx tsx test/ext/runTest.ts`). Offline (and in `npm test`), test/ext/run-in-code-server.ts
 * runs the same suite in code-server instead.
 */
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { REPO, copyWorkspace } from '../e2e/code-server';

async function main(): Promise<void> {
  const workspace = copyWorkspace(path.join(REPO, 'samples', 'demo-workspace'));
  await runTests({
    extensionDevelopmentPath: REPO,
    extensionTestsPath: path.join(REPO, 'out', 'test', 'ext', 'index.js'),
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
    extensionTestsEnv: { FAMULUS_TEST_WORKSPACE: workspace },
  });
}

main().catch((err: Error) => {
  console.error(`extension tests failed: ${err.message}`);
  process.exit(1);
});
