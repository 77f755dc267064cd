/**
 * The extension-host suite's entry: the standard `run()` that @vscode/test-electron and code-server's
 * smoke-test driver both call inside the extension host. Mocha (tdd ui) runs the suites bundled beside this
 * file; a failing test rejects, which the host turns into exit code 1.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 120_000, reporter: 'spec' });
  for (const f of fs.readdirSync(__dirname).filter((n) => n.endsWith('.test.js')).sort()) mocha.addFile(path.join(__dirname, f));
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} extension-host test(s) failed`)) : resolve()));
  });
}
