/**
 * Famulus in VS Code: activation is a list of registrations (every one owned by `context.subscriptions`).
 *
 * The engine (a separate node process, model/engine/) starts on the first request; the memory of the first
 * workspace folder is restored from `context.storageUri` at once when a saved state exists. Nothing is read
 * in Restricted Mode: the memory opens when the workspace is trusted.
 */
import * as vscode from 'vscode';
import { isCancellation } from '../model/engine/cancellation';
import { EngineError, type WorkspaceResult } from '../model/engine/protocol';
import { ACTION_LABELS, type ChatEntry, type ContextChip, type MemoryView } from '../webview/protocol';
import { ChatController, ChatViewProvider, NO_WORKSPACE, type AskOutcome } from './chat';
import { ChatContext } from './chat-context';
import { openCitation } from './citation-open';
import { EngineHost } from './engine-host';
import { showFilesInMemory } from './files-in-memory';
import { Commands, ContextKeys, SECTION, SUMMARY_PANEL_TYPE, Settings } from './ids';
import { WorkspaceMemory } from './memory';
import { filesInMemoryRows, type FileRow } from './memory-view';
import type { ModelChoice } from './model-choices';
import { ModelPicker, type ModelSelection } from './model-picker';
import { explainProblem } from './problems';
import { MemoryStatusBar } from './status-bar';
import { SummaryPanel, type SummaryOutcome } from './summary-panel';
import { runWebviewCommand, showProblem } from './webview-commands';

/** What activate() returns: enough for the extension-host tests to look inside, nothing more. */
export interface FamulusApi {
  memoryStatus(): MemoryView;
  conversation(): readonly ChatEntry[];
  enginePid(): number | null;
  statusBarText(): string;
  summaryText(): string;
  stateFile(): string | null;
  /** The notifications finished reads showed ("Famulus has read N files…", "…up to date…"), oldest first. */
  readNotices(): readonly string[];
  /** What a click on a citation link does (the webviews post `citation/open`). */
  openCitation(path: string, line: number): Promise<boolean>;
  /** Handles a message as if the chat webview had posted it (checked the same way); resolves with its outcome. */
  chatMessage(message: unknown): Promise<unknown>;
  /** The context chips the chat's composer shows (the attached selection, the active editor's file). */
  contextChips(): ContextChip[];
  /** The rows Select Model shows now: the built-in model, the remembered folders, "Choose a model folder…". */
  modelChoices(): ModelChoice[];
}

let host: EngineHost | null = null;

export function activate(context: vscode.ExtensionContext): FamulusApi {
  const log = vscode.window.createOutputChannel('Famulus', { log: true });
  context.subscriptions.push(log);
  void vscode.commands.executeCommand('setContext', ContextKeys.busy, false);

  host = new EngineHost(context.extensionPath, log);
  context.subscriptions.push(host);

  const folder = vscode.workspace.workspaceFolders?.find((f) => f.uri.scheme === 'file') ?? null;
  const memory = folder ? new WorkspaceMemory(folder, context.storageUri, host, context.workspaceState, log) : null;
  if (memory) context.subscriptions.push(memory);
  if ((vscode.workspace.workspaceFolders?.length ?? 0) > 1) {
    log.info(`several folders are open: Famulus reads the first one (${folder?.name})`);
  }

  const chatContext = new ChatContext(folder);
  context.subscriptions.push(chatContext);
  const chat = new ChatController(memory, chatContext, context.workspaceState, log);
  context.subscriptions.push(chat);
  const chatView = new ChatViewProvider(context.extensionUri, chat, chatContext, log);
  context.subscriptions.push(
    chatView,
    vscode.window.registerWebviewViewProvider(ChatViewProvider.viewType, chatView, { webviewOptions: { retainContextWhenHidden: true } }),
  );

  const statusBar = new MemoryStatusBar(memory);
  context.subscriptions.push(statusBar);

  context.subscriptions.push(
    vscode.window.registerWebviewPanelSerializer(SUMMARY_PANEL_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel) {
        SummaryPanel.revive(panel, context.extensionUri, context.workspaceState, log);
      },
    }),
  );

  const models = new ModelPicker(context.extensionPath, context.globalState, log);

  const needMemory = (): WorkspaceMemory => {
    if (!memory) throw new Error('Open a folder first: Famulus reads the files of a workspace folder.');
    return memory;
  };
  const command = (id: string, fn: (...args: any[]) => unknown) =>
    context.subscriptions.push(
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await fn(...args);
        } catch (err) {
          if (isCancellation(err)) return undefined;
          const e = err as Error;
          log.error(`${id}: ${e.message}`);
          showProblem(explainProblem(e.message, e instanceof EngineError ? e.code : undefined), log);
          return undefined;
        }
      }),
    );

  command(Commands.ask, async (question?: unknown): Promise<AskOutcome | undefined> => {
    const q =
      typeof question === 'string' && question.trim()
        ? question
        : await vscode.window.showInputBox({
            title: 'Famulus: Ask about This Workspace',
            prompt: 'The answer streams into the Famulus chat.',
            // An example from this workspace's index ("Where is `createApplication` defined?"), not a made-up one.
            placeHolder: (await memory?.exampleQuestion()) ?? 'A question about this workspace',
            ignoreFocusOut: true,
          });
    if (!q?.trim()) return undefined;
    await chatView.reveal();
    return chat.ask(q.trim());
  });

  // The selected lines become the next question's context: the chat opens with them attached, ready for the question.
  command(Commands.askAboutSelection, async (): Promise<boolean> => {
    const problem = chatContext.attachSelection(vscode.window.activeTextEditor);
    if (problem) {
      void vscode.window.showInformationMessage(`Famulus: ${problem}`);
      return false;
    }
    await chatView.reveal();
    return true;
  });

  command(Commands.newTopic, () => chat.newTopic());

  command(Commands.summarizeFile, async (arg?: unknown): Promise<SummaryOutcome | undefined> => {
    const m = needMemory();
    let file = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
    if (!file || file.scheme !== 'file') {
      const picks = await vscode.workspace.findFiles(new vscode.RelativePattern(m.folder, '**/*'), '**/{node_modules,.git}/**', 2000);
      const pick = await vscode.window.showQuickPick(
        picks.map((u) => ({ label: vscode.workspace.asRelativePath(u, false), uri: u })).sort((a, b) => a.label.localeCompare(b.label)),
        { title: 'Famulus: Summarise File', placeHolder: 'Which file?' },
      );
      if (!pick) return undefined;
      file = pick.uri;
    }
    const panel = SummaryPanel.createOrShow(context.extensionUri, context.workspaceState, log);
    return panel.summarize(m, file);
  });

  // The definitions the memory's index holds for the word under the cursor (or a name typed), to open one.
  command(Commands.goToDefinition, async (arg?: unknown): Promise<boolean> => {
    const m = needMemory();
    const editor = vscode.window.activeTextEditor;
    const range = editor?.document.getWordRangeAtPosition(editor.selection.active, /[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*/);
    const name =
      typeof arg === 'string'
        ? arg
        : (range && editor?.document.getText(range)) ||
          (await vscode.window.showInputBox({ title: 'Famulus: Go to Definition in Memory', prompt: 'A name (e.g. handle or Router.handle)' }));
    if (!name?.trim()) return false;
    const defs = await m.definitions(name.trim());
    if (defs.length === 0) {
      void vscode.window.showInformationMessage(`Famulus: no definition of “${name.trim()}” in the workspace index.`);
      return false;
    }
    const pick =
      defs.length === 1
        ? defs[0]
        : (await vscode.window.showQuickPick(
            defs.map((d) => ({ label: d.qualifiedName, description: `${d.kind} · ${d.path}:${d.startLine}`, detail: d.doc.split('\n')[0] ?? '', d })),
            { title: `Famulus: definitions of ${name.trim()}` },
          ))?.d;
    return pick ? openCitation(pick.path, pick.startLine, log) : false;
  });

  // What the memory holds, file by file with its tokens, and what was skipped and why. `quiet` returns the rows unshown.
  command(Commands.showFiles, async (opts?: { quiet?: boolean }): Promise<FileRow[] | FileRow | undefined> => {
    const m = needMemory();
    const files = await m.filesInMemory();
    return opts?.quiet ? filesInMemoryRows(files) : showFilesInMemory(m, files);
  });

  command(Commands.readWorkspace, (): Promise<WorkspaceResult> => needMemory().read({ fresh: true }));
  // Fetches the team's bundle now (famulus.teamMemory.source), whatever the folder holds.
  command(Commands.useTeamMemory, () => needMemory().useTeamMemory({ force: true }));
  command(Commands.refreshMemory, (): Promise<WorkspaceResult> => needMemory().read({ fresh: false }));

  command(Commands.forgetMemory, async (opts?: { confirm?: boolean }) => {
    const m = needMemory();
    if (opts?.confirm !== false) {
      const ok = await vscode.window.showWarningMessage(
        `Forget what Famulus has read of “${m.folder.name}”? The saved memory is deleted; the conversation is kept.`,
        { modal: true },
        'Forget',
      );
      if (ok !== 'Forget') return false;
    }
    await m.forget();
    return true;
  });

  // A folder given as the argument is checked as a picked one is: a folder that is not a model changes nothing.
  command(Commands.selectModel, (dir?: unknown): Promise<ModelSelection | undefined> =>
    typeof dir === 'string' ? models.select(dir) : models.pick());

  command(Commands.selectDevice, async (choice?: unknown) => {
    let value = choice === 'auto' || choice === 'webgpu' || choice === 'cpu' ? choice : undefined;
    if (!value) {
      const current = vscode.workspace.getConfiguration(SECTION).get<string>(Settings.device, 'auto');
      const pick = await vscode.window.showQuickPick(
        [
          { label: 'auto', description: 'WebGPU when a GPU adapter is found, else the CPU' },
          { label: 'webgpu', description: 'the GPU through WebGPU only' },
          { label: 'cpu', description: 'the CPU only' },
        ].map((p) => ({ ...p, picked: p.label === current, detail: p.label === current ? 'current' : undefined })),
        { title: 'Famulus: Select Device' },
      );
      if (!pick) return undefined;
      value = pick.label as 'auto' | 'webgpu' | 'cpu';
    }
    await vscode.workspace.getConfiguration(SECTION).update(Settings.device, value, vscode.ConfigurationTarget.Global);
    return value;
  });

  command(Commands.showStatus, async (opts?: { quiet?: boolean }): Promise<MemoryView> => {
    const v = memory?.view;
    if (opts?.quiet) return v ?? NO_WORKSPACE;
    await chatView.reveal();
    if (v) {
      const lines = [
        `${v.files} files, ${v.tokens} tokens in memory`,
        v.model && `${v.model} on the ${v.device}`,
        v.lastUpdate && `updated ${new Date(v.lastUpdate).toLocaleString()}`,
      ].filter(Boolean);
      const fix = v.action && v.action !== 'showLog' ? [ACTION_LABELS[v.action]] : [];
      const actions = [...fix, ...(v.files > 0 ? ['Show Files', 'Refresh Memory'] : ['Read Workspace']), 'Show Log'];
      void vscode.window.showInformationMessage(`Famulus: ${lines.join(' · ')}${v.detail ? ` — ${v.detail}` : ''}`, ...actions).then((pick) => {
        if (pick === 'Show Files') void vscode.commands.executeCommand(Commands.showFiles);
        else if (pick === 'Refresh Memory') void vscode.commands.executeCommand(Commands.refreshMemory);
        else if (pick === 'Read Workspace') void vscode.commands.executeCommand(Commands.readWorkspace);
        else if (pick === 'Show Log') log.show(true);
        else if (pick && v.action) void runWebviewCommand(v.action, log);
      });
      return v;
    }
    return NO_WORKSPACE;
  });

  command(Commands.stop, () => chat.stop() || SummaryPanel.instance?.stop() || false);
  command(Commands.clearConversation, () => chat.clear());
  command(Commands.undoClearConversation, () => chat.undoClear());

  // Memory: restored at once (or offered) in a trusted window; in Restricted Mode, once trust is granted.
  if (memory) {
    void memory.open().catch((err: Error) => log.error(`opening the memory failed: ${err.message}`));
    context.subscriptions.push(
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        void memory.open().catch((err: Error) => log.error(`opening the memory failed: ${err.message}`));
      }),
      // A memory that failed to open (a model that would not load) opens again with the new model or device
      // at once, so the header and the status bar recover without waiting for the next question.
      vscode.workspace.onDidChangeConfiguration((e) => {
        const engineSetting = e.affectsConfiguration(`${SECTION}.${Settings.modelPath}`) || e.affectsConfiguration(`${SECTION}.${Settings.device}`);
        if (engineSetting && memory.view.phase === 'error') {
          void memory.open().catch((err: Error) => log.error(`opening the memory failed: ${err.message}`));
        }
      }),
    );
  }

  return {
    memoryStatus: () => memory?.view ?? NO_WORKSPACE,
    conversation: () => chat.conversation,
    enginePid: () => host?.current?.pid ?? null,
    statusBarText: () => statusBar.text,
    summaryText: () => SummaryPanel.instance?.text ?? '',
    stateFile: () => memory?.stateFile?.fsPath ?? null,
    readNotices: () => memory?.readNotices ?? [],
    openCitation: (path, line) => openCitation(path, line, log),
    chatMessage: (message) => chatView.receive(message),
    contextChips: () => chatContext.chips,
    modelChoices: () => models.choices(),
  };
}

export async function deactivate(): Promise<void> {
  // Stop the engine and wait for it, so no process outlives the extension host.
  await host?.stop();
  host = null;
}
