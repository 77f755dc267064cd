/**
 * The parts of an answer that come from the workspace itself, not from the model: where a name is defined
 * (the index's line, right by construction) and what its own documentation says (its doc comment, a file's
 * header comment). The engine writes these first; the model answers only what they do not.
 *
 * A small model copies poorly even with the code in front of it (docs/grounded-answers.md); quoting the code's
 * own documentation is what its training target for these questions is anyway (docs/prompt-format.md).
 */
import type { Definition } from '../index';

/** Most characters quoted from a doc comment or header. */
const MAX_QUOTE_CHARS = 320;

/**
 * How much a definition is "the" definition of its name: a function or class before a variable or field
 * that may only hold or re-export it (`exports.Command = Command`).
 */
const KIND_RANK: Record<string, number> = { function: 0, class: 0, method: 0, interface: 0, struct: 0, trait: 0, enum: 0, type: 1, module: 1, macro: 1, rule: 1, constant: 2, variable: 2, field: 2 };

/** Definitions of one name, the most definitional first (then in path order, as the index gave them). */
export function rankDefinitions(defs: Definition[]): Definition[] {
  return defs.map((d, i) => ({ d, i })).sort((a, b) => (KIND_RANK[a.d.kind] ?? 1) - (KIND_RANK[b.d.kind] ?? 1) || a.i - b.i).map(({ d }) => d);
}

/** Where a name is defined: one place, or each of several (the most definitional first). */
export function locationText(name: string, found: Definition[]): string {
  const defs = rankDefinitions(found);
  const place = (d: Definition) => `${d.path}:${d.startLine}`;
  if (defs.length === 1) return `\`${name}\` is defined at ${place(defs[0]!)} (${defs[0]!.kind} ${defs[0]!.qualifiedName}).`;
  const shown = defs.slice(0, 5).map((d) => `- ${place(d)} (${d.kind} ${d.qualifiedName})`);
  const more = defs.length > 5 ? `\n- and ${defs.length - 5} more` : '';
  return `\`${name}\` is defined in ${defs.length} places:\n${shown.join('\n')}${more}`;
}

/**
 * What a definition's doc comment says, quoted and attributed (`short` when its location was just given),
 * or null when none of the definitions has one.
 */
export function docText(name: string, defs: Definition[], short = false): string | null {
  const documented = rankDefinitions(defs).find((d) => leadSentences(d.doc) !== '');
  if (!documented) return null;
  if (short) return `From its doc comment: ${leadSentences(documented.doc)}`;
  const where = `${documented.kind} at ${documented.path}:${documented.startLine}`;
  return `\`${name}\` (${where}), from its doc comment: ${leadSentences(documented.doc)}`;
}

/** A doc text's first paragraph on one line: it ends at a blank line, a tag (`@param`) or a Sphinx field (`:param x:`). */
export function firstParagraph(doc: string): string {
  const paragraph: string[] = [];
  for (const raw of doc.split('\n')) {
    const line = raw.trim();
    if (line === '' || /^[@:]\w/.test(line)) {
      if (paragraph.length > 0 || /^[@:]\w/.test(line)) break;
      continue;
    }
    paragraph.push(line);
  }
  return paragraph.join(' ').replace(/\s+/g, ' ').trim();
}

/**
 * The first paragraph of a doc text, at most two sentences: tags (`@param`), Sphinx fields (`:param x:`) and
 * later paragraphs are left out.
 */
export function leadSentences(doc: string): string {
  const text = firstParagraph(doc);
  // A sentence ends at . ! or ? before a space or the end: `state.fams` and `v1.2` go on.
  let end = text.length;
  let sentences = 0;
  for (const m of text.matchAll(/[.!?]+(?=\s|$)/g)) {
    if (++sentences === 2) {
      end = m.index! + m[0].length;
      break;
    }
  }
  const two = text.slice(0, end).trim();
  return two.length <= MAX_QUOTE_CHARS ? two : `${two.slice(0, MAX_QUOTE_CHARS - 1).trimEnd()}…`;
}

/**
 * A file's header comment (a module docstring, a leading block or line comments, a markdown file's first
 * paragraph), as lead sentences; null when it has none. Licence headers are not summaries and are skipped.
 */
export function headerText(path: string, text: string): string | null {
  const lines = text.split(/\r?\n/);
  const markdown = /\.(md|markdown|mdx)$/i.test(path);
  let i = 0;
  // Shebangs, encodings, 'use strict' and blank lines come before a header.
  while (i < lines.length && /^\s*(#!|#.*coding[:=]|['"]use strict['"];?\s*$|$)/.test(lines[i]!)) i++;
  const first = lines[i] ?? '';
  let body: string[] = [];
  const python = /^\s*[rRuU]?("""|''')/.exec(first);
  if (python) {
    const quote = python[1]!;
    const rest = first.slice(first.indexOf(quote) + 3);
    if (rest.includes(quote)) body = [rest.slice(0, rest.indexOf(quote))];
    else {
      body = [rest];
      for (i++; i < lines.length && !lines[i]!.includes(quote); i++) body.push(lines[i]!);
      if (i < lines.length) body.push(lines[i]!.slice(0, lines[i]!.indexOf(quote)));
    }
  } else if (/^\s*\/\*/.test(first)) {
    for (; i < lines.length; i++) {
      body.push(lines[i]!.replace(/^\s*\/\*+!?/, '').replace(/\*+\/\s*$/, '').replace(/^\s*\*\s?/, ''));
      if (lines[i]!.includes('*/')) break;
    }
  } else if (markdown) {
    // The first paragraph that is not a heading, a badge line or a list.
    for (; i < lines.length && (lines[i]!.trim() === '' || /^\s*(#|!\[|\[!\[|<|[-*] |```)/.test(lines[i]!)); i++);
    for (; i < lines.length && lines[i]!.trim() !== '' && !/^\s*(#|```)/.test(lines[i]!); i++) body.push(lines[i]!);
  } else if (/^\s*(\/\/|#)/.test(first)) {
    for (; i < lines.length && /^\s*(\/\/|#)/.test(lines[i]!); i++) body.push(lines[i]!.replace(/^\s*(\/\/+|#+)\s?/, ''));
  }
  const lead = leadSentences(body.join('\n'));
  if (lead === '' || /\b(copyright|licensed under|license|spdx-license-identifier)\b/i.test(lead)) return null;
  return lead;
}
