/**
 * Files in Memory: a quick pick of what the memory holds (each file with its tokens) and what the last walk
 * skipped, with why. Choosing a file opens it; "Change what is skipped by default…" opens the settings that
 * decide it. The rows come from ./memory-view.ts, the list from the engine (`workspace/files`).
 */
import * as vscode from 'vscode';
import type { FilesResult } from '../model/engine/protocol';
import { EXTENSION_ID, SECTION, Settings } from './ids';
import type { WorkspaceMemory } from './memory';
import { filesInMemoryRows, filesTitle, type FileRow } from './memory-view';

interface RowItem extends vscode.QuickPickItem {
  row: FileRow;
}

/** Shows the list, and resolves with the row chosen (undefined when dismissed). */
export async function showFilesInMemory(memory: WorkspaceMemory, files: FilesResult): Promise<FileRow | undefined> {
  const items = filesInMemoryRows(files).map(toItem);
  const picked = await vscode.window.showQuickPick(items, {
    title: `Famulus: Files in Memory — ${filesTitle(files)}`,
    placeHolder: 'Type to filter; choose a file to open it',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  const row = picked?.row;
  if (row?.kind === 'edit-defaults') {
    await vscode.commands.executeCommand('workbench.action.openSettings', `@ext:${EXTENSION_ID} ${SECTION}.${Settings.defaultExcludes}`);
  } else if (row?.path) {
    await vscode.window.showTextDocument(vscode.Uri.joinPath(memory.folder.uri, ...row.path.split('/')), { preview: true });
  }
  return row;
}

function toItem(row: FileRow): RowItem {
  if (row.kind === 'heading') return { label: row.label, kind: vscode.QuickPickItemKind.Separator, row };
  const icon = { file: '$(file)', skipped: '$(circle-slash)', more: '$(ellipsis)', 'edit-defaults': '$(settings-gear)' }[row.kind];
  const item: RowItem = { label: `${icon} ${row.label}`, row };
  if (row.description) item.description = row.description;
  if (row.detail) item.detail = row.detail;
  return item;
}
