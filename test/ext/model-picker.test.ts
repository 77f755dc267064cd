/**
 * Select Model and every open model family in the extension host (issue 23): the picker's rows describe the
 * built-in model and the folders chosen before (family, size, memory mode, whether it fits), a folder that is not
 * a model is refused with its reason and the setting stays; then, for each family fixture
 * (test/fixtures/families/*, each with its own tokenizer and chat template), the whole path: select it, the
 * engine reloads with it, the workspace is read and saved, the engine restarts and the memory comes back from
 * disk without a read, and a question is answered. The random tiny models write nonsense: the assertions are
 * about what happened, not what was said.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { suite, suiteSetup, suiteTeardown, test } from 'mocha';
import * as vscode from 'vscode';
import type { AskOutcome } from '../../extension/chat';
import type { FamulusApi } from '../../extension/extension';
import { waitUntil } from './wait';
import { Commands, EXTENSION_ID } from '../../extension/ids';
import type { ModelSelection } from '../../extension/model-picker';
import type { WorkspaceResult } from '../../model/engine/protocol';

/** Each family fixture and how the engine names its family. */
const FAMILIES: Record<string, string> = {
  llama3: 'Llama 3 (llama)',
  mistral: 'Mistral (mistral)',
  'qwen2.5': 'Qwen2/Qwen2.5 (qwen2)',
  qwen3: 'Qwen3 (qwen3)',
  smollm2: 'Llama (llama)',
};

/** Each checkpoint the whole path runs with (under test/fixtures), its family's name, and its memory mode's words. */
const MODELS: [string, string, string][] = [
  ...Object.entries(FAMILIES).map(([name, family]): [string, string, string] => [`families/${name}`, family, 'no trained working memory']),
  // Fine-tuned with FAM (model/train/lora_fam.py): trained working memory, the family's own chat template.
  ['finetuned/llama3', FAMILIES.llama3!, 'FAM: 8 rows of trained working memory'],
  ['finetuned/qwen2.5', FAMILIES['qwen2.5']!, 'FAM: 8 rows of trained working memory'],
];

suite('Select Model and the open model families in the extension host', () => {
  let api: FamulusApi;
  let fixtures: string;
  let previousModel: string | undefined;

  const modelPath = () => vscode.workspace.getConfiguration('famulus').inspect<string>('modelPath')?.globalValue;
  const selectModel = (dir: string) => vscode.commands.executeCommand<ModelSelection>(Commands.selectModel, dir);
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  const until = (what: string, check: () => boolean, ms?: number) => waitUntil(api, what, check, ms);

  /** A copy of a family fixture, to break. */
  function copyOf(name: string): string {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'famulus-picker-')), `${name}-copy`);
    fs.cpSync(path.join(fixtures, name), dir, { recursive: true });
    return dir;
  }

  suiteSetup(async () => {
    const ext = vscode.extensions.getExtension<FamulusApi>(EXTENSION_ID)!;
    api = await ext.activate();
    fixtures = path.join(ext.extensionPath, 'test', 'fixtures', 'families');
    previousModel = modelPath();
    await vscode.workspace.getConfiguration('famulus').update('device', 'cpu', vscode.ConfigurationTarget.Global);
    // Short answers: the random models would otherwise write 256 tokens of nothing to each question.
    await vscode.workspace.getConfiguration('famulus').update('answerLength', 12, vscode.ConfigurationTarget.Global);
  });

  suiteTeardown(async () => {
    await vscode.workspace.getConfiguration('famulus').update('answerLength', undefined, vscode.ConfigurationTarget.Global);
    // Back to the model the suite before left (the built-in one), through the command, which checks it.
    const back = await selectModel(previousModel ?? '');
    assert.equal(back?.status, 'selected');
  });

  test('the rows: the built-in model and a chosen folder with family, size, memory mode and fit; the current one marked', async () => {
    const qwen3 = path.join(fixtures, 'qwen3');
    const selected = await selectModel(qwen3);
    assert.deepEqual(selected, {
      status: 'selected',
      modelPath: qwen3,
      model: `${qwen3}: Qwen3 (qwen3) · 35.0K parameters · 70.8 KiB BF16 · BSWA: no trained working memory`,
    });
    assert.equal(modelPath(), qwen3, 'written to the user (machine) settings');
    assert.equal(vscode.workspace.getConfiguration('famulus').inspect<string>('modelPath')?.workspaceValue, undefined);

    const rows = api.modelChoices();
    // The built-in model, the folders chosen so far (this one first: the most recent), "Choose a model folder…".
    assert.deepEqual([rows[0]!.kind, rows[1]!.kind, rows.at(-1)!.kind], ['builtIn', 'folder', 'choose']);
    assert.ok(rows.slice(1, -1).every((r) => r.kind === 'folder' && r.refused === null && r.current === (r.value === qwen3)));
    const [builtIn, folder] = rows;
    const choose = rows.at(-1);
    assert.equal(builtIn!.label, 'Built-in model');
    assert.equal(builtIn!.current, false);
    assert.equal(builtIn!.description, 'Llama (llama) · 24.0M parameters · 45.7 MiB F16 · FAM, 64 rows');
    // This machine's memory, from the extension host (the engine runs beside it).
    const fit = /CPU (fits|tight|too big): needs ~[\d.]+ [KMG]iB of [\d.]+ GiB RAM/;
    assert.match(builtIn!.detail, new RegExp(`^${fit.source}.* — ships with Famulus$`));
    assert.equal(folder!.label, '$(check) qwen3');
    assert.equal(folder!.current, true);
    assert.equal(folder!.value, qwen3);
    assert.equal(folder!.description, 'Qwen3 (qwen3) · 35.0K parameters · 70.8 KiB BF16 · BSWA: no trained working memory');
    assert.match(folder!.detail, new RegExp(`^CPU fits: needs ~[\\d.]+ MiB of [\\d.]+ GiB RAM \\([\\d.]+ GiB free\\) — ${escape(qwen3)}$`));
    assert.equal(choose!.label, 'Choose a model folder…');
  });

  test('a folder that is not a model is refused with its reason, and the setting stays as it was', async () => {
    const before = modelPath();
    const workspace = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
    const notModel = await selectModel(workspace);
    assert.deepEqual(notModel, {
      status: 'refused',
      dir: workspace,
      reason: `${workspace}: no config.json (a model directory needs config.json, model.safetensors or a shard index, and tokenizer.json)`,
    });
    // A config field the engine cannot run: the loader's own words, naming the field.
    const gelu = copyOf('mistral');
    const config = JSON.parse(fs.readFileSync(path.join(gelu, 'config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(gelu, 'config.json'), JSON.stringify({ ...config, hidden_act: 'gelu' }));
    const badConfig = await selectModel(gelu);
    assert.equal(badConfig?.status, 'refused');
    assert.equal(badConfig.status === 'refused' && badConfig.reason, `${path.join(gelu, 'config.json')}: invalid config:\n  - "hidden_act" must be "silu" (SwiGLU), got "gelu"`);
    assert.equal(modelPath(), before, 'the setting did not change');
    assert.ok(!api.modelChoices().some((r) => r.value === workspace || r.value === gelu), 'a refused folder is not remembered');
  });

  test('a chosen folder that stops being a model is listed with the reason and cannot be selected', async () => {
    const before = modelPath();
    const copy = copyOf('smollm2');
    assert.equal((await selectModel(copy))?.status, 'selected');
    assert.equal((await selectModel(before!))?.status, 'selected');
    fs.rmSync(path.join(copy, 'tokenizer.json'));
    const row = api.modelChoices().find((r) => r.value === copy);
    assert.ok(row, 'still remembered');
    assert.equal(row.label, '$(warning) smollm2-copy');
    assert.equal(row.description, 'not a model folder: select it to forget it');
    assert.equal(row.detail, `${copy}: no tokenizer.json (a model directory needs config.json, model.safetensors or a shard index, and tokenizer.json)`);
    assert.equal((await selectModel(copy))?.status, 'refused');
    assert.equal(modelPath(), before);
  });

  for (const [folder, family, memoryMode] of MODELS) {
    test(`${folder}: selected, read and saved; after a restart the memory comes back from disk, not read again; a question is answered`, async () => {
      const dir = path.join(fixtures, '..', folder);
      const name = path.basename(folder);
      const pid = api.enginePid();
      const selected = await selectModel(dir);
      assert.equal(selected?.status, 'selected', JSON.stringify(selected));
      await until('the engine of the previous model to stop', () => pid === null || api.enginePid() !== pid);

      // The engine starts with this model and reads the workspace with its tokenizer; the memory is saved.
      const read = await vscode.commands.executeCommand<WorkspaceResult>(Commands.readWorkspace);
      assert.equal(read?.cancelled, false);
      assert.ok(read.read && read.read.filesIngested >= 5, `read ${read.read?.filesIngested} files`);
      assert.ok(read.saved && read.saved.bytes > 0, 'the memory was saved');
      const view = api.memoryStatus();
      assert.equal(view.phase, 'ready');
      assert.equal(view.model, name, 'the model by its folder name');
      assert.match(view.about, new RegExp(`^Model: ${escape(dir)} \\(${escape(family)}, id [0-9a-f]{12}, 2 layers, width 32\\)\\nMemory: ${escape(memoryMode)}`));
      const stateFile = api.stateFile()!;
      const saved = { files: view.files, tokens: view.tokens, lastUpdate: view.lastUpdate, mtime: fs.statSync(stateFile).mtimeMs };

      // A new engine process: it loads this model again and restores the saved memory.
      const running = api.enginePid()!;
      process.kill(running, 'SIGKILL');
      await until('a new engine with the memory', () => api.enginePid() !== null && api.enginePid() !== running && api.memoryStatus().phase === 'ready');
      const restored = api.memoryStatus();
      assert.deepEqual(
        { files: restored.files, tokens: restored.tokens, lastUpdate: restored.lastUpdate, mtime: fs.statSync(stateFile).mtimeMs },
        saved,
        'the same memory, from disk: not read again (a read would have a new time) and not saved again',
      );
      assert.equal(restored.model, name);
      assert.match(restored.about, new RegExp(`\\(${escape(family)}, id `));

      // A question, answered by the restarted engine from the restored memory and the re-read code.
      const restarted = api.enginePid();
      const outcome = await vscode.commands.executeCommand<AskOutcome>(Commands.ask, 'How are failed jobs retried?');
      assert.equal(outcome?.status, 'done', outcome?.error ?? '');
      const result = outcome.result!;
      assert.ok(result.tokens > 0 || result.stopReason === 'stop-token', JSON.stringify({ tokens: result.tokens, stopReason: result.stopReason }));
      assert.ok(result.promptTokens > 0 && result.grounding.sources.length > 0, 'code was re-read into the memory before the answer');
      const answer = api.conversation().at(-1)!;
      assert.deepEqual([answer.role, answer.status, answer.text], ['assistant', 'done', outcome.answer]);
      assert.equal(api.enginePid(), restarted);
      assert.equal(api.memoryStatus().lastUpdate, saved.lastUpdate, 'the question changed nothing in the memory');
    });
  }
});
