/**
 * The summary panel beside the editor: one instance (createOrShow), revived after a reload by a serializer
 * with the last summary, which is kept in the workspace memento. The extension holds the text, so Copy and
 * Open as Markdown work on exactly what was generated.
 */
import * as vscode from 'vscode';
import { isCancellation } from '../model/engine/cancellation';
import type { SummarizeResult } from '../model/engine/protocol';
import { msg, parseToExtension, type GroundingView, type ToWebview, type ToWebviewMessage } from '../webview/protocol';
import { DeltaBatcher, groundingView, stats } from './chat';
import { openCitation } from './citation-open';
import { SUMMARY_PANEL_TYPE } from './ids';
import { Disposable } from './lifecycle';
import type { WorkspaceMemory } from './memory';
import { webviewHtml, webviewOptions } from './webview-html';

const LAST_SUMMARY = 'famulus.lastSummary';

interface Summary {
  file: string;
  text: string;
  status: 'done' | 'cancelled' | 'error' | 'streaming';
  stats: string;
  /** What it was grounded on, once it ended (absent in a summary saved by an older version). */
  grounding?: GroundingView | null;
}

export interface SummaryOutcome {
  file: string;
  text: string;
  status: 'done' | 'cancelled' | 'error';
  result: SummarizeResult | null;
}

export class SummaryPanel extends Disposable {
  private static current: SummaryPanel | null = null;
  private ready = false;
  private outbox: ToWebviewMessage[] = [];
  private summary: Summary | null;
  private abort: AbortController | null = null;

  static createOrShow(extensionUri: vscode.Uri, state: vscode.Memento, log: vscode.LogOutputChannel): SummaryPanel {
    if (SummaryPanel.current) {
      SummaryPanel.current.panel.reveal(vscode.ViewColumn.Beside, true);
      return SummaryPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(
      SUMMARY_PANEL_TYPE,
      'Famulus Summary',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { ...webviewOptions(extensionUri), retainContextWhenHidden: true },
    );
    SummaryPanel.current = new SummaryPanel(panel, extensionUri, state, log);
    return SummaryPanel.current;
  }

  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, state: vscode.Memento, log: vscode.LogOutputChannel): void {
    SummaryPanel.current?.dispose();
    SummaryPanel.current = new SummaryPanel(panel, extensionUri, state, log);
  }

  static get instance(): SummaryPanel | null {
    return SummaryPanel.current;
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    extensionUri: vscode.Uri,
    private readonly state: vscode.Memento,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.summary = state.get<Summary>(LAST_SUMMARY) ?? null;
    panel.webview.options = webviewOptions(extensionUri);
    panel.webview.html = webviewHtml(panel.webview, extensionUri, 'summary');
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'famulus.svg');
    this.register(panel.webview.onDidReceiveMessage((raw) => this.receive(raw)));
    this.register(panel.onDidDispose(() => this.dispose()));
    if (this.summary) panel.title = `Summary: ${baseName(this.summary.file)}`;
  }

  /** The text of the summary shown (for Copy, Open as Markdown and tests). */
  get text(): string {
    return this.summary?.text ?? '';
  }

  /** Summarises `file` into this panel; resolves when the summary has ended. */
  async summarize(memory: WorkspaceMemory, file: vscode.Uri, token?: vscode.CancellationToken): Promise<SummaryOutcome> {
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    const sub = token?.onCancellationRequested(() => abort.abort());
    const rel = vscode.workspace.asRelativePath(file, false);
    const summary: Summary = { file: rel, text: '', status: 'streaming', stats: '', grounding: null };
    this.summary = summary;
    this.panel.title = `Summary: ${baseName(rel)}`;
    this.send(msg<ToWebview, 'summary/start'>('summary/start', { file: rel }));
    let result: SummarizeResult | null = null;
    const deltas = new DeltaBatcher((text) => this.send(msg<ToWebview, 'summary/delta'>('summary/delta', { text })));
    try {
      const stream = memory.summarize(file, abort.signal);
      let step;
      while (!(step = await stream.next()).done) {
        summary.text += step.value.text;
        deltas.push(step.value.text);
      }
      result = step.value;
      summary.status = result.cancelled ? 'cancelled' : 'done';
      summary.stats = stats(result);
      summary.grounding = groundingView(result.grounding);
    } catch (err) {
      const cancelled = isCancellation(err);
      summary.status = cancelled ? 'cancelled' : 'error';
      if (!cancelled) summary.text = `**${(err as Error).message}**`;
    } finally {
      deltas.dispose();
      sub?.dispose();
      if (this.abort === abort) this.abort = null;
    }
    const status = summary.status as SummaryOutcome['status'];
    if (this.summary === summary) {
      this.send(msg<ToWebview, 'summary/end'>('summary/end', { status, text: summary.text, stats: summary.stats, grounding: summary.grounding ?? null }));
    }
    void this.state.update(LAST_SUMMARY, summary);
    return { file: rel, text: summary.text, status, result };
  }

  stop(): boolean {
    if (!this.abort) return false;
    this.abort.abort();
    return true;
  }

  private send(m: ToWebviewMessage): void {
    if (this.isDisposed) return;
    if (!this.ready) {
      this.outbox.push(m);
      return;
    }
    void this.panel.webview.postMessage(m);
  }

  private receive(raw: unknown): void {
    let m;
    try {
      m = parseToExtension(raw);
    } catch (err) {
      this.log.warn(`summary panel: refused a message: ${(err as Error).message}`);
      return;
    }
    switch (m.type) {
      case 'ready': {
        this.ready = true;
        const queued = this.outbox.splice(0);
        if (queued.length === 0 && this.summary) {
          // A revived or reloaded panel: show the last summary.
          const s = this.summary;
          void this.panel.webview.postMessage(msg<ToWebview, 'summary/start'>('summary/start', { file: s.file }));
          void this.panel.webview.postMessage(
            msg<ToWebview, 'summary/end'>('summary/end', {
              status: s.status === 'streaming' ? 'cancelled' : s.status,
              text: s.text,
              stats: s.stats,
              grounding: s.grounding ?? null,
            }),
          );
        }
        for (const q of queued) void this.panel.webview.postMessage(q);
        return;
      }
      case 'summary/copy':
        void vscode.env.clipboard.writeText(this.text).then(() => vscode.window.setStatusBarMessage('Famulus: summary copied', 3000));
        return;
      case 'summary/openMarkdown':
        void this.openAsMarkdown();
        return;
      case 'summary/stop':
        this.stop();
        return;
      case 'citation/open':
        void openCitation(m.path, m.line, this.log);
        return;
      default:
        this.log.warn(`summary panel: ${m.type} is not a summary message`);
    }
  }

  /** Opens the summary as an untitled markdown document beside the editor. */
  async openAsMarkdown(): Promise<vscode.TextDocument | null> {
    if (!this.summary) return null;
    const doc = await vscode.workspace.openTextDocument({
      language: 'markdown',
      content: `# Summary of ${this.summary.file}\n\n${this.summary.text}\n`,
    });
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: false });
    return doc;
  }

  override dispose(): void {
    if (SummaryPanel.current === this) SummaryPanel.current = null;
    this.abort?.abort();
    super.dispose();
    this.panel.dispose();
  }
}

function baseName(p: string): string {
  return p.split('/').pop() ?? p;
}
