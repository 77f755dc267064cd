/** The status bar item: idle / reading n% / ready, and the device; a click shows the memory status. */
import * as vscode from 'vscode';
import { Commands } from './ids';
import { Disposable } from './lifecycle';
import type { WorkspaceMemory } from './memory';

export class MemoryStatusBar extends Disposable {
  private readonly item = this.register(vscode.window.createStatusBarItem('famulus.status', vscode.StatusBarAlignment.Right, 100));

  constructor(private readonly memory: WorkspaceMemory | null) {
    super();
    this.item.name = 'Famulus Memory';
    this.item.command = Commands.showStatus;
    if (memory) this.register(memory.onDidChange(() => this.update()));
    this.update();
    this.item.show();
  }

  /** The text shown now (for tests). */
  get text(): string {
    return this.item.text;
  }

  update(): void {
    const v = this.memory?.view;
    const device = v?.device ?? '';
    const progress = this.memory?.progress;
    let text: string;
    switch (v?.phase) {
      case 'reading':
      case 'updating':
        text = `$(sync~spin) Famulus: ${v.phase} ${Math.round(progress?.percent ?? 0)}%`;
        break;
      case 'starting':
        text = '$(loading~spin) Famulus: starting';
        break;
      case 'ready':
        // Where the memory came from, when from the team's CI ("CI abc1234 +3": its commit and the local changes).
        text = `$(book) Famulus: ready${device ? ` · ${device}` : ''}${this.memory?.originBadge ? ` · ${this.memory.originBadge}` : ''}`;
        break;
      case 'error':
        text = '$(error) Famulus: engine error';
        break;
      case 'untrusted':
        text = '$(shield) Famulus: restricted';
        break;
      default:
        text = `$(circle-outline) Famulus: idle${device ? ` · ${device}` : ''}`;
    }
    this.item.text = text;
    const tip = new vscode.MarkdownString(undefined, true);
    tip.appendMarkdown('**Famulus memory**\n\n');
    if (v) {
      tip.appendMarkdown(`${v.files} files · ${v.tokens} tokens\n\n`);
      if (v.model) tip.appendText(`${v.model} on the ${v.device}\n\n`);
      if (v.lastUpdate) tip.appendMarkdown(`Updated: ${new Date(v.lastUpdate).toLocaleString()}\n\n`);
      if (v.detail) tip.appendText(`${v.detail}\n\n`);
      if (v.about) tip.appendText(v.about);
    }
    this.item.tooltip = tip;
    this.item.accessibilityInformation = { label: text.replace(/\$\([^)]*\)\s*/g, ''), role: 'button' };
  }
}
