/**
 * The HTML shell of both webviews. Locked down before anything runs: a CSP that starts `default-src 'none'`,
 * styles and fonts from the webview's own origin only, scripts only with this render's nonce, no inline script,
 * and resources only from the bundled `dist/webview/` folder (the webview's localResourceRoots).
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { READ_BUTTON } from '../webview/protocol';

export type WebviewKind = 'chat' | 'summary';

/** The only folder a webview may load from. */
export function webviewRoot(extensionUri: vscode.Uri): vscode.Uri {
  return vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
}

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return { enableScripts: true, enableCommandUris: false, localResourceRoots: [webviewRoot(extensionUri)] };
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `img-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
    "connect-src 'none'",
    "form-action 'none'",
    "frame-src 'none'",
    "base-uri 'none'",
  ].join('; ');
}

export function newNonce(): string {
  return randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

export function webviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, kind: WebviewKind): string {
  const nonce = newNonce();
  const root = webviewRoot(extensionUri);
  const script = webview.asWebviewUri(vscode.Uri.joinPath(root, `${kind}.js`));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(root, `${kind}.css`));
  const body = kind === 'chat' ? CHAT_BODY : SUMMARY_BODY;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(webview.cspSource, nonce)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${style.toString()}">
<title>${kind === 'chat' ? 'Famulus Chat' : 'Famulus Summary'}</title>
</head>
<body>
${body}
<script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
}

const CHAT_BODY = `<header role="banner" aria-label="Workspace memory">
  <div class="header-row">
    <span id="memory-status" role="status" aria-live="polite">Starting…</span>
    <button id="read" class="secondary" type="button" aria-label="Read the workspace into memory">${READ_BUTTON.read}</button>
    <button id="status-button" class="secondary" type="button" aria-label="Show memory status" title="Show memory status">Status</button>
  </div>
  <div id="memory-detail"></div>
  <div id="memory-problem" class="header-row" hidden>
    <span id="memory-problem-text"></span>
    <button id="memory-action" class="secondary" type="button"></button>
  </div>
  <div id="progress" hidden role="progressbar" aria-label="Reading the workspace">
    <progress id="progress-bar" max="100" value="0"></progress>
    <span id="progress-text" aria-live="polite"></span>
  </div>
</header>
<div id="undo-clear" class="header-row" hidden role="status">
  <span>Conversation cleared.</span>
  <button id="undo-clear-button" class="secondary" type="button">Undo</button>
</div>
<main id="log" class="markdown" role="log" aria-label="Conversation" aria-live="polite" tabindex="0">
  <div id="empty-hint">
    <p><strong>Ask about this workspace.</strong> Famulus answers with <span id="hint-model">a small language model</span> that runs on this machine, offline, from what it has read of this folder.</p>
    <p>It is a small model and often wrong, so check its answers: under each one are its <strong>sources</strong>, the code it read again for the answer (a click opens it). A <code>path:line</code> that Famulus checked against the workspace is a link; any other is marked <em>unverified</em>. Where a name is defined and what its doc comment says are quoted from the code, not generated.</p>
  </div>
</main>
<form id="composer" aria-label="Ask Famulus">
  <div id="context-chips" class="chips" hidden aria-label="Code the next question is about"></div>
  <textarea id="question" rows="2" placeholder="Ask about this workspace; #path or @file adds a file (Shift+Enter: new line)" aria-label="Question"></textarea>
  <div class="actions">
    <button id="new-topic" type="button" class="secondary" disabled title="Start a new topic: the next questions do not see the conversation so far" aria-label="New topic">New topic</button>
    <span class="hint" aria-hidden="true">Enter ↵ send · Esc stop</span>
    <button id="stop" type="button" class="secondary" hidden aria-label="Stop the answer">Stop</button>
    <button id="send" type="button" aria-label="Send the question">Send</button>
  </div>
</form>`;

const SUMMARY_BODY = `<header role="banner">
  <h1 id="file" aria-label="Summarised file"></h1>
  <button id="stop" type="button" class="secondary" hidden aria-label="Stop the summary">Stop</button>
  <button id="copy" type="button" class="secondary" aria-label="Copy the summary">Copy</button>
  <button id="open-markdown" type="button" aria-label="Open the summary as a markdown document">Open as Markdown</button>
</header>
<main id="summary" class="markdown" role="document" aria-label="Summary" aria-live="polite"></main>
<div id="sources"></div>
<div id="stats" role="status"></div>`;
