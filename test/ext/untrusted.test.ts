/**
 * Restricted Mode: in an untrusted workspace Famulus reads nothing. Run by test/ext/run-in-code-server.ts in a
 * second code-server started with workspace trust on (FAMULUS_EXT_SUITE=untrusted).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suite, suiteSetup, test } from 'mocha';
import * as vscode from 'vscode';
import type { AskOutcome } from '../../extension/chat';
import type { FamulusApi } from '../../extension/extension';
import { Commands, EXTENSION_ID } from '../../extension/ids';

suite('Famulus in Restricted Mode', () => {
  let api: FamulusApi;
  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension<FamulusApi>(EXTENSION_ID);
    assert.ok(ext);
    api = await ext.activate();
  });

  test('the workspace is untrusted and the memory says so', () => {
    assert.equal(vscode.workspace.isTrusted, false);
    assert.equal(api.memoryStatus().phase, 'untrusted');
    assert.match(api.statusBarText(), /restricted/);
  });

  test('reading, asking and summarising are refused; no engine starts and nothing is saved', async () => {
    const read = await vscode.commands.executeCommand(Commands.readWorkspace);
    assert.equal(read, undefined, 'the read command refused');
    const ask = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'Where is `drain` defined?');
    assert.equal(ask?.status, 'error');
    assert.match(ask?.error ?? '', /Restricted Mode/);
    // With the action that lifts it, as a button under the answer.
    assert.equal(api.conversation().find((e) => e.id === ask?.entryId)?.action, 'manageTrust');
    const root = vscode.workspace.workspaceFolders![0]!.uri;
    const summary = await vscode.commands.executeCommand<{ status: string }>(Commands.summarizeFile, vscode.Uri.joinPath(root, 'src', 'queue.ts'));
    assert.equal(summary?.status, 'error');
    assert.equal(api.enginePid(), null, 'no engine process was started');
    const stateFile = api.stateFile();
    assert.ok(!stateFile || !fs.existsSync(stateFile), 'no state was written');
    assert.ok(!fs.existsSync(path.join(root.fsPath, '.famulus')));
  });
});
