/**
 * `#file` and `@file` references in a question (`What does #src/queue.ts export?`, `@queue.ts`): found here, in
 * the webview (to show each one resolved or not while the question is typed) and in the extension (which
 * resolves them against the workspace's files when the question is sent, and re-reads each as context).
 * No DOM, node or vscode API.
 */

/** Most references read from one question. */
export const MAX_REFERENCES = 20;
/** Longest reference, sigil included. */
export const MAX_REFERENCE = 300;

/**
 * `#` or `@` at the start of the text or after a space or an opening bracket or quote, then a path with a dot or
 * a slash in it: `#src/queue.ts`, `@queue.ts`, `#docs/`. So `#123`, `@param` and `a@b.com` are no references.
 */
const REFERENCE = /(^|[\s([{"'])([#@][\w.\-/]+)/g;

/** The references written in `text`, each once, in the order written (sigil included, trailing dots dropped). */
export function findReferences(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(REFERENCE)) {
    const written = m[2]!.replace(/[.]+$/, '');
    const name = written.slice(1);
    if (!/[./]/.test(name) || !/\w/.test(name) || written.length > MAX_REFERENCE || found.includes(written)) continue;
    found.push(written);
    if (found.length === MAX_REFERENCES) break;
  }
  return found;
}

/**
 * The question as the engine is asked it: each resolved reference written as its workspace path, without the
 * sigil (`#src/queue.ts` → `src/queue.ts`, `@queue.ts` → `src/queue.ts`), the way the model's questions name
 * files. Unresolved references stay as written.
 */
export function questionWithPaths(text: string, resolved: ReadonlyMap<string, string>): string {
  return text.replace(REFERENCE, (all, before: string, ref: string) => {
    const written = ref.replace(/[.]+$/, '');
    const path = resolved.get(written);
    return path === undefined ? all : `${before}${path}${ref.slice(written.length)}`;
  });
}
