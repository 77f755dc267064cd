/**
 * Team memory in the extension host (docs/team-memory.md): a bundle made by the CLI (as CI would), served by a
 * real loopback HTTP server, named by `famulus.teamMemory.source`; the extension fetches it, the engine checks
 * and adopts it and reads the local change, and the status bar says where the memory came from. A damaged
 * bundle is refused with its reason shown once, and the memory held stays. `${commit}` in the source is the
 * HEAD commit of the folder's git repository as VS Code's built-in git extension reports it: the folder is
 * made a real repository here, with git itself.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { suite, suiteSetup, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import type { FamulusApi } from '../../extension/extension';
import { Commands, EXTENSION_ID } from '../../extension/ids';
import { ciBundle, serveBundles, type BundleServer } from '../e2e/team-bundles';

const COMMIT = 'abc1234def567890abc1234def567890abc12345';
const NO_COMMIT = 'names ${commit}, and the workspace has no git commit';

suite('Team memory in the extension host', () => {
  let api: FamulusApi;
  let root: string;
  let cli: string;
  let model: string;
  let server: BundleServer;
  const bundles = new Map<string, Buffer>();
  const extra = () => path.join(root, 'src', 'team-extra.ts');
  const uncommitted = () => path.join(root, 'src', 'team-uncommitted.ts');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: 'pipe' }).trim();
  const useTeamMemory = () => vscode.commands.executeCommand<string>(Commands.useTeamMemory);
  /** Sets a famulus.* setting (undefined: its default); this extension host may see it a moment after `update` resolves. */
  async function setSetting<T>(key: string, value: T | undefined): Promise<void> {
    const config = () => vscode.workspace.getConfiguration('famulus', vscode.Uri.file(root));
    await config().update(key, value, vscode.ConfigurationTarget.Global);
    const expected = value ?? config().inspect<T>(key)?.defaultValue;
    const deadline = Date.now() + 10_000;
    while (config().get<T>(key) !== expected) {
      if (Date.now() > deadline) throw new Error(`famulus.${key} is not ${String(expected)} after 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const setSource = (source: string | undefined) => setSetting('teamMemory.source', source);
  const notices = (text = '') => api.readNotices().filter((n) => n.includes('team memory was not used') && n.includes(text));

  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension<FamulusApi>(EXTENSION_ID)!;
    api = await ext.activate();
    cli = path.join(ext.extensionPath, 'dist', 'cli.js');
    model = path.join(ext.extensionPath, 'test', 'fixtures', 'tiny');
    // The bundle's model: a bundle made with another model is refused (the suite before may have left another).
    await vscode.workspace.getConfiguration('famulus').update('modelPath', model, vscode.ConfigurationTarget.Global);
    await vscode.workspace.getConfiguration('famulus').update('device', 'cpu', vscode.ConfigurationTarget.Global);
    root = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
    // The laptop's changes are read by the import alone: an update on a file change would race it.
    await setSetting('updateOnChange', false);
    // CI: the workspace as committed, read by the CLI into a bundle.
    const checkout = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'famulus-team-')), 'ci');
    fs.cpSync(root, checkout, { recursive: true });
    const bundle = await ciBundle({ cli, checkout, model, commit: COMMIT });
    bundles.set('/famulus/good.famb', bundle);
    bundles.set('/famulus/damaged.famb', Buffer.concat([bundle.subarray(0, bundle.length - 100), Buffer.alloc(100)]));
    server = await serveBundles(bundles);
    // The laptop's one local change.
    fs.writeFileSync(extra(), 'export const teamExtra = 1;\n');
  });

  suiteTeardown(async () => {
    await server?.close();
    for (const p of [extra(), uncommitted(), path.join(root, '.git')]) fs.rmSync(p, { recursive: true, force: true });
    await setSource(undefined);
    await setSetting('updateOnChange', undefined);
  });

  test('fetches the bundle, applies the local change, and the status bar says where the memory came from', async () => {
    await setSource(`${server.origin}/famulus/good.famb`);
    const outcome = await useTeamMemory();
    assert.equal(outcome, 'used', JSON.stringify(api.memoryStatus()));
    assert.equal(api.memoryStatus().phase, 'ready');
    assert.equal(api.memoryStatus().detail, 'memory from CI at abc1234 + 1 local change');
    assert.match(api.statusBarText(), /Famulus: ready · CPU · CI abc1234 \+1$/);
    assert.ok(api.stateFile() && fs.existsSync(api.stateFile()!), 'saved in the extension storage');
  });

  test('a damaged bundle is refused, its reason shown once, and the memory held stays', async () => {
    const before = api.memoryStatus();
    await setSource(`${server.origin}/famulus/damaged.famb`);
    assert.equal(await useTeamMemory(), 'failed');
    const told = notices();
    assert.equal(told.length, 1);
    assert.match(told[0]!, /checksum|truncated|bytes/);
    assert.equal(await useTeamMemory(), 'failed');
    assert.equal(notices().length, 1, 'told once');
    assert.equal(api.memoryStatus().files, before.files);
    assert.match(api.statusBarText(), /CI abc1234 \+1$/);
  });

  test('${commit} in a folder that is no git repository, then in one with no commit yet: refused with that reason, nothing fetched', async () => {
    const before = api.memoryStatus();
    const asked = server.requests.length;
    await setSource(`${server.origin}/\${commit}/x.famb`);
    assert.equal(await useTeamMemory(), 'failed');
    assert.equal(notices(NO_COMMIT).length, 1, api.readNotices().join('\n'));
    git('init', '-q');
    assert.equal(await useTeamMemory(), 'failed');
    assert.equal(notices(NO_COMMIT).length, 1, 'the same reason, told once');
    assert.equal(server.requests.length, asked, 'nothing was asked of the server');
    assert.equal(api.memoryStatus().files, before.files);
    assert.match(api.statusBarText(), /CI abc1234 \+1$/);
  });

  test('${commit} is the HEAD commit that the git extension reports: the bundle CI made at that commit is fetched and used', async () => {
    assert.ok(vscode.extensions.getExtension('vscode.git'), "VS Code's built-in git extension is installed");
    git('config', 'user.name', 'Famulus Test');
    git('config', 'user.email', 'test@famulus.invalid');
    git('config', 'commit.gpgsign', 'false');
    git('add', '-A');
    git('commit', '-q', '-m', 'the commit CI reads');
    const head = git('rev-parse', 'HEAD');
    // CI: a clone at that commit, read by the CLI, which records the clone's git HEAD in the bundle.
    const checkout = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'famulus-team-')), 'ci');
    git('clone', '-q', root, checkout);
    bundles.set(`/${head}/x.famb`, await ciBundle({ cli, checkout, model }));
    // The laptop: one file that is not committed.
    fs.writeFileSync(uncommitted(), 'export const notCommitted = 1;\n');
    await setSource(`${server.origin}/\${commit}/x.famb`);
    const asked = server.requests.length;
    const outcome = await useTeamMemory();
    assert.deepEqual(server.requests.slice(asked), [`/${head}/x.famb`]);
    assert.equal(outcome, 'used', `${JSON.stringify(api.memoryStatus())}\n${api.readNotices().join('\n')}`);
    assert.equal(vscode.extensions.getExtension('vscode.git')!.isActive, true, 'the git extension answered');
    assert.equal(api.memoryStatus().detail, `memory from CI at ${head.slice(0, 7)} + 1 local change`);
    assert.match(api.statusBarText(), new RegExp(`Famulus: ready · CPU · CI ${head.slice(0, 7)} \\+1$`));
  });

  test('${commit} is HEAD as it is now: a commit made a moment ago is asked for, and one CI has not built is reported', async () => {
    const before = api.statusBarText();
    git('add', '-A');
    git('commit', '-q', '-m', 'a commit CI has not read');
    const head = git('rev-parse', 'HEAD');
    const asked = server.requests.length;
    assert.equal(await useTeamMemory(), 'failed');
    assert.deepEqual(server.requests.slice(asked), [`/${head}/x.famb`]);
    const told = notices(`/${head}/x.famb`);
    assert.equal(told.length, 1, api.readNotices().join('\n'));
    assert.match(told[0]!, /HTTP 404 \(no bundle was published there: CI may not have built this commit yet\)/);
    assert.equal(api.statusBarText(), before, 'the memory held stays');
  });
});
