/**
 * Team memory in the extension host (docs/team-memory.md): a bundle made by the CLI (as CI would), served by a
 * real loopback HTTP server, named by `famulus.teamMemory.source`; the extension fetches it, the engine checks
 * and adopts it and reads the local change, and the status bar says where the memory came from. A damaged
 * bundle is refused with its reason shown once, and the memory held stays.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { suite, suiteSetup, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import type { FamulusApi } from '../../extension/extension';
import { Commands, EXTENSION_ID } from '../../extension/ids';

const COMMIT = 'abc1234def567890abc1234def567890abc12345';

suite('Team memory in the extension host', () => {
  let api: FamulusApi;
  let root: string;
  let server: http.Server;
  let base: string;
  let bundle: Buffer;
  const extra = () => path.join(root, 'src', 'team-extra.ts');

  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension<FamulusApi>(EXTENSION_ID)!;
    api = await ext.activate();
    // The bundle's model: a bundle made with another model is refused (the suite before may have left another).
    await vscode.workspace.getConfiguration('famulus').update('modelPath', path.join(ext.extensionPath, 'test', 'fixtures', 'tiny'), vscode.ConfigurationTarget.Global);
    await vscode.workspace.getConfiguration('famulus').update('device', 'cpu', vscode.ConfigurationTarget.Global);
    root = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
    // CI: the workspace as committed, read by the CLI into a bundle.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'famulus-team-'));
    const ci = path.join(tmp, 'ci');
    fs.cpSync(root, ci, { recursive: true });
    const file = path.join(tmp, 'memory.famb');
    execFileSync(process.execPath, [
      path.join(ext.extensionPath, 'dist', 'cli.js'), 'ingest', ci, '--bundle', file, '--commit', COMMIT,
      '--memory', path.join(tmp, 'mem'), '--model', path.join(ext.extensionPath, 'test', 'fixtures', 'tiny'), '--device', 'cpu',
    ], { stdio: 'pipe', timeout: 120_000 });
    bundle = fs.readFileSync(file);
    server = http.createServer((req, res) => {
      if (req.url === '/famulus/good.famb') res.end(bundle);
      else if (req.url === '/famulus/damaged.famb') res.end(Buffer.concat([bundle.subarray(0, bundle.length - 100), Buffer.alloc(100)]));
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/famulus`;
    // The laptop's one local change.
    fs.writeFileSync(extra(), 'export const teamExtra = 1;\n');
  });

  suiteTeardown(async () => {
    server?.close();
    fs.rmSync(extra(), { force: true });
    await vscode.workspace.getConfiguration('famulus').update('teamMemory.source', undefined, vscode.ConfigurationTarget.Global);
  });

  test('fetches the bundle, applies the local change, and the status bar says where the memory came from', async () => {
    await vscode.workspace.getConfiguration('famulus').update('teamMemory.source', `${base}/good.famb`, vscode.ConfigurationTarget.Global);
    const outcome = await vscode.commands.executeCommand<string>(Commands.useTeamMemory);
    assert.equal(outcome, 'used', JSON.stringify(api.memoryStatus()));
    assert.equal(api.memoryStatus().phase, 'ready');
    assert.equal(api.memoryStatus().detail, 'memory from CI at abc1234 + 1 local change');
    assert.match(api.statusBarText(), /Famulus: ready · CPU · CI abc1234 \+1$/);
    assert.ok(api.stateFile() && fs.existsSync(api.stateFile()!), 'saved in the extension storage');
  });

  test('a damaged bundle is refused, its reason shown once, and the memory held stays', async () => {
    const before = api.memoryStatus();
    await vscode.workspace.getConfiguration('famulus').update('teamMemory.source', `${base}/damaged.famb`, vscode.ConfigurationTarget.Global);
    assert.equal(await vscode.commands.executeCommand<string>(Commands.useTeamMemory), 'failed');
    const notices = api.readNotices().filter((n) => n.includes('team memory was not used'));
    assert.equal(notices.length, 1);
    assert.match(notices[0]!, /checksum|truncated|bytes/);
    assert.equal(await vscode.commands.executeCommand<string>(Commands.useTeamMemory), 'failed');
    assert.equal(api.readNotices().filter((n) => n.includes('team memory was not used')).length, 1, 'told once');
    assert.equal(api.memoryStatus().files, before.files);
    assert.match(api.statusBarText(), /CI abc1234 \+1$/);
  });
});
