/**
 * End-to-end: what a new user does, in a real browser (Debian's chromium through playwright-core) on a real
 * VS Code (code-server) with the packaged .vsix installed and the real engine process. Open a copy of
 * samples/demo-workspace, accept the offer to read it, read the chat's welcome, ask from the palette, ask in
 * the sidebar chat, stop a running answer, click a citation, take the team's memory from a bundle CI made (served by
 * a loopback HTTP server in the test; the status bar says where it came from); then switch to the shipped default model (stopping
 * its first read once; the finished read is announced, Files in Memory lists what was read and skipped, and a
 * Refresh with nothing changed says so) and ask again: the answers list their sources, verified citations are links and
 * unverified ones are marked, a file the model writes is a code block with Copy and Insert at cursor, an answer
 * cut off at its length says so and continues, Regenerate replaces an answer, a follow-up sees the conversation
 * until New topic, Ask about Selection and `#file` / `@file` re-read what they name; choose WebGPU where there is no
 * GPU and use the CPU from the header, break and fix the model setting, clear the conversation and undo it;
 * summarise a file from the explorer's context menu, open the summary as markdown, reload and find the memory
 * (and the conversation, sources, context and topic dividers included) still there.
 *
 * Screenshots of every step go to test/artifacts/e2e/ (git-ignored). A step that fails prints the page's frames,
 * the editor tabs, the focus and the logs to stderr and leaves a screenshot and the logs there (workbench.ts).
 * Run: `npx tsx --test test/e2e/e2e.test.ts` (after `npm run build`); FAMULUS_VSIX names a ready .vsix,
 * otherwise one is packaged first.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Frame, Locator, Page } from 'playwright-core';
import { ARTIFACTS, REPO, copyWorkspace, installVsix, launchBrowser, screenshot, startCodeServer, type CodeServer } from './code-server';
import { writeEndlessTinyModel } from './endless-model';
import { ciBundle, serveBundles } from './team-bundles';
import { WEBVIEW_TIMEOUT_MS, contextMenuCommand, diagnose, explorerRow, gesture, webviewFrame as findWebviewFrame } from './workbench';

/** Answered from the workspace index (a verified citation of the definition), whatever the model. */
const QUESTION_PALETTE = 'Where is `retryWithBackoff` defined?';
const QUESTION_SIDEBAR = 'What does src/queue.ts:24 do?';
/** The palette's placeholder: the example question `index/suggest` finds in the demo workspace. */
const PALETTE_EXAMPLE = 'Where is `parseDuration` defined?';
/** A question the model must write the answer of (nothing in the index answers it). */
const QUESTION_GENERATED = 'How are failed jobs retried?';
/** A question no code of the workspace matches. */
const QUESTION_UNMATCHED = 'Hello?';
/** A question the shipped model answers (greedily, so always) by writing out a file: `<|file|>PATH` and code. */
const QUESTION_FILE = 'Explain JobQueue';
/** A question the shipped model answers by writing code with a JSDoc comment in it (` * ` and `@param` lines). */
const QUESTION_JSDOC = 'Show the JSDoc of `JobQueue`';
/** The answer length for the shipped model's file answer: short, so it is cut off (and quick on a CPU). */
const SHORT_ANSWER = 32;
/** Long enough for the shipped model to reach the doc comment in its JSDoc answer. */
const JSDOC_ANSWER = 64;
/** The answer length for the follow-up, selection and file-reference steps: short, so they are quick on a CPU. */
const FOLLOW_UP_ANSWER = 48;
/** The commit the team's CI records in its bundle. */
const TEAM_COMMIT = 'abc1234def567890abc1234def567890abc12345';

let server: CodeServer;
let browser: Browser;
let page: Page;
let workspace: string;
/** Files of the demo workspace, as the header counts them after the first read. */
let workspaceFiles = 0;
// First the tiny test model, made endless: every answer it writes runs to 4096 tokens (about 2 s on a CPU), so
// Stop and Escape always find an answer streaming; the default model's answers end whenever it says so. Then the
// default model the .vsix holds, for real answers: their sources and citations.
const baseSettings = {
  'famulus.device': 'cpu',
  'famulus.modelPath': writeEndlessTinyModel(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'famulus-model-')), 'endless-tiny')),
  'famulus.readOnOpen': 'ask',
  'famulus.answerLength': 4096,
  'workbench.colorTheme': 'Default Dark Modern',
};

function packageVsix(): string {
  if (process.env.FAMULUS_VSIX) return process.env.FAMULUS_VSIX;
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'famulus-vsix-')), 'famulus.vsix');
  execFileSync(
    path.join(REPO, 'node_modules', '.bin', 'vsce'),
    ['package', '--target', 'linux-x64', '--allow-missing-repository', '--skip-license', '--out', out],
    { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return out;
}

/** The frame (inside a webview's two iframes) whose document has `selector`. */
function webviewFrame(selector: string, timeoutMs = WEBVIEW_TIMEOUT_MS): Promise<Frame> {
  return findWebviewFrame(page, selector, timeoutMs);
}

/** A test whose failure is explained: see diagnose(). */
function step(name: string, fn: () => Promise<void>): void {
  it(name, async () => {
    try {
      await fn();
    } catch (err) {
      await diagnose(page, server, name, err);
      throw err;
    }
  });
}

async function runCommand(title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor();
  await page.keyboard.press('Enter');
}

/** Waits for a streaming answer to end and checks that it was stopped, not finished. */
async function expectStopped(answer: Locator): Promise<void> {
  await answer.locator('xpath=self::*[@data-status="cancelled" or @data-status="done"]').waitFor({ timeout: 30_000 });
  const footer = (await answer.locator('.footer').textContent()) ?? '';
  assert.equal(await answer.getAttribute('data-status'), 'cancelled', `the answer ended by itself before the stop: ${footer}`);
}

/**
 * Changes a setting by editing the server's settings.json, as a user who edits it would; VS Code sees the file
 * change. The server's (Machine) settings, because there code-server's extension host reads and writes every
 * famulus.* setting (Select Model and Select Device write them there too). For settings whose UI is an open
 * dialog or the settings page.
 */
function setServerSetting(key: string, value: unknown): void {
  const file = path.join(server.home, 'user-data', 'Machine', 'settings.json');
  const settings = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  settings[key] = value;
  fs.writeFileSync(file, JSON.stringify(settings, null, 2));
}

/** Shows the Famulus side bar. Clicked only while not the shown container: a click on the shown one closes it. */
async function showFamulus(): Promise<void> {
  const famulus = page.locator('.activitybar .action-item').filter({ has: page.locator('.action-label[aria-label*="Famulus"]') }).first();
  await gesture(page, 'show the Famulus side bar', async () => {
    if (!(await famulus.evaluate((e) => e.classList.contains('checked')))) await famulus.click();
    await page.locator('.activitybar .action-item.checked .action-label[aria-label*="Famulus"]').waitFor({ timeout: 10_000 });
  });
}

/**
 * A notification whose message matches `text`: its toast while it shows, else its entry in the Notifications
 * centre (a toast hides after some seconds).
 */
async function notification(text: RegExp, timeoutMs = 60_000): Promise<Locator> {
  const toast = page.locator('.notification-toast', { hasText: text });
  if (await toast.waitFor({ timeout: timeoutMs }).then(() => true, () => false)) return toast;
  await runCommand('Notifications: Show Notifications');
  const entry = page.locator('.notifications-center .notification-list-item', { hasText: text });
  await entry.waitFor({ timeout: 10_000 });
  return entry;
}

/** Waits for an answer to end (any way) and returns how. */
async function ended(answer: Locator, timeoutMs = 180_000): Promise<string> {
  await answer.locator('xpath=self::*[@data-status="done" or @data-status="cancelled" or @data-status="error"]').waitFor({ timeout: timeoutMs });
  return (await answer.getAttribute('data-status')) ?? '';
}

async function statusBar(text: string | RegExp, timeoutMs = 120_000): Promise<void> {
  await page.locator('.statusbar-item', { hasText: text }).first().waitFor({ timeout: timeoutMs });
}

/** Asks in the sidebar chat and returns the answer once it has ended. */
async function askInChat(chat: Frame, question: string): Promise<Locator> {
  const before = await chat.locator('.entry.assistant').count();
  await chat.locator('#question').fill(question);
  await chat.locator('#question').press('Enter');
  const answer = chat.locator('.entry.assistant').nth(before);
  await answer.locator('xpath=self::*[@data-status="done"]').waitFor({ timeout: 180_000 });
  return answer;
}

/**
 * Starts a new topic, so the next question is asked alone: the steps that check what the shipped model writes
 * (greedily, so always the same) ask their question without the conversation before it, which would change it.
 */
async function newTopic(chat: Frame): Promise<void> {
  const button = chat.locator('#new-topic');
  if (await button.isDisabled()) return;
  const dividers = await chat.locator('.topic-divider').count();
  await button.click();
  await chat.locator('.topic-divider').nth(dividers).waitFor({ timeout: 15_000 });
}

/** Clicks a link that opens a workspace file and checks that the file's tab shows, at the link's line. */
async function opensAtItsLine(link: Locator): Promise<void> {
  const file = path.basename((await link.getAttribute('data-path')) ?? '');
  const line = await link.getAttribute('data-line');
  assert.ok(file && line, 'the link names a file and a line');
  await link.click();
  // Not the summary panel's tab, which is titled after its file too.
  await page.locator('.tabs-container .tab.active', { hasText: file, hasNotText: 'Summary:' }).waitFor({ timeout: 30_000 });
  await statusBar(new RegExp(`Ln ${line}, Col 1`), 15_000);
}

describe('Famulus end to end (code-server + chromium)', { timeout: 20 * 60_000 }, () => {
  before(async () => {
    fs.rmSync(ARTIFACTS, { recursive: true, force: true });
    const vsix = packageVsix();
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'famulus-e2e-'));
    installVsix(home, vsix);
    workspace = copyWorkspace(path.join(REPO, 'samples', 'demo-workspace'));
    server = await startCodeServer({ home, settings: baseSettings });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    try {
      await page.goto(`${server.url}/?folder=${encodeURIComponent(workspace)}`);
      await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    } catch (err) {
      await diagnose(page, server, 'open the workbench', err);
      throw err;
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  step('offers to read a newly opened workspace, reads it with progress, and shows ready in the status bar', async () => {
    const offer = page.locator('.notification-toast', { hasText: 'into memory' });
    await offer.waitFor({ timeout: 60_000 });
    await screenshot(page, '01-offer-to-read');
    await offer.getByRole('button', { name: 'Read Now' }).click();
    const progress = page.locator('.notification-toast', { hasText: 'Famulus: reading' });
    await progress.waitFor({ timeout: 30_000 }).then(
      () => screenshot(page, '02-reading-progress'),
      () => undefined, // the tiny model may finish before the toast is drawn
    );
    await statusBar(/Famulus: ready · CPU/);
    await screenshot(page, '03-ready');
  });

  step("the chat's welcome says what answers and how to check it; the header names the model and the device", async () => {
    await showFamulus();
    const chat = await webviewFrame('#empty-hint');
    // The name and the device in words: no model id, no adapter, no WebGPU error.
    await chat.locator('#memory-detail', { hasText: /^endless-tiny · CPU · updated / }).waitFor({ timeout: 30_000 });
    const welcome = await chat.locator('#empty-hint').innerText();
    assert.match(welcome, /Famulus answers with the model “endless-tiny” that runs on this machine, offline/);
    assert.match(welcome, /often wrong, so check its answers: under each one are its sources/);
    assert.match(welcome, /any other is marked unverified/);
    assert.doesNotMatch((await chat.locator('header').innerText()) ?? '', /[0-9a-f]{8}|WebGPU|adapter/);
    assert.equal(await chat.locator('#memory-problem').isVisible(), false);
    const status = (await chat.locator('#memory-status').textContent()) ?? '';
    workspaceFiles = Number(/Memory ready — (\d+) files/.exec(status)?.[1]);
    assert.ok(workspaceFiles > 5, status);
    await screenshot(page, '03a-chat-welcome');
  });

  step('asks from the command palette; the answer streams into the sidebar chat', async () => {
    await runCommand('Famulus: Ask about This Workspace');
    // The command's input box, not the palette it replaces in the same widget.
    await page.locator('.quick-input-widget .quick-input-title', { hasText: 'Famulus: Ask about This Workspace' }).waitFor({ state: 'visible' });
    const box = page.locator('.quick-input-widget input');
    // The example question names a definition of this workspace, from its index.
    assert.equal(await box.getAttribute('placeholder'), PALETTE_EXAMPLE);
    await screenshot(page, '04a-palette-placeholder');
    await box.fill(QUESTION_PALETTE);
    await page.keyboard.press('Enter');
    const chat = await webviewFrame('#log');
    await chat.locator('.entry.user', { hasText: 'retryWithBackoff' }).waitFor();
    const answer = chat.locator('.entry.assistant').last();
    await answer.locator('xpath=self::*[@data-status="done"]').waitFor({ timeout: 180_000 });
    assert.ok(((await answer.locator('.body').textContent()) ?? '').length > 0, 'the answer has text');
    assert.match((await answer.locator('.footer').textContent()) ?? '', /tokens|quoted from the code/);
    // The definition's location comes from the index: a verified link, and the definition as the source.
    const link = answer.locator('.body a.citation', { hasText: 'src/queue.ts:18' }).first();
    assert.match((await link.getAttribute('title')) ?? '', /function retryWithBackoff/);
    assert.equal(
      ((await answer.locator('.sources li').first().textContent()) ?? '').trim(),
      'src/queue.ts:18-21 retryWithBackoff',
    );
    assert.match((await chat.locator('#memory-status').textContent()) ?? '', /Memory ready — \d+ files/);
    await screenshot(page, '04-palette-answer');
  });

  step('asks in the sidebar chat: Enter sends, the answer streams and ends', async () => {
    const chat = await webviewFrame('#question');
    const before = await chat.locator('.entry.assistant').count();
    await chat.locator('#question').fill(QUESTION_SIDEBAR);
    await chat.locator('#question').press('Shift+Enter'); // a new line, not sent
    assert.equal(await chat.locator('.entry.user').filter({ hasText: 'src/queue.ts:24' }).count(), 0);
    await chat.locator('#question').press('Enter');
    await chat.locator('.entry.assistant').nth(before).locator('xpath=self::*[@data-status="done"]').waitFor({ timeout: 180_000 });
    assert.equal(await chat.locator('#question').inputValue(), '');
    await screenshot(page, '05-sidebar-answer');
  });

  step('stops a running answer with the Stop button', async () => {
    const chat = await webviewFrame('#question');
    const before = await chat.locator('.entry.assistant').count();
    await chat.locator('#question').fill('Summarize src/queue.ts');
    await chat.locator('#question').press('Enter');
    const answer = chat.locator('.entry.assistant').nth(before);
    const stop = chat.locator('#stop');
    await stop.waitFor({ state: 'visible', timeout: 30_000 });
    // Dispatched on the button at once: waiting for pointer actionability (another element of the toolbar can
    // overlap it for a moment) once let a short answer finish first.
    await stop.dispatchEvent('click');
    await screenshot(page, '06-stop-clicked');
    await expectStopped(answer);
    assert.match((await answer.locator('.footer').textContent()) ?? '', /stopped/);
    assert.equal(await chat.locator('#stop').isVisible(), false);
    await screenshot(page, '07-stopped');
  });

  step('stops a running answer with Escape', async () => {
    const chat = await webviewFrame('#question');
    const before = await chat.locator('.entry.assistant').count();
    // Not a "what does `lease` do?": its doc comment answers that at once, with no model tokens to stop.
    await chat.locator('#question').fill(QUESTION_GENERATED);
    await chat.locator('#question').press('Enter');
    const answer = chat.locator('.entry.assistant').nth(before);
    await answer.locator('xpath=self::*[@data-status="streaming"]').waitFor({ timeout: 30_000 });
    await chat.locator('#question').press('Escape');
    await expectStopped(answer);
  });

  step('opens a verified citation: the file opens at the cited line', async () => {
    const chat = await webviewFrame('#log');
    await opensAtItsLine(chat.locator('.entry.assistant a.citation', { hasText: 'src/queue.ts:18' }).first());
    await screenshot(page, '08-citation-opened');
  });

  step("uses the team's memory: a bundle CI made, fetched over HTTP, brought up to date, and the status bar says where it came from", async () => {
    const bundles = new Map<string, Buffer>();
    const ci = await serveBundles(bundles);
    try {
      setServerSetting('famulus.teamMemory.source', `${ci.origin}/famulus/memory.famb`);
      // CI read the workspace before README.md was added: the one local change the laptop reads on top.
      const checkout = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'famulus-ci-checkout-')), 'ci');
      fs.cpSync(workspace, checkout, { recursive: true });
      fs.rmSync(path.join(checkout, 'README.md'));
      const model = baseSettings['famulus.modelPath'];
      bundles.set('/famulus/memory.famb', await ciBundle({ cli: path.join(REPO, 'dist', 'cli.js'), checkout, model, commit: TEAM_COMMIT }));
      await page.waitForTimeout(3_000); // VS Code reads the changed settings file
      await runCommand('Famulus: Use Team Memory');
      const famulusItem = page.locator('.statusbar-item', { hasText: 'Famulus: ready' }).first();
      await statusBar(/Famulus: ready · CPU · CI abc1234 \+1$/);
      assert.equal((await famulusItem.innerText()).trim(), 'Famulus: ready · CPU · CI abc1234 +1');
      assert.deepEqual(ci.requests, ['/famulus/memory.famb']);
      const chat = await webviewFrame('#question');
      await chat.locator('#memory-problem-text', { hasText: 'memory from CI at abc1234 + 1 local change' }).waitFor({ timeout: 15_000 });
      await chat.locator('#memory-status', { hasText: `Memory ready — ${workspaceFiles} files` }).waitFor();
      await screenshot(page, '08a-team-memory-from-ci');
    } finally {
      setServerSetting('famulus.teamMemory.source', '');
      await ci.close();
    }
  });

  step('switches to the shipped default model and reads the workspace again for it', async () => {
    const chat = await webviewFrame('#log');
    await runCommand('Famulus: Select Model');
    await page.locator('.quick-input-widget .quick-input-title', { hasText: 'Famulus: Select Model' }).waitFor({ state: 'visible' });
    // Each model with its family, size, memory mode and whether it fits; the one in use is marked.
    const rows = page.locator('.quick-input-list .monaco-list-row');
    await rows.filter({ hasText: 'Built-in model' }).filter({ hasText: 'Llama (llama) · 24.0M parameters · 45.7 MiB F16 · FAM, 64 rows' }).waitFor();
    const current = rows.filter({ hasText: 'endless-tiny' });
    assert.match(await current.innerText(), /Llama \(llama\) · [\d.]+K parameters · [\d.]+ KiB F32 · FAM, \d+ rows[^]*CPU fits: needs ~[\d.]+ MiB of [\d.]+ GiB RAM/);
    assert.equal(await current.locator('.codicon-check').count(), 1, 'the model in use is marked');
    // The quick pick fades in; a screenshot taken at once shows the editor through the list.
    await page.waitForTimeout(500);
    await screenshot(page, '08b-select-model');
    await rows.filter({ hasText: 'Built-in model' }).first().click();
    // The setting stops the engine of the test model; the memory it read is that model's, so read again.
    await chat.locator('#memory-detail', { hasNotText: 'endless-tiny' }).waitFor({ timeout: 30_000 });
    // Stopped once while it reads: the header names the button that goes on from there, as that button is labelled.
    await chat.locator('#read').click();
    const reading = page.locator('.notification-toast', { hasText: 'Famulus: reading' });
    await reading.filter({ hasText: /\d+\/\d+ files/ }).waitFor({ timeout: 180_000 });
    await reading.getByRole('button', { name: 'Cancel' }).click();
    const stopped = chat.locator('#memory-problem-text', { hasText: 'Reading was stopped' });
    await stopped.waitFor({ timeout: 60_000 });
    const label = ((await chat.locator('#read').textContent()) ?? '').trim();
    assert.match((await stopped.textContent()) ?? '', new RegExp(`; ${label} (reads the rest|starts again)\\.$`));
    await screenshot(page, '09a-read-stopped');
    await chat.locator('#read').click();
    await chat.locator('#memory-detail', { hasText: /^built-in model · CPU · updated / }).waitFor({ timeout: 180_000 });
    await chat.locator('#memory-status', { hasText: `Memory ready — ${workspaceFiles} files` }).waitFor({ timeout: 240_000 });
    await statusBar(/Famulus: ready · CPU/);
    await screenshot(page, '09-default-model-ready');
  });

  step('the default model: the read says when it is done, Files in Memory lists what was read and skipped, a Refresh with nothing changed says so', async () => {
    const chat = await webviewFrame('#question');
    // Once per workspace and model: this model's first complete read is told, with what is now in memory.
    const done = await notification(new RegExp(`Famulus has read ${workspaceFiles} files \\([\\d,]+ tokens\\) of “${path.basename(workspace)}”\\.`));
    assert.deepEqual(await done.locator('.monaco-button').allTextContents(), ['Ask a question', 'Show files']);
    await screenshot(page, '09b-read-done-notification');
    await done.getByRole('button', { name: 'Show files' }).click();
    await page.locator('.quick-input-widget .quick-input-title', { hasText: `Famulus: Files in Memory — ${workspaceFiles} files, ` }).waitFor({ state: 'visible' });
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'src/queue.ts' }).filter({ hasText: /[\d,]+ tokens/ }).waitFor();
    await screenshot(page, '09c-files-in-memory');
    // The changelog: skipped by default, with the pattern that matched.
    await page.locator('.quick-input-widget input').fill('CHANGELOG');
    const skipped = page.locator('.quick-input-list .monaco-list-row', { hasText: 'CHANGELOG.md' });
    await skipped.filter({ hasText: 'skipped by default' }).filter({ hasText: 'matches the default exclude "CHANGELOG.md"' }).waitFor();
    await screenshot(page, '09d-files-in-memory-skipped');
    await page.keyboard.press('Escape');
    await runCommand('Notifications: Clear All Notifications');
    // Refresh with nothing changed: nothing is read, and the header and a notification say so.
    assert.equal(((await chat.locator('#read').textContent()) ?? '').trim(), 'Refresh');
    await chat.locator('#read').click();
    const upToDate = /^Memory is up to date: nothing changed since /;
    await chat.locator('#memory-problem-text', { hasText: upToDate }).waitFor({ timeout: 60_000 });
    await notification(/Famulus: Memory is up to date: nothing changed since /);
    await chat.locator('#memory-status', { hasText: `Memory ready — ${workspaceFiles} files` }).waitFor();
    await screenshot(page, '09e-refresh-nothing-changed');
    await runCommand('Notifications: Clear All Notifications');
  });

  step('the default model: an answer lists its sources, and a citation it cannot verify is marked, not linked', async () => {
    const chat = await webviewFrame('#question');
    await newTopic(chat);
    const answer = await askInChat(chat, QUESTION_GENERATED);
    const sources = answer.locator('.grounding .sources a.source');
    assert.ok((await sources.count()) > 0, 'the code re-read for the answer is listed');
    // The shipped model names a file the workspace does not have: plain text, marked, with the reason.
    const unverified = answer.locator('.body .unverified-citation').first();
    await unverified.waitFor({ timeout: 5_000 });
    assert.match((await unverified.getAttribute('title')) ?? '', /^Not verified: .*not a file of the workspace/);
    assert.equal(await unverified.locator('.unverified-badge').textContent(), 'unverified');
    const cited = await unverified.evaluate((e) => e.firstChild?.textContent ?? '');
    assert.equal(await answer.locator('.body a').filter({ hasText: cited }).count(), 0, `${cited} is no link`);
    await answer.scrollIntoViewIfNeeded();
    await screenshot(page, '10-unverified-citation-and-sources');
    await opensAtItsLine(sources.first());
    await screenshot(page, '11-source-opened');
  });

  step('the default model: a verified citation is a link, and an unmatched question says it is from memory alone', async () => {
    const chat = await webviewFrame('#question');
    const located = await askInChat(chat, QUESTION_PALETTE);
    assert.match((await located.locator('.body a.citation', { hasText: 'src/queue.ts:18' }).first().getAttribute('title')) ?? '', /function retryWithBackoff/);
    assert.equal(await located.locator('.body .unverified-citation').count(), 0);
    const unmatched = await askInChat(chat, QUESTION_UNMATCHED);
    assert.equal(
      await unmatched.locator('.grounding .nothing-found').textContent(),
      'No code in the workspace matched: this answer is from the memory alone.',
    );
    assert.equal(await unmatched.locator('.sources').count(), 0);
    await screenshot(page, '12-verified-citation-and-nothing-found');
  });

  step('a which-question is answered from the index: the best matches, ranked, each a verified link with its doc comment', async () => {
    const chat = await webviewFrame('#question');
    await newTopic(chat);
    const answer = await askInChat(chat, 'Which function parses a duration?');
    assert.match((await answer.locator('.body').textContent()) ?? '', /^The functions whose names and code best match that description \(a lexical ranking, best first\)/);
    const first = answer.locator('.body a.citation').first();
    assert.equal(await first.textContent(), 'src/config.ts:30');
    assert.match((await first.getAttribute('title')) ?? '', /function parseDuration/);
    assert.equal(await answer.locator('.body .unverified-citation').count(), 0);
    await answer.scrollIntoViewIfNeeded();
    await screenshot(page, '12-which-function');
  });

  step('the default model: a file it writes is a code block, cut off at the answer length; Insert at cursor, Copy, Continue, Regenerate', async () => {
    setServerSetting('famulus.answerLength', SHORT_ANSWER);
    await page.waitForTimeout(3_000); // VS Code reads the changed settings file
    const chat = await webviewFrame('#question');
    await newTopic(chat);
    const answer = await askInChat(chat, QUESTION_FILE);
    const block = answer.locator('.body .code-block').first();
    await block.waitFor();
    // `<|file|>PATH` is no text: the path is the block's caption, the code is highlighted, no stray list or token.
    assert.match((await block.locator('.code-caption').textContent()) ?? '', /^[\w./-]+\.\w+$/);
    assert.doesNotMatch((await answer.locator('.body').innerText()) ?? '', /<\|file\|>/);
    const code = (await block.locator('pre code').textContent()) ?? '';
    assert.ok(code.length > 0);
    assert.equal(
      ((await answer.locator('.cut-off').textContent()) ?? '').trim(),
      `Cut off at ${SHORT_ANSWER} tokens — continue? Continue`,
    );
    assert.deepEqual(await answer.locator('.answer-actions button').allTextContents(), ['Copy', 'Regenerate']);
    await answer.scrollIntoViewIfNeeded();
    await screenshot(page, '12a-file-as-code-cut-off');

    // Insert at cursor: into the editor that was active, at its cursor.
    await runCommand('File: New Untitled Text File');
    await page.locator('.tabs-container .tab.active', { hasText: 'Untitled' }).waitFor({ timeout: 30_000 });
    await block.getByRole('button', { name: 'Insert at cursor' }).click();
    const firstLine = code.split('\n')[0]!.trim();
    await page.locator('.editor-instance .monaco-editor .view-lines', { hasText: firstLine }).first().waitFor({ timeout: 15_000 });
    await screenshot(page, '12b-code-inserted-at-cursor');
    await block.getByRole('button', { name: 'Copy' }).click();
    await statusBar('Famulus: code copied', 15_000);

    // Continue: the same start, then more, in the same entry.
    const before = (await answer.locator('.body').innerText()).trim();
    const entries = await chat.locator('.entry').count();
    await answer.locator('.cut-off button', { hasText: 'Continue' }).click();
    await answer.locator('xpath=self::*[@data-status="streaming"]').waitFor({ timeout: 30_000 });
    assert.equal(await ended(answer), 'done');
    const after = (await answer.locator('.body').innerText()).trim();
    assert.ok(after.startsWith(before.slice(0, 40)) && after.length > before.length, `continued: ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
    assert.equal(await chat.locator('.entry').count(), entries, 'continued in place');
    const written = Number(/^(\d+) tokens/.exec((await answer.locator('.footer').textContent()) ?? '')?.[1]);
    assert.ok(written > SHORT_ANSWER && written <= 2 * SHORT_ANSWER, `${written} tokens after Continue`);
    await answer.scrollIntoViewIfNeeded();
    await screenshot(page, '12c-continued');

    // Regenerate: sampled afresh, in place, and the footer says so.
    await answer.locator('.answer-actions button', { hasText: 'Regenerate' }).click();
    await answer.locator('xpath=self::*[@data-status="streaming"]').waitFor({ timeout: 30_000 });
    assert.equal(await ended(answer), 'done');
    assert.match((await answer.locator('.footer').textContent()) ?? '', /sampled at temperature 0\.7/);
    assert.equal(await chat.locator('.entry').count(), entries);
    await answer.scrollIntoViewIfNeeded();
    await screenshot(page, '12d-regenerated');

    // A doc comment the model writes is code, not a bullet list of its ` * ` lines.
    setServerSetting('famulus.answerLength', JSDOC_ANSWER);
    await page.waitForTimeout(3_000);
    await newTopic(chat);
    const doc = await askInChat(chat, QUESTION_JSDOC);
    const quoted = await doc.locator('.body pre code').allTextContents();
    assert.ok(quoted.some((c) => /^\s*\/\*\*\n\s+\* \S/.test(c)), `a doc comment in a code block: ${JSON.stringify(quoted)}`);
    assert.equal(await doc.locator('.body li').count(), 0, 'no list items');
    await doc.scrollIntoViewIfNeeded();
    await screenshot(page, '12e-doc-comment-as-code');
    setServerSetting('famulus.answerLength', 4096);
  });

  step('the default model: a follow-up sees the conversation, and New topic starts afresh with a divider', async () => {
    setServerSetting('famulus.answerLength', FOLLOW_UP_ANSWER);
    await page.waitForTimeout(3_000);
    const chat = await webviewFrame('#question');
    const newTopic = chat.locator('#new-topic');
    const dividers = await chat.locator('.topic-divider').count();
    await newTopic.click();
    await chat.locator('.topic-divider').nth(dividers).waitFor({ timeout: 15_000 });
    assert.equal(await newTopic.isDisabled(), true, 'nothing to start right after a new topic');
    const what = await askInChat(chat, 'What does `reclaimExpired` do?');
    assert.match(await what.locator('.body').innerText(), /Puts every job whose lease has run out back in the queue/);
    // "it" is what the conversation is about: the index answers where it is defined.
    const where = await askInChat(chat, 'Where is it defined?');
    assert.match(await where.locator('.body').innerText(), /`?reclaimExpired`? is defined at src\/queue\.ts:65/);
    await where.locator('.body a.citation', { hasText: 'src/queue.ts:65' }).first().waitFor();
    // A follow-up the model answers: the earlier turns were streamed before it, and its footer says how many.
    const called = await askInChat(chat, 'and where is it called?');
    assert.match((await called.locator('.footer').textContent()) ?? '', /follows 2 earlier turns/);
    await called.scrollIntoViewIfNeeded();
    await screenshot(page, '12e1-follow-up-conversation');
  });

  step('Ask about Selection (Ctrl+Alt+A): the selected lines are a removable chip, the input has focus, the answer is about them', async () => {
    // The quick input opened by F1 goes to a file when its text has no `>`, and to a line after `:`.
    const quickInput = async (text: string) => {
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget input');
      await input.waitFor({ state: 'visible' });
      await input.fill(text);
    };
    await quickInput('src/queue.ts');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'queue.ts' }).first().waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.tabs-container .tab.active', { hasText: 'queue.ts', hasNotText: 'test' }).waitFor({ timeout: 30_000 });
    await quickInput(':64');
    await page.keyboard.press('Enter');
    await statusBar(/Ln 64, Col 1/, 15_000);
    for (let i = 0; i < 6; i++) await page.keyboard.press('Shift+ArrowDown');
    await statusBar(/\(6 selected\)|6 lines selected|Ln 70, Col 1/, 15_000);
    await page.keyboard.press('Control+Alt+A');
    const chat = await webviewFrame('#question');
    const chip = chat.locator('#context-chips .chip.attached', { hasText: 'src/queue.ts:64-69' });
    await chip.waitFor({ timeout: 30_000 });
    await chat.locator('#question:focus').waitFor({ timeout: 15_000 });
    // The file is offered too, off until clicked.
    await chat.locator('#context-chips button.chip.offered', { hasText: '+ src/queue.ts · current file' }).waitFor();
    await screenshot(page, '12e2-ask-about-selection-chip');
    const answers = await chat.locator('.entry.assistant').count();
    await page.keyboard.type('What does this do?');
    await page.keyboard.press('Enter');
    const answer = chat.locator('.entry.assistant').nth(answers);
    assert.equal(await ended(answer), 'done');
    assert.match(await answer.locator('.body').innerText(), /JobQueue\.reclaimExpired.*src\/queue\.ts:65.*doc comment: Puts every job whose lease/s);
    await chat.locator('.entry.user').last().locator('.asked-context .chip', { hasText: 'src/queue.ts:64-69 · selection' }).waitFor();
    assert.equal(await chip.count(), 0, 'the selection went with that question');
    await answer.scrollIntoViewIfNeeded();
    await screenshot(page, '12e3-ask-about-selection-answer');
  });

  step('#file and @file in the question: each shown resolved or not found while typing, and re-read with the question', async () => {
    const chat = await webviewFrame('#question');
    await chat.locator('#question').fill('How does @server.ts use #src/queue.ts and @nope.ts?');
    await chat.locator('#context-chips .chip', { hasText: '@server.ts → src/server.ts' }).waitFor({ timeout: 15_000 });
    await chat.locator('#context-chips .chip', { hasText: '#src/queue.ts → src/queue.ts' }).waitFor();
    await chat.locator('#context-chips .chip.unresolved', { hasText: '@nope.ts: no such file in the workspace' }).waitFor();
    await screenshot(page, '12e4-file-references-typed');
    const answers = await chat.locator('.entry.assistant').count();
    await chat.locator('#question').press('Enter');
    const answer = chat.locator('.entry.assistant').nth(answers);
    assert.equal(await ended(answer), 'done');
    const asked = chat.locator('.entry.user').last().locator('.asked-context');
    assert.deepEqual(await asked.locator('.chip').allTextContents(), ['src/server.ts · reference', 'src/queue.ts · reference', '⚠ @nope.ts: not found']);
    const sources = await answer.locator('.sources li').allTextContents();
    assert.ok(sources.some((t) => /^src\/server\.ts:1-\d+ .*\(your context\)/.test(t)), sources.join(' | '));
    await answer.scrollIntoViewIfNeeded();
    await screenshot(page, '12e5-file-references-answer');
    setServerSetting('famulus.answerLength', 4096);
  });

  step('WebGPU chosen where there is no GPU: the answer comes from the CPU, the header says so in a line, and Use CPU sets the device', async () => {
    const chat = await webviewFrame('#question');
    await runCommand('Famulus: Select Device');
    await page.locator('.quick-input-widget .quick-input-title', { hasText: 'Famulus: Select Device' }).waitFor({ state: 'visible' });
    // Typed, not clicked: "auto" describes itself with the word WebGPU too.
    await page.locator('.quick-input-widget input').fill('webgpu');
    await page.locator('.quick-input-list .monaco-list-row').first().waitFor();
    await page.keyboard.press('Enter');
    await chat.locator('#memory-detail', { hasNotText: 'built-in model' }).waitFor({ timeout: 30_000 });
    const answer = await askInChat(chat, QUESTION_PALETTE);
    assert.equal(await answer.getAttribute('data-status'), 'done');
    const problem = chat.locator('#memory-problem-text');
    await problem.waitFor({ timeout: 60_000 });
    assert.equal(await problem.textContent(), 'No GPU adapter found: the model runs on the CPU.');
    assert.equal(await chat.locator('#memory-action').textContent(), 'Use CPU');
    assert.notEqual(await chat.locator('body').getAttribute('data-phase'), 'error');
    assert.doesNotMatch(await chat.locator('header').innerText(), /onnxruntime|webgpu_context|RequestAdapterStatus/);
    await page.locator('.notification-toast', { hasText: 'No GPU adapter found' }).waitFor({ timeout: 30_000 });
    await screenshot(page, '12f-no-gpu-adapter');
    await chat.locator('#memory-action').click();
    await chat.locator('#memory-problem').waitFor({ state: 'hidden', timeout: 30_000 });
    await statusBar(/Famulus: ready · CPU/);
    await runCommand('Notifications: Clear All Notifications');
    await screenshot(page, '12g-use-cpu');
  });

  step('a model that cannot load: a short error with Select Model; the status recovers once the setting is fixed', async () => {
    const chat = await webviewFrame('#question');
    const missing = path.join(os.tmpdir(), 'famulus-no-such-model');
    setServerSetting('famulus.modelPath', missing);
    await chat.locator('#memory-detail', { hasNotText: 'built-in model' }).waitFor({ timeout: 30_000 });
    const before = await chat.locator('.entry.assistant').count();
    await chat.locator('#question').fill(QUESTION_PALETTE);
    await chat.locator('#question').press('Enter');
    const answer = chat.locator('.entry.assistant').nth(before);
    assert.equal(await ended(answer), 'error');
    const message = `The model could not be loaded: model directory ${missing} does not exist.`;
    assert.equal((await answer.locator('.body').innerText()).trim(), message);
    assert.deepEqual(await answer.locator('.answer-actions button').allTextContents(), ['Select Model', 'Try again']);
    await chat.locator('body[data-phase="error"]').waitFor();
    assert.equal(await chat.locator('#memory-problem-text').textContent(), message);
    assert.equal(await chat.locator('#memory-action').textContent(), 'Select Model');
    await statusBar(/Famulus: engine error/);
    await answer.scrollIntoViewIfNeeded();
    await screenshot(page, '12h-model-error');
    // Fixed in the settings: the memory opens again at once, without waiting for a question.
    setServerSetting('famulus.modelPath', '');
    await statusBar(/Famulus: ready · CPU/);
    await chat.locator('#memory-status', { hasText: `Memory ready — ${workspaceFiles} files` }).waitFor({ timeout: 60_000 });
    assert.equal(await chat.locator('#memory-problem').isVisible(), false);
    await screenshot(page, '12i-recovered');
  });

  step('Clear Conversation can be undone', async () => {
    const chat = await webviewFrame('#log');
    const count = await chat.locator('.entry').count();
    assert.ok(count > 0);
    await runCommand('Famulus: Clear Conversation');
    await chat.locator('#undo-clear').waitFor({ state: 'visible', timeout: 15_000 });
    assert.equal(await chat.locator('.entry').count(), 0);
    assert.equal(await chat.locator('#empty-hint').isVisible(), true);
    await screenshot(page, '12j-cleared-with-undo');
    await chat.locator('#undo-clear-button').click();
    await chat.locator('#undo-clear').waitFor({ state: 'hidden', timeout: 15_000 });
    assert.equal(await chat.locator('.entry').count(), count);
  });

  step('summarises a file from the explorer context menu into a panel beside the editor', async () => {
    await page.keyboard.press('Control+Shift+E');
    const explorer = page.locator('.explorer-folders-view');
    await explorer.waitFor();
    const row = await explorerRow(page, explorer, /^src$/, /^store\.ts$/);
    // The command ran when its panel's tab shows (titled after the file as soon as the summary starts).
    await contextMenuCommand(page, row, 'Summarise File', {
      focused: explorer.locator('.monaco-list-row.focused', { hasText: /^store\.ts$/ }),
      ran: page.locator('.tabs-container .tab', { hasText: /Famulus Summary|Summary: store\.ts/ }),
    });
    const panel = await webviewFrame('#summary');
    await panel.locator('#file', { hasText: 'src/store.ts' }).waitFor();
    await panel.locator('#copy:not([disabled])').waitFor({ timeout: 180_000 });
    assert.match((await panel.locator('#stats').textContent()) ?? '', /tokens|quoted from the code/);
    // The file was re-read for its summary: listed under it, a link to it.
    await panel.locator('#sources a.source', { hasText: /^src\/store\.ts:1(-\d+)?$/ }).first().waitFor();
    await screenshot(page, '13-summary-panel');
    await opensAtItsLine(panel.locator('#sources a.source').first());
    await panel.locator('#open-markdown').click();
    await page.locator('.tabs-container .tab.active', { hasText: 'Untitled' }).waitFor({ timeout: 30_000 });
    await page.locator('.monaco-editor .view-lines', { hasText: 'Summary of src/store.ts' }).first().waitFor();
    await screenshot(page, '14-summary-as-markdown');
  });

  step('after a reload, the memory is restored at once and the conversation is still there', async () => {
    await page.reload();
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await statusBar(/Famulus: ready · CPU/);
    // Reading again would show the offer or a progress toast; a restore shows neither.
    assert.equal(await page.locator('.notification-toast', { hasText: 'into memory' }).count(), 0);
    await showFamulus();
    const chat = await webviewFrame('#log');
    await chat.locator('#memory-status', { hasText: /Memory ready — \d+ files/ }).waitFor({ timeout: 30_000 });
    assert.ok((await chat.locator('.entry.user').count()) >= 3, 'the conversation survived the reload');
    // With what each answer was grounded on, and its citations as checked.
    assert.ok((await chat.locator('.entry.assistant .sources a.source').count()) > 0, 'the sources survived the reload');
    assert.ok((await chat.locator('.entry.assistant .unverified-citation').count()) > 0, 'the unverified marks survived the reload');
    assert.equal(await chat.locator('.entry.assistant .nothing-found').count(), 1);
    assert.ok((await chat.locator('.topic-divider').count()) >= 1, 'the topic boundaries survived the reload');
    assert.ok((await chat.locator('.asked-context .chip').count()) > 0, "the questions' context survived the reload");
    await screenshot(page, '15-after-reload');
  });
});
