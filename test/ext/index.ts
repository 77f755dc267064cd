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
  // untrusted.test.js needs a window in Restricted Mode; the other suites need a trusted one.
  const untrusted = process.env.FAMULUS_EXT_SUITE === 'untrusted';
  const files = fs.readdirSync(__dirname).filter((n) => n.endsWith('.test.js') && (n === 'untrusted.test.js') === untrusted);
  for (const f of files.sort()) mocha.addFile(path.join(__dirname, f));
  return new Promise((resolve, reject) => {
    mocha.run((failures) => (failures > 0 ? reject(new Error(`${failures} extension-host test(s) failed`)) : resolve()));
  });
}
