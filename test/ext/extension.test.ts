/**
 * Extension-host tests: the real extension in a real VS Code (code-server's Node extension host, or VS Code
 * desktop through @vscode/test-electron), the real engine process and the tiny test model, on a copy of
 * samples/demo-workspace. Assertions are about behaviour (streaming, stop, memory saved and restored,
 * citations, restart after a crash), never about what the random model says.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite, suiteSetup, test } from 'mocha';
import * as vscode from 'vscode';
import type { AskOutcome } from '../../extension/chat';
import type { FamulusApi } from '../../extension/extension';
import { Commands, EXTENSION_ID } from '../../extension/ids';
import type { SummaryOutcome } from '../../extension/summary-panel';
import type { WorkspaceResult } from '../../model/engine/protocol';

let api: FamulusApi;
let root: string;

async function until(what: string, check: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; memory: ${JSON.stringify(api.memoryStatus())}, engine pid ${api.enginePid()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function setSetting(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration('famulus').update(key, value, vscode.ConfigurationTarget.Global);
}

suite('Famulus in the extension host', () => {
  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension<FamulusApi>(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is installed`);
    // The tiny test model, whatever the default model is: fast and the same on every machine.
    await setSetting('modelPath', path.join(ext.extensionPath, 'test', 'fixtures', 'tiny'));
    await setSetting('device', 'cpu');
    api = await ext.activate();
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'a workspace folder is open');
    root = folder.uri.fsPath;
  });

  test('activates and registers every command of ids.ts', async () => {
    const all = new Set(await vscode.commands.getCommands(true));
    for (const id of Object.values(Commands)) assert.ok(all.has(id), `${id} is registered`);
    assert.ok(all.has('famulus.chat.focus'), 'the chat view is contributed');
    // The folder opens in the engine as the extension activates (readOnOpen is 'never': nothing is read).
    await until('the engine to open the folder', () => api.memoryStatus().phase !== 'starting');
    assert.equal(api.memoryStatus().phase, 'empty');
    assert.match(api.statusBarText(), /Famulus: idle/);
  });

  test('reads the workspace into memory and saves it in the extension storage', async () => {
    const result = await vscode.commands.executeCommand<WorkspaceResult>(Commands.readWorkspace);
    assert.ok(result, 'the command returned the workspace result');
    assert.equal(result.cancelled, false);
    assert.equal(result.root, root);
    assert.ok(result.read && result.read.filesIngested >= 5, `read ${result.read?.filesIngested} files`);
    assert.ok(result.read.tokensIngested > 100);
    assert.ok(result.saved && result.saved.bytes > 0, 'the engine saved the memory');
    const status = api.memoryStatus();
    assert.equal(status.phase, 'ready');
    assert.equal(status.files, result.state!.files);
    assert.match(status.device, /^cpu/);
    const stateFile = api.stateFile();
    assert.ok(stateFile && fs.existsSync(stateFile), `state saved at ${stateFile}`);
    assert.equal(path.dirname(stateFile), result.memoryDir, 'in the memory folder the engine was given');
    assert.ok(!stateFile.startsWith(root), 'the memory lives in the extension storage, not in the workspace');
    assert.match(api.statusBarText(), /ready · cpu/);
  });

  test('asks from the command (palette) and streams the answer into the conversation', async () => {
    const before = api.conversation().length;
    // A question the model answers (a "where is X defined?" one is answered from the index alone).
    const outcome = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'How are failed jobs retried?');
    assert.ok(outcome);
    assert.equal(outcome.status, 'done', outcome.error ?? '');
    assert.ok(outcome.result && outcome.result.tokens > 0, 'tokens were generated');
    const conv = api.conversation();
    assert.equal(conv.length, before + 2);
    assert.equal(conv[conv.length - 2]!.text, 'How are failed jobs retried?');
    assert.equal(conv[conv.length - 1]!.text, outcome.answer);
    assert.equal(conv[conv.length - 1]!.status, 'done');
  });

  test('an answer carries its sources and checked citations, and the conversation keeps them', async () => {
    const outcome = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'Where is `retryWithBackoff` defined?');
    assert.equal(outcome?.status, 'done', outcome?.error ?? '');
    const grounding = outcome.result!.grounding;
    // The location comes from the workspace index, so it is right whatever the (random) test model says.
    assert.deepEqual(grounding.sources[0], { path: 'src/queue.ts', startLine: 18, endLine: 21, reason: 'definition', definition: 'retryWithBackoff' });
    assert.match(outcome.answer, /src\/queue\.ts:18\b/);
    assert.deepEqual(
      grounding.citations.find((c) => c.text === 'src/queue.ts:18'),
      { text: 'src/queue.ts:18', path: 'src/queue.ts', line: 18, verified: true, note: 'function retryWithBackoff' },
    );
    assert.equal(grounding.nothingFound, false);
    const entry = api.conversation()[api.conversation().length - 1]!;
    assert.deepEqual(entry.grounding, { sources: grounding.sources, citations: grounding.citations, nothingFound: false });
  });

  test('an answer for which no code matched says so and lists no sources', async () => {
    const outcome = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'Hello?');
    assert.equal(outcome?.status, 'done', outcome?.error ?? '');
    assert.equal(outcome.result!.grounding.nothingFound, true);
    assert.deepEqual(outcome.result!.grounding.sources, []);
    assert.equal(api.conversation()[api.conversation().length - 1]!.grounding?.nothingFound, true);
  });

  test('stops an answer while it streams (Stop cancels the request)', async () => {
    await setSetting('answerLength', 4096);
    try {
      const pending = vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'Summarize src/queue.ts');
      await until('the first streamed text', () => {
        const last = api.conversation()[api.conversation().length - 1];
        return last?.role === 'assistant' && last.status === 'streaming' && last.text.length > 0;
      });
      const stopped = await vscode.commands.executeCommand<boolean>(Commands.stop);
      assert.equal(stopped, true);
      const outcome = await pending;
      assert.ok(outcome);
      assert.equal(outcome.status, 'cancelled');
      assert.ok(!outcome.result || outcome.result.tokens < 4096, 'stopped before the limit');
    } finally {
      await setSetting('answerLength', undefined);
    }
  });

  test('queues questions: two asked at once are both answered, in order', async () => {
    const a = vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'What does `push` do?');
    const b = vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'What does `size` do?');
    const [ra, rb] = await Promise.all([a, b]);
    assert.equal(ra?.status, 'done');
    assert.equal(rb?.status, 'done');
  });

  test('summarises a file into the summary panel', async () => {
    const file = vscode.Uri.file(path.join(root, 'src', 'queue.ts'));
    const outcome = await vscode.commands.executeCommand<SummaryOutcome>(Commands.summarizeFile, file);
    assert.ok(outcome);
    assert.equal(outcome.status, 'done');
    assert.equal(outcome.file, 'src/queue.ts');
    assert.equal(api.summaryText(), outcome.text);
    // Its sources: the file itself, whole or as its outline, re-read for the summary.
    const sources = outcome.result?.grounding.sources ?? [];
    assert.ok(sources.length > 0, 'the summary lists what it was based on');
    for (const s of sources) assert.equal(s.path, 'src/queue.ts');
  });

  test('opens a citation at its line, and refuses paths outside the workspace', async () => {
    assert.equal(await api.openCitation('src/queue.ts', 3), true);
    const editor = vscode.window.activeTextEditor;
    assert.ok(editor);
    assert.equal(editor.document.uri.fsPath, path.join(root, 'src', 'queue.ts'));
    assert.equal(editor.selection.active.line, 2);
    assert.equal(await api.openCitation('../../etc/passwd', 1), false);
    assert.equal(await api.openCitation('/etc/passwd', 1), false);
    assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, path.join(root, 'src', 'queue.ts'));
  });

  test('restarts the engine after a crash and restores the saved memory', async () => {
    const pid = api.enginePid();
    assert.ok(pid && pid > 0, 'the engine runs');
    const files = api.memoryStatus().files;
    process.kill(pid, 'SIGKILL');
    await until('the crash to be seen', () => api.enginePid() !== pid);
    await until('the engine to restart with the memory', () => api.enginePid() !== null && api.memoryStatus().phase === 'ready');
    assert.notEqual(api.enginePid(), pid);
    assert.equal(api.memoryStatus().files, files);
    const outcome = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'Where is `drain` defined?');
    assert.equal(outcome?.status, 'done');
  });

  test('updates the memory when a file changes', async () => {
    const before = api.memoryStatus();
    fs.writeFileSync(path.join(root, 'zz-notes.md'), '# Notes\n\nAdded while Famulus watched.\n');
    await until('the memory to take the new file', () => api.memoryStatus().files === before.files + 1 && api.memoryStatus().phase === 'ready', 30_000);
    assert.ok(api.memoryStatus().tokens > before.tokens);
  });

  test('shows the memory status (files, tokens, model, device, last update)', async () => {
    const view = await vscode.commands.executeCommand<import('../../webview/protocol').MemoryView>(Commands.showStatus, { quiet: true });
    assert.ok(view);
    assert.equal(view.phase, 'ready');
    assert.ok(view.files > 0 && view.tokens > 0);
    assert.match(view.model, /^tiny [0-9a-f]{8}$/);
    assert.match(view.device, /^cpu \(/);
    assert.ok(!Number.isNaN(Date.parse(view.lastUpdate)));
  });

  test('selecting a device restarts the engine with it and brings the memory back', async () => {
    const pid = api.enginePid();
    const files = api.memoryStatus().files;
    try {
      assert.equal(await vscode.commands.executeCommand(Commands.selectDevice, 'auto'), 'auto');
      assert.equal(vscode.workspace.getConfiguration('famulus').get('device'), 'auto');
      await until('the engine to stop', () => api.enginePid() !== pid);
      const outcome = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'Where is `lease` defined?');
      assert.equal(outcome?.status, 'done');
      assert.notEqual(api.enginePid(), pid);
      assert.equal(api.memoryStatus().files, files);
      // No GPU adapter here: auto falls back to the CPU and says why.
      if (api.memoryStatus().device.startsWith('cpu')) assert.match(api.memoryStatus().detail, /WebGPU skipped/);
    } finally {
      await vscode.commands.executeCommand(Commands.selectDevice, 'cpu');
    }
  });

  test('selecting a model folder sets the machine setting and the engine reloads with it', async () => {
    const tiny = vscode.workspace.getConfiguration('famulus').get<string>('modelPath')!;
    const pid = api.enginePid();
    assert.equal(await vscode.commands.executeCommand(Commands.selectModel, tiny), tiny);
    const inspected = vscode.workspace.getConfiguration('famulus').inspect<string>('modelPath');
    assert.equal(inspected?.globalValue, tiny, 'written to the user (machine) settings, never to the workspace');
    assert.equal(inspected?.workspaceValue, undefined);
    // The same folder: the engine may keep running; a request still answers from the memory.
    const outcome = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'Where is `lease` defined?');
    assert.equal(outcome?.status, 'done');
    assert.ok(api.enginePid() !== null && (api.enginePid() === pid || api.memoryStatus().phase === 'ready'));
  });

  test('forgets the memory: the saved state is deleted without restarting the engine, and questions say what to do', async () => {
    const stateFile = api.stateFile()!;
    assert.ok(fs.existsSync(stateFile));
    const pid = api.enginePid();
    const ok = await vscode.commands.executeCommand<boolean>(Commands.forgetMemory, { confirm: false });
    assert.equal(ok, true);
    assert.equal(fs.existsSync(stateFile), false);
    assert.equal(api.enginePid(), pid, 'the same engine process');
    assert.equal(api.memoryStatus().phase, 'empty');
    assert.equal(api.memoryStatus().files, 0);
    const outcome = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'Anything?');
    assert.equal(outcome?.status, 'error');
    assert.match(outcome?.error ?? '', /Read Workspace into Memory/);
  });
});
