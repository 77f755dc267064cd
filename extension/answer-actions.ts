/**
 * What the buttons under an answer do with its text, through VS Code's API only: Copy puts it on the clipboard
 * (vscode.env.clipboard works in every VS Code, where a webview's navigator.clipboard depends on the host's
 * iframe permissions and focus), Insert at cursor puts a code block into the active text editor. Both act on
 * text the extension holds (the stored answer), never on text a webview sends.
 */
import * as vscode from 'vscode';

export async function copyText(text: string, what: string): Promise<boolean> {
  await vscode.env.clipboard.writeText(text);
  vscode.window.setStatusBarMessage(`$(check) Famulus: ${what} copied`, 3000);
  return true;
}

/** Replaces the selection (or inserts at the cursor) of every cursor of the active editor, then focuses it. */
export async function insertAtCursor(text: string): Promise<boolean> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage('Famulus: open a file and place the cursor where the code should go, then click Insert again.');
    return false;
  }
  const done = await editor.edit((edit) => {
    for (const selection of editor.selections) edit.replace(selection, text);
  });
  if (!done) {
    void vscode.window.showWarningMessage(`Famulus: could not insert into ${vscode.workspace.asRelativePath(editor.document.uri)}.`);
    return false;
  }
  await vscode.window.showTextDocument(editor.document, { viewColumn: editor.viewColumn, preserveFocus: false });
  return true;
}
