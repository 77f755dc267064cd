/**
 * Checks every `path:line` an answer cites against the workspace index (docs/grounded-answers.md, "Citations you
 * can trust"): the file is one the memory has read, the line is inside it, and, when the question asked where
 * a name is defined, the line is that name's definition. Verified citations become links; the rest are shown
 * as unverified text.
 */
import type { WorkspaceIndex } from '../index';
import type { Citation } from './protocol';

/**
 * `path:line` (also `path:line-line` and `path:line:column`): a path with a `/` or an extension, then a colon
 * and digits. A path may start with `./`, `../` or `/` (those are then refused, not skipped); what precedes it
 * must not be part of a word or a URL (`http://host:80` is no citation).
 */
const CITATION = /(?<![\w/.@:-])((?:\/|\.{1,2}\/)*(?:[\w@$+~-][\w@$+~.-]*\/)*[\w@$+~-][\w@$+~.-]*):(\d{1,9})(?:-\d{1,9}|:\d{1,6})?(?![\w:/])/g;

export interface CitationContext {
  index: WorkspaceIndex;
  /** For a "where is X defined" question: the names asked about. */
  definitionOf?: string[];
}

/** Finds and checks the citations in `answer`, in the order written (each distinct text once). */
export function checkCitations(answer: string, ctx: CitationContext): Citation[] {
  const seen = new Set<string>();
  const out: Citation[] = [];
  for (const m of answer.matchAll(CITATION)) {
    const [text, rawPath, rawLine] = m as unknown as [string, string, string];
    if (!/[/.]/.test(rawPath) || seen.has(text)) continue;
    seen.add(text);
    out.push(checkCitation(text, rawPath, Number(rawLine), ctx));
  }
  return out;
}

export function checkCitation(text: string, rawPath: string, line: number, ctx: CitationContext): Citation {
  const path = rawPath.replace(/\\/g, '/').replace(/^(\.\/)+/, '');
  const cite = (verified: boolean, note: string): Citation => ({ text, path, line, verified, note });
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path) || path.split('/').includes('..')) {
    return cite(false, 'the path leads outside the workspace');
  }
  const file = ctx.index.file(path);
  if (!file) return cite(false, `${path} is not a file of the workspace`);
  if (line < 1 || line > file.lines) return cite(false, `line ${line} is outside ${path} (${file.lines} lines)`);
  for (const name of ctx.definitionOf ?? []) {
    const defs = ctx.index.definitions(name);
    // The question asked where this is defined: with no definition to check against, no line is verified.
    if (defs.length === 0) return cite(false, `the workspace index has no definition of ${name} to check this against`);
    const here = defs.find((d) => d.path === path && d.startLine === line);
    if (here) return cite(true, `${here.kind} ${here.qualifiedName}`);
    const where = defs.slice(0, 3).map((d) => `${d.path}:${d.startLine}`).join(', ');
    return cite(false, `not where ${name} is defined (${where})`);
  }
  const inside = ctx.index
    .outline(path)
    .filter((d) => d.startLine <= line && line <= d.endLine)
    .pop();
  return cite(true, inside ? `in ${inside.kind} ${inside.qualifiedName}` : `line ${line} of ${file.lines}`);
}
