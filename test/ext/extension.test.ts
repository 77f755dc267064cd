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
import { answerMarkdown, codeBlocks } from '../../webview/answer-text';
import type { ChatEntry } from '../../webview/protocol';

let api: FamulusApi;
let root: string;

async function until(what: string, check: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; memory: ${JSON.stringify(api.memoryStatus())}, engine pid ${api.enginePid()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function entry(id: string): ChatEntry {
  const found = api.conversation().find((e) => e.id === id);
  assert.ok(found, `entry ${id} is in the conversation`);
  return found;
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
    assert.equal(status.device, 'CPU');
    const stateFile = api.stateFile();
    assert.ok(stateFile && fs.existsSync(stateFile), `state saved at ${stateFile}`);
    assert.equal(path.dirname(stateFile), result.memoryDir, 'in the memory folder the engine was given');
    assert.ok(!stateFile.startsWith(root), 'the memory lives in the extension storage, not in the workspace');
    assert.match(api.statusBarText(), /ready · CPU/);
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
    // The model by its name and the device in a word; the id and the adapter only in the tooltip's text.
    assert.equal(view.model, 'tiny');
    assert.equal(view.device, 'CPU');
    assert.match(view.about, /^Model: .*tiny \(id [0-9a-f]{12}, \d+ layers, width \d+\)\nDevice: cpu, /);
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
      // No GPU adapter here: auto runs on the CPU; why is in the tooltip's text, not on a line of the header.
      if (api.memoryStatus().device === 'CPU') {
        assert.match(api.memoryStatus().about, /WebGPU not used: Failed to get a WebGPU adapter/);
        assert.equal(api.memoryStatus().detail, '');
      }
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

  test('an answer cut off at its token limit says so, and Continue goes on from where it stopped, in place', async () => {
    await setSetting('answerLength', 8);
    try {
      const first = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'How are failed jobs retried?');
      assert.equal(first?.status, 'done', first?.error ?? '');
      assert.equal(first.result?.stopReason, 'max-tokens');
      const cut = entry(first.entryId);
      assert.equal(cut.cutOff, 8);
      assert.deepEqual(cut.sampling, { maxNewTokens: 8, temperature: 0, repetitionPenalty: 1.1, seed: 0 });
      const length = api.conversation().length;
      const more = (await api.chatMessage({ type: 'answer/continue', id: first.entryId })) as AskOutcome;
      assert.equal(more.status, 'done', more.error ?? '');
      assert.equal(more.entryId, first.entryId, 'the same entry');
      assert.equal(api.conversation().length, length, 'no new entry');
      // The same question, sampling and memory: the answer starts as the cut-off one did and goes further.
      assert.ok(more.answer.startsWith(first.answer) && more.answer.length > first.answer.length, `${JSON.stringify(first.answer)} → ${JSON.stringify(more.answer)}`);
      assert.equal(more.result?.tokens, 16);
      assert.equal(entry(first.entryId).sampling?.maxNewTokens, 16);
      assert.equal(entry(first.entryId).cutOff, more.result?.stopReason === 'max-tokens' ? 16 : undefined);
    } finally {
      await setSetting('answerLength', undefined);
    }
  });

  test('Regenerate asks again, sampled, and replaces the answer in place', async () => {
    const first = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'How is a job leased?');
    assert.equal(first?.status, 'done', first?.error ?? '');
    const length = api.conversation().length;
    const again = (await api.chatMessage({ type: 'answer/regenerate', id: first.entryId })) as AskOutcome;
    assert.equal(again.status, 'done', again.error ?? '');
    assert.equal(again.entryId, first.entryId);
    assert.equal(api.conversation().length, length);
    const regenerated = entry(first.entryId);
    assert.equal(regenerated.text, again.answer);
    // At temperature 0 a regenerated answer would be the same word for word: it is sampled, and says so.
    assert.equal(regenerated.sampling?.temperature, 0.7);
    assert.match(regenerated.stats ?? '', /sampled at temperature 0\.7/);
    assert.equal(await api.chatMessage({ type: 'answer/regenerate', id: 'no-such-entry' }), null);
  });

  test('Copy puts an answer on the clipboard as markdown; a message the webview may not send is refused', async () => {
    const last = api.conversation()[api.conversation().length - 1]!;
    assert.equal(await api.chatMessage({ type: 'answer/copy', id: last.id, block: null }), true);
    assert.equal(await vscode.env.clipboard.readText(), answerMarkdown(last.text));
    // Text to copy or insert never comes from the webview: only an entry and a block number do.
    assert.equal(await api.chatMessage({ type: 'answer/copy', id: last.id, block: null, text: 'rm -rf ~' }), undefined);
    assert.equal(await api.chatMessage({ type: 'answer/insert', id: last.id, block: 99 }), false);
  });

  test('Clear can be undone until the next question', async () => {
    const before = api.conversation().map((e) => e.id);
    assert.ok(before.length > 0);
    await vscode.commands.executeCommand(Commands.clearConversation);
    assert.equal(api.conversation().length, 0);
    assert.equal(await vscode.commands.executeCommand(Commands.undoClearConversation), true);
    assert.deepEqual(api.conversation().map((e) => e.id), before);
    await api.chatMessage({ type: 'chat/clear' });
    assert.equal(api.conversation().length, 0);
    assert.equal(await api.chatMessage({ type: 'chat/undoClear' }), true);
    assert.deepEqual(api.conversation().map((e) => e.id), before);
    // A question after a Clear starts a new conversation: the old one is gone for good.
    await vscode.commands.executeCommand(Commands.clearConversation);
    await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'Where is `drain` defined?');
    assert.equal(await vscode.commands.executeCommand(Commands.undoClearConversation), false);
    assert.equal(api.conversation().length, 2);
  });

  test('a model that cannot load: a short error with Select Model, and the status recovers at once when the setting is fixed', async () => {
    const tiny = vscode.workspace.getConfiguration('famulus').get<string>('modelPath')!;
    try {
      await setSetting('modelPath', path.join(root, 'no-such-model'));
      const outcome = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'Where is `drain` defined?');
      assert.equal(outcome?.status, 'error');
      assert.equal(outcome.error, `The model could not be loaded: model directory ${path.join(root, 'no-such-model')} does not exist.`);
      assert.equal(entry(outcome.entryId).action, 'selectModel');
      const view = api.memoryStatus();
      assert.deepEqual([view.phase, view.detail, view.action], ['error', outcome.error, 'selectModel']);
      assert.match(api.statusBarText(), /engine error/);
    } finally {
      await setSetting('modelPath', tiny);
    }
    // No question asked: the memory opens again with the fixed setting.
    await until('the status to recover', () => api.memoryStatus().phase === 'ready' && /ready · CPU/.test(api.statusBarText()));
    assert.equal(api.memoryStatus().detail, '');
  });

  test('WebGPU chosen where no adapter exists: the question is answered on the CPU, with Use CPU, which needs no restart', async () => {
    const pid = api.enginePid();
    try {
      await setSetting('device', 'webgpu');
      await until('the engine to stop', () => api.enginePid() !== pid);
      const outcome = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'Where is `lease` defined?');
      assert.equal(outcome?.status, 'done', outcome?.error ?? '');
      if (api.memoryStatus().device === 'GPU') return; // a machine with a GPU adapter has nothing to fall back from
      const view = api.memoryStatus();
      assert.deepEqual([view.phase, view.device, view.detail, view.action], ['ready', 'CPU', 'No GPU adapter found: the model runs on the CPU.', 'useCpu']);
      assert.match(view.about, /WebGPU not used: Failed to get a WebGPU adapter/);
      assert.match(api.statusBarText(), /ready · CPU/);
      const onCpu = api.enginePid();
      await api.chatMessage({ type: 'command/run', command: 'useCpu' });
      assert.equal(vscode.workspace.getConfiguration('famulus').get('device'), 'cpu');
      await until('the notice to go', () => api.memoryStatus().action === null);
      assert.equal(api.enginePid(), onCpu, 'the engine already ran on the CPU: no restart');
    } finally {
      await setSetting('device', 'cpu');
    }
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
    // Named as the header's read button is, which the answer offers too.
    assert.equal(outcome.error, 'Nothing is in memory yet: click Read workspace to read this folder first.');
    assert.equal(entry(outcome.entryId).action, 'readWorkspace');
  });

  test('the shipped model: a file it writes is a code block, and Copy and Insert at cursor act on that block', async function () {
    this.timeout(6 * 60_000); // reading the workspace with the shipped model on a loaded 2-core machine
    await setSetting('modelPath', ''); // the built-in model (the Machine settings name the tiny one)
    await setSetting('answerLength', 48);
    try {
      const read = await vscode.commands.executeCommand<WorkspaceResult>(Commands.readWorkspace);
      assert.equal(read?.cancelled, false);
      assert.equal(api.memoryStatus().model, 'built-in model');
      // Greedy, so the same every time: the shipped model writes out a file of the workspace, `<|file|>PATH` first.
      const outcome = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'Explain JobQueue');
      assert.equal(outcome?.status, 'done', outcome?.error ?? '');
      assert.match(outcome.answer, /<\|file\|>\S+\n/);
      const blocks = codeBlocks(outcome.answer);
      assert.ok(blocks.length > 0, `a code block in ${JSON.stringify(outcome.answer)}`);
      assert.equal(await api.chatMessage({ type: 'answer/copy', id: outcome.entryId, block: 0 }), true);
      assert.equal(await vscode.env.clipboard.readText(), blocks[0]);
      const doc = await vscode.workspace.openTextDocument({ content: 'before\n\nafter\n' });
      const editor = await vscode.window.showTextDocument(doc);
      editor.selection = new vscode.Selection(1, 0, 1, 0);
      assert.equal(await api.chatMessage({ type: 'answer/insert', id: outcome.entryId, block: 0 }), true);
      assert.equal(doc.getText(), `before\n${blocks[0]}\nafter\n`);
      assert.equal(vscode.window.activeTextEditor?.document, doc, 'the editor has the focus back');
    } finally {
      await setSetting('answerLength', undefined);
    }
  });
});
