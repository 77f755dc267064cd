/**
 * `Famulus: Select Model`: the picker (./model-choices.ts lists its rows), and the one way a model folder
 * becomes `famulus.modelPath`: through inspectModelDir, so a folder that is not a model is refused with the
 * loader's reason and the setting stays as it was. Folders chosen before are remembered in the extension's
 * globalState (machine-local, not synced: they are paths on this machine). The setting itself is written to the
 * user settings only: it is machine-scoped, so a workspace cannot point Famulus at another model.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { inspectModelDir, type ModelInspection } from '../model/loader/inspect';
import { bundledModelDir } from '../model/loader/model-files';
import { SECTION, Settings, StateKeys } from './ids';
import { BUILT_IN_LABEL, describeModel, forgetFolder, modelChoices, oneLine, rememberFolder, type ModelChoice } from './model-choices';
import * as settings from './settings';

/** What selecting a model did. */
export type ModelSelection =
  /** `famulus.modelPath` is now `modelPath` ('' for the built-in model); `model` says what it is. */
  | { status: 'selected'; modelPath: string; model: string }
  /** Not a model folder: the setting was not changed. */
  | { status: 'refused'; dir: string; reason: string }
  /** A remembered folder that is no longer a model was dropped from the list. */
  | { status: 'forgotten'; dir: string; reason: string };

export class ModelPicker {
  constructor(
    private readonly extensionPath: string,
    private readonly globalState: vscode.Memento,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** The folders chosen before, most recent first. */
  get remembered(): string[] {
    const v = this.globalState.get<unknown>(StateKeys.modelFolders);
    return Array.isArray(v) ? v.filter((f): f is string => typeof f === 'string') : [];
  }

  /** The picker's rows, each folder inspected now (headers only: milliseconds each). */
  choices(): ModelChoice[] {
    const current = settings.modelPath() ?? '';
    const folders = [...(current ? [current] : []), ...this.remembered].map((dir) => inspectModelDir(dir));
    return modelChoices({
      builtIn: inspectModelDir(bundledModelDir(this.extensionPath)),
      folders,
      current,
      device: settings.device(),
      machine: { totalBytes: os.totalmem(), freeBytes: os.freemem() },
    });
  }

  /** Shows the picker; undefined when it was dismissed. */
  async pick(): Promise<ModelSelection | undefined> {
    const rows = this.choices();
    const pick = await vscode.window.showQuickPick(
      rows.map((c) => ({ label: c.label, description: c.description, detail: c.detail, choice: c })),
      { title: 'Famulus: Select Model', placeHolder: 'The model that reads the workspace and answers', matchOnDescription: true },
    );
    if (!pick) return undefined;
    const choice = pick.choice;
    if (choice.kind === 'choose') {
      const chosen = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Use This Model', title: 'Famulus: a model folder' });
      if (!chosen?.[0]) return undefined;
      return this.select(chosen[0].fsPath);
    }
    if (choice.kind === 'folder' && choice.refused !== null) {
      // The current setting's folder is listed whether remembered or not; only a remembered one can be forgotten.
      return this.remembered.includes(choice.value) ? this.offerToForget(choice.value, choice.refused) : this.select(choice.value);
    }
    return this.select(choice.value);
  }

  /**
   * Makes `dir` the model ('' or whitespace: the built-in model) if it is one; otherwise says why and changes
   * nothing. A selected folder is remembered for the picker.
   */
  async select(dir: string): Promise<ModelSelection> {
    const builtIn = dir.trim() === '';
    const model: ModelInspection = inspectModelDir(builtIn ? bundledModelDir(this.extensionPath) : dir);
    if (!model.ok) {
      this.log.warn(`not selected as the model: ${model.reason}`);
      void vscode.window.showErrorMessage(`Famulus: ${builtIn ? 'the built-in model cannot be used' : `“${path.basename(model.dir)}” is not a model folder`}: ${oneLine(model.reason)}`);
      return { status: 'refused', dir: model.dir, reason: model.reason };
    }
    const modelPath = builtIn ? '' : model.dir;
    if (!builtIn) await this.globalState.update(StateKeys.modelFolders, rememberFolder(this.remembered, model.dir));
    await vscode.workspace.getConfiguration(SECTION).update(Settings.modelPath, modelPath, vscode.ConfigurationTarget.Global);
    const what = `${builtIn ? BUILT_IN_LABEL : model.dir}: ${describeModel(model)}`;
    this.log.info(`model selected: ${what}`);
    return { status: 'selected', modelPath, model: what };
  }

  /** A remembered folder that is no longer a model: say why, and drop it from the list if the user agrees. */
  private async offerToForget(dir: string, reason: string): Promise<ModelSelection | undefined> {
    const forget = 'Forget';
    const answer = await vscode.window.showWarningMessage(`Famulus: “${path.basename(dir)}” is not a model folder (any more): ${oneLine(reason)}`, forget);
    if (answer !== forget) return { status: 'refused', dir, reason };
    await this.forget(dir);
    return { status: 'forgotten', dir, reason };
  }

  /** Drops `dir` from the remembered folders (the setting is not touched). */
  async forget(dir: string): Promise<void> {
    await this.globalState.update(StateKeys.modelFolders, forgetFolder(this.remembered, dir));
  }
}
