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
import { waitUntil } from './wait';
import { Commands, EXTENSION_ID } from '../../extension/ids';
import type { FileRow } from '../../extension/memory-view';
import type { ModelSelection } from '../../extension/model-picker';
import type { SummaryOutcome } from '../../extension/summary-panel';
import type { WorkspaceResult } from '../../model/engine/protocol';
import { answerMarkdown, codeBlocks } from '../../webview/answer-text';
import type { ChatEntry } from '../../webview/protocol';

let api: FamulusApi;
let root: string;

const until = (what: string, check: () => boolean, ms?: number) => waitUntil(api, what, check, ms);

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
    // The first read of the workspace says what was read.
    assert.deepEqual(api.readNotices(), [`Famulus has read ${status.files} files (${status.tokens.toLocaleString('en-US')} tokens) of “${path.basename(root)}”.`]);
  });

  test('Files in Memory: each file with its tokens, the changelog skipped by default with its pattern', async () => {
    const rows = await vscode.commands.executeCommand<FileRow[]>(Commands.showFiles, { quiet: true });
    const files = rows.filter((r) => r.kind === 'file');
    const status = api.memoryStatus();
    assert.equal(files.length, status.files);
    assert.equal(files.reduce((n, r) => n + Number(r.description!.replace(/\D/g, '')), 0), status.tokens, 'the tokens add up to the memory');
    assert.deepEqual(rows.find((r) => r.label === 'CHANGELOG.md'), {
      kind: 'skipped',
      label: 'CHANGELOG.md',
      description: 'skipped by default',
      detail: 'matches the default exclude "CHANGELOG.md"',
      path: 'CHANGELOG.md',
    });
    assert.ok(rows.some((r) => r.kind === 'edit-defaults'), 'a way to change what is skipped by default');
  });

  test('Refresh with nothing changed reads nothing and says so; a second full read is not announced again', async () => {
    const lastUpdate = api.memoryStatus().lastUpdate;
    const refreshed = await vscode.commands.executeCommand<WorkspaceResult>(Commands.refreshMemory);
    assert.equal(refreshed.read?.filesIngested, 0);
    const upToDate = `Memory is up to date: nothing changed since ${new Date(lastUpdate).toLocaleString()}.`;
    assert.equal(api.memoryStatus().detail, upToDate, 'in the chat header');
    assert.equal(api.readNotices().at(-1), `Famulus: ${upToDate}`, 'in a notification');
    const notices = api.readNotices().length;
    const again = await vscode.commands.executeCommand<WorkspaceResult>(Commands.readWorkspace);
    assert.ok(again.read && again.read.filesIngested > 0);
    assert.equal(api.readNotices().length, notices, 'once per workspace');
    assert.equal(api.memoryStatus().detail, '', 'the header line goes with the next read');
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
    // Asked alone, not after the turns above: the (random) test model writes text for this prompt.
    await vscode.commands.executeCommand(Commands.newTopic);
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
    assert.match(view.about, /^Model: .*tiny \(Llama \(llama\), id [0-9a-f]{12}, \d+ layers, width \d+\)\nMemory: FAM: .+\nDevice: cpu, /);
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
    const selected = await vscode.commands.executeCommand<ModelSelection>(Commands.selectModel, tiny);
    assert.equal(selected?.status, 'selected');
    assert.equal(selected.status === 'selected' && selected.modelPath, tiny);
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

  test('a follow-up is asked with the earlier turns of its topic; New topic starts afresh and stays in the conversation', async () => {
    await setSetting('answerLength', 8);
    try {
      await vscode.commands.executeCommand(Commands.newTopic);
      assert.equal(api.conversation().at(-1)?.role, 'divider', 'the divider ends the conversation');
      assert.equal(await vscode.commands.executeCommand<boolean>(Commands.newTopic), false, 'a second New topic adds nothing');
      const first = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'How are failed jobs retried?');
      assert.equal(first?.status, 'done', first?.error ?? '');
      assert.equal(first.result?.grounding.historyTurns, 0, 'nothing before it in its topic');
      const second = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'and how long does it wait?');
      assert.equal(second?.status, 'done', second?.error ?? '');
      const turns = first.answer.trim() ? 1 : 0;
      assert.equal(second.result?.grounding.historyTurns, turns, `the answer before: ${JSON.stringify(first.answer)}`);
      if (turns) assert.match(entry(second.entryId).stats ?? '', /follows 1 earlier turn\b/);
      // A where question that points back is about what the conversation was about: answered from the index.
      await vscode.commands.executeCommand(Commands.newTopic);
      await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'What does `reclaimExpired` do?');
      const back = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'Where is it defined?');
      assert.match(back?.answer ?? '', /`reclaimExpired` is defined at src\/queue\.ts:65/);
      assert.equal(await vscode.commands.executeCommand<boolean>(Commands.newTopic), true);
      const fresh = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'Where is it defined?');
      assert.doesNotMatch(fresh?.answer ?? '', /reclaimExpired/, 'after New topic the last subject is gone');
      assert.equal(api.conversation().filter((e) => e.role === 'divider').length >= 3, true);
    } finally {
      await setSetting('answerLength', undefined);
    }
  });

  test('famulus.historyTokens bounds the turns a follow-up is asked with; a question that names its own subject is asked alone', async () => {
    const ask = async (question: string) => {
      const outcome = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, question);
      assert.equal(outcome?.status, 'done', outcome?.error ?? '');
      return outcome;
    };
    // The turns of the topic so far: finished answers with some text.
    const turnsSoFar = () => {
      const all = api.conversation();
      const topic = all.slice(all.map((e) => e.role).lastIndexOf('divider') + 1);
      return topic.filter((e) => e.role === 'assistant' && e.status === 'done' && e.text.trim()).length;
    };
    await setSetting('answerLength', 8);
    try {
      await vscode.commands.executeCommand(Commands.newTopic);
      await ask('How are failed jobs retried?');
      const own = await ask('How is `JobQueue` built?');
      assert.equal(own.result?.grounding.historyTurns, 0, 'it names a definition of its own and does not point back');
      await setSetting('historyTokens', 1);
      const bounded = await ask('and how long does it wait?');
      assert.equal(bounded.result?.grounding.historyTurns, 0, 'no turn fits in 1 token');
      await setSetting('historyTokens', 8192);
      const expected = turnsSoFar();
      const wide = await ask('and then?');
      assert.equal(wide.result?.grounding.historyTurns, expected, 'every turn of the topic fits');
    } finally {
      await setSetting('historyTokens', undefined);
      await setSetting('answerLength', undefined);
    }
  });

  test('Ask about Selection attaches the selected lines: the next question re-reads them first and keeps them', async () => {
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(path.join(root, 'src', 'queue.ts')));
    const editor = await vscode.window.showTextDocument(doc);
    editor.selection = new vscode.Selection(new vscode.Position(63, 0), new vscode.Position(69, 0)); // lines 64-69
    assert.equal(await vscode.commands.executeCommand<boolean>(Commands.askAboutSelection), true);
    const chips = api.contextChips();
    assert.deepEqual(chips.find((c) => c.id === 'selection'), { id: 'selection', context: { kind: 'selection', path: 'src/queue.ts', startLine: 64, endLine: 69 }, attached: true, note: '' });
    assert.deepEqual(chips.find((c) => c.id === 'editor'), { id: 'editor', context: { kind: 'editor', path: 'src/queue.ts' }, attached: false, note: '' }, 'the current file is offered, off');
    const howItWorks = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'How does the lease run out?');
    assert.equal(howItWorks?.status, 'done', howItWorks?.error ?? '');
    const read = howItWorks.result!.grounding.sources.at(-1)!;
    assert.equal(read.reason, 'context', 'read last, nearest the question');
    assert.ok(read.path === 'src/queue.ts' && read.startLine <= 64 && read.endLine >= 69, JSON.stringify(read));
    const asked = api.conversation().at(-2)!;
    assert.deepEqual(asked.context, [{ kind: 'selection', path: 'src/queue.ts', startLine: 64, endLine: 69 }]);
    assert.equal(api.contextChips().find((c) => c.id === 'selection'), undefined, 'a selection is used once');
    // "What does this do?" about a selection is about the definition selected: quoted from its doc comment.
    await vscode.commands.executeCommand(Commands.askAboutSelection);
    const what = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'What does this do?');
    assert.match(what?.answer ?? '', /^`JobQueue\.reclaimExpired` \(method at src\/queue\.ts:65\), from its doc comment: /);
    // The selection can be removed before asking; with no selection the command says so and attaches nothing.
    await vscode.commands.executeCommand(Commands.askAboutSelection);
    await api.chatMessage({ type: 'context/attach', id: 'selection', attached: false });
    assert.equal(api.contextChips().find((c) => c.id === 'selection'), undefined);
    editor.selection = new vscode.Selection(new vscode.Position(3, 0), new vscode.Position(3, 0));
    assert.equal(await vscode.commands.executeCommand<boolean>(Commands.askAboutSelection), false);
  });

  test('#file and @file references become context; one that names no single file is kept on the question, not sent', async () => {
    const resolved = await api.chatMessage({ type: 'context/resolve', references: ['@server.ts', '#src/queue.ts', '@nope.ts', '#../../etc/passwd', '@test.ts'] });
    assert.deepEqual(resolved, [
      { written: '@server.ts', path: 'src/server.ts', note: '' },
      { written: '#src/queue.ts', path: 'src/queue.ts', note: '' },
      { written: '@nope.ts', path: null, note: 'no such file in the workspace' },
      { written: '#../../etc/passwd', path: null, note: 'not a path inside the workspace' },
      { written: '@test.ts', path: null, note: 'no such file in the workspace' },
    ]);
    const outcome = (await api.chatMessage({ type: 'chat/ask', question: 'How does @server.ts use the queue? See @nope.ts' })) as AskOutcome;
    assert.equal(outcome.status, 'done', outcome.error ?? '');
    const asked = api.conversation().at(-2)!;
    assert.deepEqual(asked.context, [{ kind: 'reference', path: 'src/server.ts' }]);
    assert.deepEqual(asked.unresolved, ['@nope.ts']);
    assert.equal(asked.asked, 'How does src/server.ts use the queue? See @nope.ts', 'the engine is asked with the path');
    assert.ok(outcome.result?.grounding.sources.some((s) => s.path === 'src/server.ts' && s.reason === 'context'));
    // The active editor's file, once attached, goes with every question until it is detached.
    await api.chatMessage({ type: 'context/attach', id: 'editor', attached: true });
    const withFile = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'How are jobs kept?');
    assert.deepEqual(api.conversation().at(-2)!.context, [{ kind: 'editor', path: 'src/queue.ts' }]);
    assert.ok(withFile?.result?.grounding.sources.some((s) => s.path === 'src/queue.ts' && s.reason === 'context'));
    await api.chatMessage({ type: 'context/attach', id: 'editor', attached: false });
    // The webview cannot name a path itself.
    assert.equal(await api.chatMessage({ type: 'context/attach', id: 'editor', attached: true, path: '/etc/passwd' }), undefined);
    assert.equal(api.contextChips().find((c) => c.id === 'editor')?.attached, false);
  });

  test("unsaved changes are what a question reads: a selection and the current file go with the editor's text", async () => {
    const file = path.join(root, 'src', 'server.ts');
    const saved = fs.readFileSync(file, 'utf8');
    const savedLines = saved.split(/\r?\n/).length;
    // VS Code for the web saves after a delay by default: the changes must stay unsaved.
    const files = vscode.workspace.getConfiguration('files');
    await files.update('autoSave', 'off', vscode.ConfigurationTarget.Global);
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(file));
    const editor = await vscode.window.showTextDocument(doc);
    try {
      // Lines that exist only in the editor, after the file's last line.
      const added = ['/** Only in the editor, not saved. */', 'export function unsavedHelper(): number {', '  return 42;', '}'];
      const first = doc.lineCount; // 0-based index of the first added line
      assert.ok(await editor.edit((e) => e.insert(doc.lineAt(doc.lineCount - 1).range.end, `\n${added.join('\n')}`)));
      assert.equal(doc.isDirty, true);
      editor.selection = new vscode.Selection(new vscode.Position(first, 0), new vscode.Position(first + added.length - 1, 1));
      assert.equal(await vscode.commands.executeCommand<boolean>(Commands.askAboutSelection), true);
      const chip = api.contextChips().find((c) => c.id === 'selection');
      assert.deepEqual(chip?.context, { kind: 'selection', path: 'src/server.ts', startLine: first + 1, endLine: first + added.length });
      assert.match(chip?.note ?? '', /unsaved changes: the editor's text is read/);
      const outcome = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'How does this work?');
      assert.equal(outcome?.status, 'done', outcome?.error ?? '');
      const read = outcome.result!.grounding.sources.find((s) => s.reason === 'context');
      assert.ok(read, JSON.stringify(outcome.result!.grounding.sources));
      // On disk the file ends at line savedLines: lines past it were read from the editor, under the workspace path.
      assert.ok(first + added.length > savedLines);
      assert.ok(read.path === 'src/server.ts' && read.startLine <= first + 1 && read.endLine === first + added.length, JSON.stringify(read));
      // The current file, attached, is its unsaved text too: all of its lines.
      await api.chatMessage({ type: 'context/attach', id: 'editor', attached: true });
      assert.match(api.contextChips().find((c) => c.id === 'editor')?.note ?? '', /unsaved changes/);
      const whole = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'How are jobs kept?');
      assert.equal(whole?.status, 'done', whole?.error ?? '');
      const wholeRead = whole.result!.grounding.sources.find((s) => s.reason === 'context' && s.path === 'src/server.ts');
      assert.equal(wholeRead?.requestedEndLine ?? wholeRead?.endLine, doc.lineCount, JSON.stringify(wholeRead));
      assert.equal(fs.readFileSync(file, 'utf8'), saved, 'nothing was saved');
    } finally {
      await api.chatMessage({ type: 'context/attach', id: 'editor', attached: false });
      await vscode.window.showTextDocument(doc);
      await vscode.commands.executeCommand('workbench.action.files.revert');
      await files.update('autoSave', undefined, vscode.ConfigurationTarget.Global);
      if (fs.readFileSync(file, 'utf8') !== saved) fs.writeFileSync(file, saved);
    }
    assert.equal(doc.isDirty, false);
    assert.equal(api.contextChips().find((c) => c.id === 'editor')?.note, '', 'saved again: the note is gone');
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
