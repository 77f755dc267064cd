/** Opens a cited `path:line` in an editor, after resolveCitation has checked that it is a workspace file. */
import * as vscode from 'vscode';
import { resolveCitation } from './citations';

export async function openCitation(cited: string, line: number, log: vscode.LogOutputChannel): Promise<boolean> {
  const roots = (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
  const target = resolveCitation(roots, cited, line);
  if (!target.ok) {
    log.warn(`citation ${cited}:${line} refused: ${target.reason}`);
    void vscode.window.showWarningMessage(`Famulus: cannot open ${cited}:${line}: ${target.reason}.`);
    return false;
  }
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(target.file));
  const at = Math.min(target.line, doc.lineCount) - 1;
  const pos = new vscode.Position(at, 0);
  await vscode.window.showTextDocument(doc, {
    selection: new vscode.Range(pos, pos),
    viewColumn: vscode.ViewColumn.One,
    preview: true,
  });
  return true;
}
