import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CATEGORY, CommandTitles, Commands, ContextKeys, SECTION, SUMMARY_PANEL_TYPE, Settings, Views } from '../../extension/ids';
import { DEFAULT_REPETITION_PENALTY } from '../../model/engine/protocol';

const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
const contributes = pkg.contributes;

describe('ids: extension/ids.ts against package.json', () => {
  it('contributes every command of ids.ts, and no other, in category Famulus with the same title', () => {
    const manifest = new Map<string, { title: string; category: string }>(contributes.commands.map((c: { command: string }) => [c.command, c]));
    assert.deepEqual([...manifest.keys()].sort(), Object.values(Commands).sort());
    for (const id of Object.values(Commands)) {
      assert.equal(manifest.get(id)!.category, CATEGORY, `${id} category`);
      assert.equal(manifest.get(id)!.title, CommandTitles[id], `${id} title`);
    }
  });

  it('uses only known commands in menus and keybindings', () => {
    const known = new Set<string>(Object.values(Commands));
    for (const [menu, entries] of Object.entries(contributes.menus as Record<string, { command: string }[]>)) {
      for (const e of entries) assert.ok(known.has(e.command), `${menu} names unknown command ${e.command}`);
    }
    for (const k of contributes.keybindings) assert.ok(known.has(k.command), `keybinding for unknown ${k.command}`);
  });

  it('offers Summarise File in the editor title, editor context and explorer context menus', () => {
    for (const menu of ['editor/title', 'editor/context', 'explorer/context']) {
      assert.ok(contributes.menus[menu].some((e: { command: string }) => e.command === Commands.summarizeFile), menu);
    }
  });

  it('declares the activity-bar container and the chat webview view with the ids of ids.ts', () => {
    const container = contributes.viewsContainers.activitybar.find((c: { id: string }) => c.id === Views.container);
    assert.ok(container, 'activity-bar container');
    assert.match(container.icon, /\.svg$/);
    const views = contributes.views[Views.container];
    assert.deepEqual(views.map((v: { id: string; type: string }) => [v.id, v.type]), [[Views.chat, 'webview']]);
    assert.equal(SUMMARY_PANEL_TYPE, 'famulus.summary');
  });

  it('describes every setting of ids.ts, and the model path is machine-scoped', () => {
    const props = contributes.configuration.properties as Record<string, { description?: string; markdownDescription?: string; scope?: string }>;
    assert.deepEqual(Object.keys(props).sort(), Object.values(Settings).map((s) => `${SECTION}.${s}`).sort());
    for (const [key, p] of Object.entries(props)) assert.ok((p.description ?? p.markdownDescription ?? '').length > 10, `${key} has a description`);
    assert.equal(props[`${SECTION}.${Settings.modelPath}`]!.scope, 'machine');
  });

  it("defaults the repeat penalty setting to the engine's default", () => {
    const props = contributes.configuration.properties as Record<string, { default?: unknown }>;
    assert.equal(props[`${SECTION}.${Settings.repeatPenalty}`]!.default, DEFAULT_REPETITION_PENALTY);
  });

  it('uses context keys of ids.ts in when clauses', () => {
    const whens = JSON.stringify(contributes.menus) + JSON.stringify(contributes.commands);
    for (const key of Object.values(ContextKeys)) assert.ok(whens.includes(key), key);
  });

  it('limits untrusted workspaces and accepts VS Code 1.139', () => {
    assert.equal(pkg.capabilities.untrustedWorkspaces.supported, 'limited');
    assert.match(pkg.engines.vscode, /^\^1\.(9[5-9]|1\d\d)\./);
    const [major, minor] = pkg.engines.vscode.slice(1).split('.').map(Number);
    assert.ok(major === 1 && minor <= 139);
    assert.equal(pkg.main, './dist/extension.js');
  });
});
