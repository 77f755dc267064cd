/**
 * Workbench gestures for the e2e suite that hold on a loaded 2-core CI machine, and what to print when a step
 * fails there.
 *
 * The one trap that made the suite flaky: a menu item of VS Code's context menus acts on `mouseup` only, and
 * that listener is attached 100 ms after the menu renders (`runOnceToEnableMouseUp`, a RunOnceScheduler in
 * vs/base/browser/ui/menu/menu.ts, so that the mouseup of the right-click that opened the menu cannot pick an
 * item); `click` is ignored on menu items. A right-click then a Playwright click lands 75-300 ms after the menu
 * renders (measured on a 2-core machine): every mouseup before 100 ms did nothing at all (5 of 15 under CPU
 * load), the menu stayed open, no command ran, and the step failed 30 s later in webviewFrame, waiting for
 * the panel the command should have opened. contextMenuCommand waits the guard out in the page, clicks, and
 * checks that the menu closed and that the command's effect showed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Frame, Locator, Page } from 'playwright-core';
import { ARTIFACTS, type CodeServer } from './code-server';

/** How long a webview may take to show its document (5 s on a dev machine; a loaded CI machine is slower). */
export const WEBVIEW_TIMEOUT_MS = 60_000;
/** VS Code's delay before a context-menu item listens to the mouse (see above), with a margin. */
const MENU_ITEM_ARMED_MS = 150;

export function log(message: string): void {
  console.error(`[e2e] ${message}`);
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60);
}

async function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([p.catch(() => fallback), late]);
  } finally {
    clearTimeout(timer);
  }
}

function frameDepth(f: Frame): number {
  let d = 0;
  for (let p = f.parentFrame(); p; p = p.parentFrame()) d++;
  return d;
}

/** Every frame of the page, one a line: depth, name, url. */
export function describeFrames(page: Page): string {
  return page
    .frames()
    .map((f) => `  [${frameDepth(f)}] name=${JSON.stringify(f.name())} url=${f.url()}${f.isDetached() ? ' (detached)' : ''}`)
    .join('\n');
}

/** The frame (inside a webview's two iframes) whose document has `selector`. */
export async function webviewFrame(page: Page, selector: string, timeoutMs = WEBVIEW_TIMEOUT_MS): Promise<Frame> {
  const started = Date.now();
  for (;;) {
    for (const f of page.frames()) {
      if (f.isDetached()) continue;
      if (f.name() === 'active-frame' || f.url().includes('fake.html') || f.parentFrame()?.parentFrame()) {
        // Bounded: `$` waits for the frame's script context, which a frame being replaced may never get.
        const has = await within(f.$(selector), 2_000, null);
        if (has) {
          void has.dispose();
          return f;
        }
      }
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`no webview frame with ${selector} after ${Math.round((Date.now() - started) / 1000)} s; frames:\n${describeFrames(page)}`);
    }
    await page.waitForTimeout(200);
  }
}

/**
 * Runs a UI gesture up to `attempts` times: `once` does the gesture and checks its effect, throwing when it
 * did not take. Each miss is logged (and screenshotted); the last one fails the step with all the reasons.
 */
export async function gesture(page: Page, what: string, once: (attempt: number) => Promise<void>, attempts = 3): Promise<void> {
  const misses: string[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      await once(attempt);
      if (misses.length) log(`${what}: took on attempt ${attempt}`);
      return;
    } catch (err) {
      const reason = (err as Error).message.split('\n')[0];
      misses.push(`attempt ${attempt}: ${reason}`);
      const shot = path.join(ARTIFACTS, `retry-${slug(what)}-${attempt}.png`);
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await within(page.screenshot({ path: shot, timeout: 10_000 }), 15_000, undefined);
      log(`${what}: attempt ${attempt} of ${attempts} did not take: ${reason} (screenshot ${path.relative(process.cwd(), shot)})`);
      if (attempt >= attempts) throw new Error(`${what} did not take in ${attempts} attempts:\n  ${misses.join('\n  ')}`);
    }
  }
}

/** The open context menu (VS Code draws one at a time). */
export function contextMenu(page: Page): Locator {
  return page.locator('.context-view .monaco-menu').first();
}

/**
 * Picks `label` in the context menu of `target` and waits for `ran`, something the command makes (a tab, a
 * panel) that is not there before. The menu must show the item enabled, `focused` (when given) must show that
 * the menu is the one of the intended row, and the menu must close on the click. A menu that closed without
 * the command running (dismissed by a focus change) or a click that did not take is tried again, at most 3
 * times in all, logged.
 */
export async function contextMenuCommand(
  page: Page,
  target: Locator,
  label: string,
  expect: { ran: Locator; focused?: Locator; ranTimeoutMs?: number },
): Promise<void> {
  if ((await expect.ran.count()) > 0) throw new Error(`contextMenuCommand(${label}): what it waits for is already there`);
  const menu = contextMenu(page);
  await gesture(page, `context menu "${label}"`, async () => {
    if (await menu.isVisible()) {
      await page.keyboard.press('Escape');
      await menu.waitFor({ state: 'hidden', timeout: 5_000 });
    }
    await target.click({ button: 'right' });
    const item = menu.locator('li.action-item:not(.disabled)', { hasText: label }).first();
    await item.waitFor({ state: 'visible', timeout: 10_000 });
    if (expect.focused) await expect.focused.waitFor({ timeout: 5_000 });
    // A page timer set now fires after VS Code's own, which was set when the item rendered: the item listens.
    await page.evaluate((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)), MENU_ITEM_ARMED_MS);
    await item.click({ timeout: 10_000 });
    const closed = await menu.waitFor({ state: 'hidden', timeout: 5_000 }).then(
      () => true,
      () => false,
    );
    if (!closed) throw new Error(`the click on "${label}" did not take: the menu is still open`);
    const ran = await expect.ran.first().waitFor({ timeout: expect.ranTimeoutMs ?? 30_000 }).then(
      () => true,
      () => false,
    );
    if (!ran) throw new Error(`the menu closed but "${label}" did not run (nothing matching ${expect.ran} appeared)`);
  });
}

/**
 * The explorer row of `name` inside `folder`. The explorer reveals the active editor's file when it shows, which
 * expands its folder a moment later; a click on a folder then toggles it shut. So the reveal gets a moment to
 * show the row, a folder is clicked only while it says it is collapsed, and a click that crossed the reveal
 * (and so collapsed it) is undone on the next try.
 */
export async function explorerRow(page: Page, explorer: Locator, folder: RegExp, name: RegExp): Promise<Locator> {
  const dir = explorer.locator('.monaco-list-row', { hasText: folder }).first();
  const row = explorer.locator('.monaco-list-row', { hasText: name }).first();
  await dir.waitFor();
  const shows = (ms: number) => row.waitFor({ timeout: ms }).then(
    () => true,
    () => false,
  );
  await gesture(page, `expand ${folder} in the explorer`, async (attempt) => {
    if (await shows(attempt === 1 ? 3_000 : 1_000)) return;
    if ((await dir.getAttribute('aria-expanded')) === 'false') await dir.click();
    if (!(await shows(5_000))) throw new Error(`no row ${name} (folder aria-expanded=${await dir.getAttribute('aria-expanded')})`);
  });
  return row;
}

/** Titles of the editor tabs, the active one marked. */
async function tabTitles(page: Page): Promise<string[]> {
  return page.locator('.tabs-container .tab').evaluateAll((tabs) =>
    tabs
      .filter((t) => (t as HTMLElement).getClientRects().length > 0)
      .map((t) => `${t.getAttribute('aria-label') ?? t.textContent ?? ''}${t.classList.contains('active') ? ' (active)' : ''}`),
  );
}

function findLogs(dir: string, names: Set<string>, out: string[] = [], depth = 0): string[] {
  if (depth > 6) return out;
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) findLogs(p, names, out, depth + 1);
    else if (names.has(e.name)) out.push(p);
  }
  return out;
}

function tail(text: string, chars: number): string {
  return text.length > chars ? `…${text.slice(-chars)}` : text;
}

/**
 * What a failed step leaves to explain it, on stderr and under test/artifacts/e2e/: the page's frames, the
 * visible editor tabs, an open context menu, toasts, the status bar and the focused element, a screenshot,
 * the tail of code-server's output and of the extension host's and Famulus' logs (copied whole beside it).
 */
export async function diagnose(page: Page | undefined, server: CodeServer | undefined, step: string, err: unknown): Promise<void> {
  const name = `failed-${slug(step)}`;
  const out: string[] = [`[e2e] step failed: ${step}`, `[e2e] error: ${(err as Error)?.message ?? String(err)}`];
  try {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    if (page && !page.isClosed()) {
      out.push(`[e2e] frames (${page.frames().length}):\n${describeFrames(page)}`);
      out.push(`[e2e] tabs: ${JSON.stringify(await within(tabTitles(page), 5_000, ['(could not read)']))}`);
      const menuOpen = await within(contextMenu(page).isVisible(), 5_000, false);
      out.push(
        `[e2e] context menu: ${menuOpen ? `open: ${JSON.stringify(await within(contextMenu(page).locator('.action-label').allTextContents(), 5_000, []))}` : 'none'}`,
      );
      out.push(`[e2e] toasts: ${JSON.stringify(await within(page.locator('.notification-toast').allInnerTexts(), 5_000, ['(could not read)']))}`);
      out.push(`[e2e] status bar: ${JSON.stringify(await within(page.locator('.statusbar-item').allInnerTexts(), 5_000, ['(could not read)']))}`);
      const focus = await within(
        page.evaluate(() => {
          const a = document.activeElement;
          return `${document.hasFocus() ? 'page has focus' : 'page does not have focus'}; active element ${a ? `${a.tagName.toLowerCase()}.${[...a.classList].join('.')}${a.getAttribute('aria-label') ? ` "${a.getAttribute('aria-label')}"` : ''}` : 'none'}`;
        }),
        5_000,
        '(could not read)',
      );
      out.push(`[e2e] focus: ${focus}`);
      const shot = path.join(ARTIFACTS, `${name}.png`);
      const saved = await within(
        page.screenshot({ path: shot, timeout: 10_000 }).then(() => true),
        15_000,
        false,
      );
      out.push(`[e2e] screenshot: ${saved ? path.relative(process.cwd(), shot) : '(could not take one)'}`);
    } else {
      out.push('[e2e] no page to look at');
    }
    if (server) {
      out.push(`[e2e] code-server output (tail):\n${tail(server.log(), 3_000)}`);
      for (const file of findLogs(path.join(server.home, 'user-data', 'logs'), new Set(['Famulus.log', 'remoteexthost.log']))) {
        const text = fs.readFileSync(file, 'utf8');
        const copy = path.join(ARTIFACTS, `${name}-${path.basename(path.dirname(file))}-${path.basename(file)}`);
        fs.writeFileSync(copy, text);
        out.push(`[e2e] ${path.relative(server.home, file)} (tail; whole in ${path.relative(process.cwd(), copy)}):\n${tail(text, 3_000)}`);
      }
    }
  } catch (e) {
    out.push(`[e2e] diagnostics stopped: ${(e as Error).message}`);
  }
  console.error(out.join('\n'));
}
