/**
 * The commands a webview's buttons may run (webview/protocol.ts WEBVIEW_COMMANDS), the problem actions among
 * them, and a problem shown as a notification with its action as a button.
 */
import * as vscode from 'vscode';
import { ACTION_LABELS, type WebviewCommand } from '../webview/protocol';
import { CATEGORY, Commands } from './ids';
import type { Problem } from './problems';

export async function runWebviewCommand(command: WebviewCommand, log: vscode.LogOutputChannel): Promise<unknown> {
  switch (command) {
    case 'useCpu':
      return vscode.commands.executeCommand(Commands.selectDevice, 'cpu');
    case 'showLog':
      log.show(true);
      return undefined;
    case 'manageTrust':
      return vscode.commands.executeCommand('workbench.trust.manage');
    default:
      return vscode.commands.executeCommand(COMMAND_OF[command]);
  }
}

const COMMAND_OF: Record<Exclude<WebviewCommand, 'useCpu' | 'showLog' | 'manageTrust'>, string> = {
  readWorkspace: Commands.readWorkspace,
  refreshMemory: Commands.refreshMemory,
  forgetMemory: Commands.forgetMemory,
  showStatus: Commands.showStatus,
  selectDevice: Commands.selectDevice,
  selectModel: Commands.selectModel,
};

/** An error notification: the problem's short message, and its action as a button. */
export function showProblem(problem: Problem, log: vscode.LogOutputChannel): void {
  const actions = problem.action ? [ACTION_LABELS[problem.action]] : [];
  void vscode.window.showErrorMessage(`${CATEGORY}: ${problem.message}`, ...actions).then((pick) => {
    if (pick && problem.action) void runWebviewCommand(problem.action, log);
  });
}
