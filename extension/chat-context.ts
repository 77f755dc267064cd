/**
 * What a question is asked about besides its words: the selection that "Ask about Selection" attached, the
 * active editor's file (offered, attached with a click), and the `#file` / `@file` references written in the
 * question, resolved against the workspace's files. The chat shows the first two as chips it can attach or
 * remove (webview/protocol.ts ContextChip) and each reference as resolved or not while it is typed.
 *
 * Only files of the workspace folder are ever offered or resolved; the engine checks every path again. A file
 * open with unsaved changes is sent with the editor's text, so the lines asked about are the lines shown.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { MAX_CONTEXT_TEXT, type ContextRef } from '../model/engine/protocol';
import { isInside } from '../model/workspace/paths';
import { findReferences, questionWithPaths } from '../webview/references';
import type { ContextChip, ContextChipId, ContextView, ReferenceView } from '../webview/protocol';
import { Disposable } from './lifecycle';

/** The context of one question, as it is sent. */
export interface TakenContext {
  /** Most important first: the selection, the references in the order written, the editor's file. */
  context: ContextView[];
  /** References that named no workspace file, as written. */
  unresolved: string[];
  /** The question with its resolved references written as paths (webview/references.ts questionWithPaths). */
  asked: string;
}

/** Files that match a `@name` reference looked at, at most. */
const MATCHES = 20;

const UNSAVED = "unsaved changes: the editor's text is read";
const UNSAVED_TOO_LONG = `unsaved changes, too long to send (over ${MAX_CONTEXT_TEXT} characters): the saved file is read`;

export class ChatContext extends Disposable {
  private selection: { context: ContextView; note: string } | null = null;
  private editor: { context: ContextView; document: vscode.TextDocument } | null = null;
  /** "Use the current file": kept as the active editor changes, off until the user turns it on. */
  private editorAttached = false;
  private readonly changed = this.register(new vscode.EventEmitter<void>());
  /** The chips changed. */
  readonly onDidChange = this.changed.event;

  constructor(private readonly folder: vscode.WorkspaceFolder | null) {
    super();
    this.register(vscode.window.onDidChangeActiveTextEditor(() => this.followEditor()));
    // The "unsaved changes" note follows the document's dirty state.
    let dirty = false;
    this.register(
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document !== this.editor?.document || e.document.isDirty === dirty) return;
        dirty = e.document.isDirty;
        this.changed.fire();
      }),
    );
    this.register(vscode.workspace.onDidSaveTextDocument((d) => d === this.editor?.document && this.changed.fire()));
    this.followEditor();
  }

  /** What the composer shows: the selection (attached) and the active editor's file (attached or offered). */
  get chips(): ContextChip[] {
    const chips: ContextChip[] = [];
    if (this.selection) chips.push({ id: 'selection', context: this.selection.context, attached: true, note: this.selection.note });
    if (this.editor) {
      chips.push({ id: 'editor', context: this.editor.context, attached: this.editorAttached, note: unsavedNote(this.editor.document) });
    }
    return chips;
  }

  /**
   * Attaches the selection of `editor` (whole lines, 1-based) for the next question. Returns why it cannot be
   * (no selection, a file outside the workspace), or null.
   */
  attachSelection(editor: vscode.TextEditor | undefined): string | null {
    if (!editor || editor.selection.isEmpty) return 'Select some code first: Famulus answers about the selected lines.';
    const file = this.workspacePath(editor.document);
    if (file === null) return 'Famulus answers about files of the open workspace folder; this editor shows none.';
    const { start, end } = editor.selection;
    // A selection that ends at the start of a line does not include that line.
    const endLine = end.character === 0 && end.line > start.line ? end.line : end.line + 1;
    this.selection = { context: { kind: 'selection', path: file, startLine: start.line + 1, endLine }, note: unsavedNote(editor.document) };
    this.changed.fire();
    return null;
  }

  /** Attaches or removes a chip; a removed selection is dropped. */
  setAttached(id: ContextChipId, attached: boolean): void {
    if (id === 'selection') {
      if (attached || !this.selection) return;
      this.selection = null;
    } else {
      if (this.editorAttached === attached) return;
      this.editorAttached = attached;
    }
    this.changed.fire();
  }

  /**
   * The context of a question being sent: the attached chips and the question's references, resolved now.
   * The selection is used once: it is dropped after this question.
   */
  async take(question: string): Promise<TakenContext> {
    const references = await this.resolve(findReferences(question));
    const context: ContextView[] = [];
    const add = (c: ContextView) => {
      if (!context.some((k) => k.path === c.path && k.startLine === c.startLine && k.endLine === c.endLine)) context.push(c);
    };
    if (this.selection) add(this.selection.context);
    for (const r of references) if (r.path !== null) add({ kind: 'reference', path: r.path });
    if (this.editor && this.editorAttached) add(this.editor.context);
    if (this.selection) {
      this.selection = null;
      this.changed.fire();
    }
    const resolved = new Map(references.filter((r) => r.path !== null).map((r) => [r.written, r.path!]));
    return { context, unresolved: references.filter((r) => r.path === null).map((r) => r.written), asked: questionWithPaths(question, resolved) };
  }

  /** Resolves `#file` / `@file` references (as findReferences returns them) against the workspace's files. */
  resolve(references: readonly string[]): Promise<ReferenceView[]> {
    return Promise.all(references.map((r) => this.resolveOne(r)));
  }

  /**
   * A reference names the file at that path below the workspace folder, else the only file whose path ends with
   * it (`@queue.ts` → `src/queue.ts`); several such files, or none, resolve to nothing, and the note says why.
   */
  private async resolveOne(written: string): Promise<ReferenceView> {
    const unresolved = (note: string): ReferenceView => ({ written, path: null, note });
    if (!this.folder) return unresolved('no folder is open');
    const name = written.slice(1).replace(/\\/g, '/').replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    if (!name || name.startsWith('/') || name.split('/').includes('..') || !isInside(this.folder.uri.fsPath, path.resolve(this.folder.uri.fsPath, name))) {
      return unresolved('not a path inside the workspace');
    }
    const exact = await vscode.workspace.fs.stat(vscode.Uri.joinPath(this.folder.uri, name)).then(
      (s) => s.type === vscode.FileType.File,
      () => false,
    );
    if (exact) return { written, path: name, note: '' };
    const found = await vscode.workspace.findFiles(new vscode.RelativePattern(this.folder, `**/${name}`), '**/{node_modules,.git}/**', MATCHES);
    const matches = found.map((u) => vscode.workspace.asRelativePath(u, false)).filter((p) => p === name || p.endsWith(`/${name}`));
    if (matches.length === 1) return { written, path: matches[0]!, note: '' };
    if (matches.length === 0) return unresolved('no such file in the workspace');
    const shown = matches.sort().slice(0, 3).join(', ');
    return unresolved(`${matches.length >= MATCHES ? `${MATCHES} or more` : matches.length} files match (${shown}${matches.length > 3 ? ', …' : ''}): write more of the path`);
  }

  /**
   * A question's context as the engine takes it (AskRequest.context), as the editors show it now: a file open
   * with unsaved changes carries the editor's text, which the engine re-reads instead of the file on disk.
   */
  refs(context: readonly ContextView[]): ContextRef[] {
    const wanted = new Set(context.map((c) => c.path));
    const unsaved = new Map<string, string>();
    for (const document of vscode.workspace.textDocuments) {
      const file = document.isDirty ? this.workspacePath(document) : null;
      if (file === null || !wanted.has(file)) continue;
      const text = document.getText();
      // Longer than the engine takes: the saved file is read (the chip says so).
      if (text.length <= MAX_CONTEXT_TEXT) unsaved.set(file, text);
    }
    return context.map(({ path: p, startLine, endLine }) => ({
      path: p,
      ...(startLine !== undefined ? { startLine } : {}),
      ...(endLine !== undefined ? { endLine } : {}),
      ...(unsaved.has(p) ? { text: unsaved.get(p)! } : {}),
    }));
  }

  /** The root-relative path of a document of the workspace folder on disk, or null. */
  private workspacePath(document: vscode.TextDocument): string | null {
    if (!this.folder || document.uri.scheme !== 'file' || !isInside(this.folder.uri.fsPath, document.uri.fsPath)) return null;
    return path.relative(this.folder.uri.fsPath, document.uri.fsPath).split(path.sep).join('/');
  }

  private followEditor(): void {
    const document = vscode.window.activeTextEditor?.document;
    const file = document ? this.workspacePath(document) : null;
    const next = document && file !== null ? { context: { kind: 'editor' as const, path: file }, document } : null;
    if (next?.context.path === this.editor?.context.path) return;
    this.editor = next;
    this.changed.fire();
  }
}

/** What a chip says about its document's unsaved changes, or ''. */
function unsavedNote(document: vscode.TextDocument): string {
  if (!document.isDirty) return '';
  return document.getText().length <= MAX_CONTEXT_TEXT ? UNSAVED : UNSAVED_TOO_LONG;
}
