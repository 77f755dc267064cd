/**
 * "Which function does <description>?": the definitions of the index a description is most likely about.
 *
 * The shipped model cannot pick a definition out of re-read code by what it does (docs/results/qa-kinds.md: 0 of
 * 50 right), so the engine ranks them itself, lexically, and says it is a ranking: each candidate's place is the
 * index's, so it is checkable, and the user sees the runners-up when the first is wrong. A definition scores by
 * how well the code it owns matches the description (the index's BM25 over chunks, relative to the best match)
 * plus the share of its name's words the description uses ("Add `num` to `this` in-place" → `iadd`'s add;
 * "Returns the memoized trace entry" → `getMemoizedTraceEntry`).
 */
import type { Definition, WorkspaceIndex } from '../index';
import { codeTerms } from '../index/terms';
import { leadSentences } from './answers';

/**
 * The question's head before the description: "Which function does this:", "What class handles", "Find the method
 * that". "What type is `x`?" asks for a type, not for a definition, so types and interfaces only with "which".
 */
const WHICH_HEAD =
  /^\s*(?:which\s+(function|method|class|constructor|type|interface)s?|what\s+(function|method|class|constructor)s?|(?:find|show)\s+(?:me\s+)?(?:the\s+)?(function|method|class)s?\s+(?:that|which))\b\s*(?:(?:does|do|is|are)\s+(?:this\s*:)?)?\s*/i;

/** What a which-question is looking for: class-like or function-like definitions, and the description. */
export interface WhichQuestion {
  wants: 'class' | 'function';
  description: string;
}

/** The which-question a question is, or null: "Which function does this: …", "What class represents …". */
export function whichQuestionOf(question: string): WhichQuestion | null {
  const m = WHICH_HEAD.exec(question);
  if (!m) return null;
  const noun = (m[1] ?? m[2] ?? m[3]!).toLowerCase();
  const description = question.slice(m[0].length).trim();
  if (codeTerms(description).length === 0) return null;
  return { wants: noun === 'class' || noun === 'type' || noun === 'interface' ? 'class' : 'function', description };
}

const KINDS: Record<WhichQuestion['wants'], ReadonlySet<string>> = {
  function: new Set(['function', 'method', 'macro']),
  class: new Set(['class', 'interface', 'struct', 'trait', 'enum', 'type']),
};

/** English words a description is made of that say nothing about which definition it is. */
const FILLER = new Set(
  ('a an and any are as at be by can do does each for from given if in into is it its of on one or otherwise than ' +
    'that the their them then there this to when whether which will with').split(' '),
);

/** A light English stem, the same for a description's words and a name's parts: "checks"/"checked"/"checking" → "check". */
function stem(word: string): string {
  if (word.length <= 3) return word;
  return word.replace(/ies$/, 'y').replace(/(?:ing|ed|es|s)$/, '').replace(/e$/, '');
}

/** The words of a description that can name a definition, stemmed. */
function descriptionWords(description: string): Set<string> {
  return new Set(codeTerms(description).filter((t) => !FILLER.has(t)).map(stem));
}

/** The share of a name's words (split as the index splits them) that the description uses. */
function nameShare(words: Set<string>, name: string): number {
  const parts = codeTerms(name);
  // A compound name's first term is the whole name lower-cased; its parts follow.
  const own = [...new Set((parts.length > 1 ? parts.slice(1) : parts).map(stem))];
  if (own.length === 0) return 0;
  return own.filter((p) => words.has(p)).length / own.length;
}

/** Chunks of the lexical search looked at per description. */
const SEARCH_HITS = 50;

export interface WhichMatch {
  definition: Definition;
  /** The chunk match relative to the best (0-1) plus the name share (0-1). */
  score: number;
}

/**
 * The definitions a description is most likely about, best first, at most `limit`; none when nothing matches.
 * A class question about a workspace with no class that matches (JavaScript's constructor functions) is
 * answered with functions.
 */
export function matchDefinitions(which: WhichQuestion, index: WorkspaceIndex, limit: number): WhichMatch[] {
  const matches = rank(which, KINDS[which.wants], index, limit);
  return matches.length > 0 || which.wants === 'function' ? matches : rank(which, KINDS.function, index, limit);
}

function rank(which: WhichQuestion, kinds: ReadonlySet<string>, index: WorkspaceIndex, limit: number): WhichMatch[] {
  const byOwner = new Map<string, number>();
  let best = 0;
  for (const hit of index.search(which.description, SEARCH_HITS)) {
    if (!hit.chunk.definition) continue;
    const key = `${hit.chunk.path}\0${hit.chunk.definition}`;
    byOwner.set(key, Math.max(byOwner.get(key) ?? 0, hit.score));
    best = Math.max(best, hit.score);
  }
  const words = descriptionWords(which.description);
  const matches: WhichMatch[] = [];
  for (const file of index.files()) {
    for (const d of index.outline(file.path)) {
      if (!kinds.has(d.kind)) continue;
      const code = best > 0 ? (byOwner.get(`${d.path}\0${d.qualifiedName}`) ?? 0) / best : 0;
      const score = code + nameShare(words, d.name);
      if (score > 0) matches.push({ definition: d, score });
    }
  }
  // Equal scores: in path and line order (index.files() and outline() give that order, and the sort is stable).
  return matches.sort((a, b) => b.score - a.score).slice(0, limit);
}

/** The engine's answer to a which-question: the ranking, each with its place and doc comment's first sentence. */
export function whichText(which: WhichQuestion, matches: WhichMatch[]): string {
  if (matches.length === 0) return `No ${which.wants} in the workspace index matches that description.`;
  const rows = matches.map(({ definition: d }) => {
    const doc = leadSentences(d.doc);
    return `- \`${d.qualifiedName}\` at ${d.path}:${d.startLine} (${d.kind})${doc ? `: ${doc}` : ''}`;
  });
  const plural = matches.every((m) => KINDS.class.has(m.definition.kind)) ? 'classes' : matches.every((m) => KINDS.function.has(m.definition.kind)) ? 'functions' : 'definitions';
  return `The ${plural} whose names and code best match that description (a lexical ranking, best first):\n${rows.join('\n')}`;
}
