/**
 * What to re-read before a question (docs/grounded-answers.md, "Retrieval per question"): the code the user
 * pointed at (a selection, a file), the definitions the question names, the files it names, the names and files
 * of the conversation's last turns (a follow-up such as "and where is it called?" names nothing itself), then
 * lexical (BM25) matches, packed into a token budget.
 *
 * The packed chunks are laid out least relevant first, so the most relevant code is the last thing the model
 * reads before the question: the shipped model attends exactly to its last ~2k tokens and keeps only the gist
 * of what came before (docs/fam.md), so a definition a question names must sit inside that window.
 */
import type { Chunk, Definition, WorkspaceIndex } from '../index';
import type { ContextRef, Source, Turn } from './protocol';
import { matchDefinitions, whichQuestionOf } from './which';

export type QuestionKind = 'where' | 'which' | 'what' | 'summarize' | 'other';

export interface QuestionAnalysis {
  kind: QuestionKind;
  /** Names the question mentions that the index defines, in the order mentioned. */
  identifiers: string[];
  /** Workspace files the question mentions (root-relative), in the order mentioned. */
  paths: string[];
  /** Names the question marks as code (in backticks) that the index does not define. */
  unknown: string[];
}

/** Words that look like identifiers but are English; never looked up as names. */
const STOPWORDS = new Set(
  ('a an and are as at be by can code defined definition do does file files find for from function how i in is it its ' +
    'method of on or project repository return returns show the this to used uses what when where which who why with workspace')
    .split(' '),
);

/** Identifier-shaped: a name, or names joined by dots (`Router.handle`); JS private names keep their `#`. */
const IDENTIFIER = /^#?[A-Za-z_$][\w$]*(?:\.#?[A-Za-z_$][\w$]*)*$/;

/** Reads what a question is about: its kind, the names it mentions that the index defines, the files it names. */
export function analyseQuestion(question: string, index: WorkspaceIndex): QuestionAnalysis {
  const kind: QuestionKind = /^\s*summari[sz]e\b/i.test(question)
    ? 'summarize'
    : whichQuestionOf(question)
      ? 'which'
      : /\bwhere\b.*\b(defined|declared|implemented|definition)\b|\b(definition|declaration) of\b|^\s*(find|locate)\b/i.test(question)
      ? 'where'
      : /\bwhat\b.*\b(does|do|is)\b/i.test(question)
        ? 'what'
        : 'other';

  // Backticked spans first (what the user marked), then every identifier- or path-shaped word.
  const marked = [...question.matchAll(/`([^`\n]{1,200})`/g)].map((m) => m[1]!.trim().replace(/\(\)$/, ''));
  const words = question.replace(/`[^`\n]*`/g, ' ').split(/[\s,;:!?()[\]{}"'<>]+/).map((w) => w.replace(/\.+$/, '').replace(/\(\)$/, ''));
  const identifiers: string[] = [];
  const paths: string[] = [];
  const unknown: string[] = [];
  const files = index.files().map((f) => f.path);
  for (const [written, wasMarked] of [...marked.map((w) => [w, true] as const), ...words.map((w) => [w, false] as const)]) {
    if (!written) continue;
    const file = findFile(written, files);
    if (file) {
      if (!paths.includes(file)) paths.push(file);
      continue;
    }
    // `Router.prototype.handle` is the method the index calls Router.handle.
    const word = written.replace(/\.prototype(?=\.)/g, '');
    if (!IDENTIFIER.test(word) || identifiers.includes(word)) continue;
    // Unmarked words must look like code (camelCase, snake_case, dotted, or a capitalised name) and not be English.
    const codeLike = wasMarked || /[a-z][A-Z]|_|\.|^[A-Z][a-z]+[A-Z]|^[A-Z][A-Za-z0-9]*$/.test(word);
    // A backticked word is a name however English it looks (true-myth's `of`, `or`).
    if (!codeLike || (!wasMarked && STOPWORDS.has(word.toLowerCase()))) continue;
    if (index.definitions(word).length > 0) identifiers.push(word);
    else if (wasMarked && !unknown.includes(word)) unknown.push(word);
  }
  return { kind, identifiers, paths, unknown };
}

/** What a follow-up leans on: the names and files of the conversation's most recent turns, most recent first. */
export interface FollowUp {
  identifiers: string[];
  paths: string[];
}

/** Earlier turns whose names feed retrieval: the most recent ones. */
const FOLLOW_UP_TURNS = 2;
/** Names and files taken from earlier turns at most: an answer can name many, and the question's come first. */
const FOLLOW_UP_NAMES = 4;
const FOLLOW_UP_PATHS = 2;

/**
 * The names the index defines and the files named in the last FOLLOW_UP_TURNS turns (given oldest first): the
 * newest turn first, its question before its answer.
 */
export function analyseHistory(turns: readonly Turn[], index: WorkspaceIndex): FollowUp {
  const identifiers: string[] = [];
  const paths: string[] = [];
  for (const turn of turns.slice(-FOLLOW_UP_TURNS).reverse()) {
    for (const text of [turn.question, turn.answer]) {
      const found = analyseQuestion(text, index);
      for (const name of found.identifiers) if (!identifiers.includes(name)) identifiers.push(name);
      for (const p of found.paths) if (!paths.includes(p)) paths.push(p);
    }
  }
  return { identifiers: identifiers.slice(0, FOLLOW_UP_NAMES), paths: paths.slice(0, FOLLOW_UP_PATHS) };
}

/** Words by which a question points back at what the conversation was about ("what does it do?"). */
const REFERS_BACK = /\b(it|its|this|that|these|those|they|them|their)\b/i;
/** How a question that goes on from the last one starts ("and where is it called?", "what about the tests?"). */
const GOES_ON = /^\s*(and|also|so|then|but|what about|how about)\b/i;

/**
 * Whether a question leans on the conversation: it points back at it or goes on from the last question. Only
 * such a question is retrieved for with the last turns' names; "Hello?" or a new question that names its own
 * code is retrieved for as if asked alone.
 */
export function leansOnConversation(question: string): boolean {
  return REFERS_BACK.test(question) || GOES_ON.test(question);
}

/** What of the conversation a question is asked with. */
export interface Conversation {
  /** The earlier turns streamed before it (within their budget), oldest first; none for a question asked alone. */
  turns: readonly Turn[];
  /** The last turns' names and files retrieval looks up after the question's own. */
  followUp: FollowUp;
}

const NO_FOLLOW_UP: FollowUp = { identifiers: [], paths: [] };

/**
 * The one rule for what a question sees of the conversation before it, whichever client sends the turns (the
 * chat those of the question's topic, the CLI the questions before it on its command line):
 * - a question that names its own subject (a name the index defines, a workspace file) and does not lean on the
 *   conversation ("What does `sleep` do?") starts afresh: asked alone, turns about something else take no room;
 * - any other question is a follow-up and sees the earlier turns: one that names nothing ("How often?") as much
 *   as one that points back or goes on ("and where is it called?", "how does `push` compare to it?");
 * - of those, the ones that lean on the conversation also re-read what its last turns named.
 */
export function conversationOf(question: string, analysis: QuestionAnalysis, turns: readonly Turn[], index: WorkspaceIndex): Conversation {
  const leans = leansOnConversation(question);
  const namesOwn = analysis.identifiers.length > 0 || analysis.paths.length > 0;
  if (namesOwn && !leans) return { turns: [], followUp: NO_FOLLOW_UP };
  return { turns, followUp: leans ? analyseHistory(turns, index) : NO_FOLLOW_UP };
}

/**
 * The name a where/what question is about: the first it names; else, when it points back ("What does this
 * do?", "Where is it defined?"), the definition the user pointed at when the question comes with code (the
 * first context entry; none for unsaved code, whose lines the index does not know), or the first name of the
 * last turns; null when there is none.
 */
export function subjectOf(
  question: string,
  analysis: QuestionAnalysis,
  about: { followUp: FollowUp; context: readonly (ContextRef & { edited?: boolean })[] },
  index: WorkspaceIndex,
): string | null {
  if (analysis.identifiers.length > 0) return analysis.identifiers[0]!;
  if (analysis.paths.length > 0 || analysis.unknown.length > 0 || !REFERS_BACK.test(question)) return null;
  const pointedAt = about.context[0];
  if (pointedAt) return pointedAt.edited ? null : definitionAt(pointedAt, index);
  return about.followUp.identifiers[0] ?? null;
}

/**
 * The definition a span of code is (qualified name): the first that starts inside it, else the innermost that
 * holds it; null for a whole file or a span with no definition.
 */
export function definitionAt(span: ContextRef, index: WorkspaceIndex): string | null {
  if (span.startLine === undefined) return null;
  const start = span.startLine;
  const end = span.endLine ?? start;
  const defs = index.outline(span.path);
  const starting = defs.filter((d) => d.startLine >= start && d.startLine <= end).sort((a, b) => a.startLine - b.startLine || b.endLine - a.endLine);
  if (starting.length > 0) return starting[0]!.qualifiedName;
  const holding = defs.filter((d) => d.startLine <= start && d.endLine >= end).sort((a, b) => b.startLine - a.startLine);
  return holding[0]?.qualifiedName ?? null;
}

/** A workspace file a word names: the exact path, or the only file whose path ends with it (`queue.ts`). */
function findFile(word: string, files: string[]): string | null {
  const name = word.replace(/\\/g, '/').replace(/^\.\//, '');
  if (!/[/.]/.test(name) || name.startsWith('/') || name.split('/').includes('..')) return null;
  if (files.includes(name)) return name;
  if (!name.includes('.')) return null;
  const endings = files.filter((f) => f.endsWith(`/${name}`));
  return endings.length === 1 ? endings[0]! : null;
}

/**
 * Code the user pointed at, root-relative, with the lines of its file as the question sees them: the editor's
 * unsaved text when the request carried it (ContextRef.text), else the file as it was read from disk, once.
 */
export interface ContextSpan extends Omit<ContextRef, 'text'> {
  lines: string[];
  /** The lines came with the request (unsaved changes): the index, of the saved files, may place them elsewhere. */
  edited: boolean;
}

/** What retrieval works from: the question, and what the request says beside it. */
export interface RetrievalQuery {
  question: string;
  analysis: QuestionAnalysis;
  /**
   * Code the user pointed at, most important first: it gets the budget before anything retrieval finds, and its
   * lines are the version of its file every span of this question re-reads.
   */
  context?: readonly ContextSpan[];
  /** The names and files of the last turns (conversationOf), looked up after the question's own. */
  followUp?: FollowUp;
}

/** A span of a file chosen for re-reading, with its text and its tokens in the re-read layout. */
export interface RereadChunk extends Source {
  text: string;
  tokens: number[];
}

export interface Retrieval {
  /** In the order they are streamed: least relevant first. */
  chunks: RereadChunk[];
  tokens: number;
  /** Nothing relevant was found (not: nothing fitted the budget): the answer comes from the memory alone. */
  nothingFound: boolean;
}

export interface RetrievalIO {
  /** The lines of a workspace file as it is on disk now, or null when it cannot be read. */
  readLines(path: string): Promise<string[] | null>;
  /** The tokens of a chunk in the re-read layout (prompt.ts rereadChunkTokens). */
  tokenize(path: string, startLine: number, endLine: number, text: string): number[];
}

/** Lexical matches considered per question. */
const SEARCH_HITS = 12;
/** Definitions of one name re-read at most (overloads, same-named methods). */
const DEFINITIONS_PER_NAME = 3;
/**
 * Definitions a which-question's description matches best: the engine's answer lists them (engine.ts answers
 * it from the index, re-reading nothing), and they are what retrieval re-reads for one (reread-dump's samples).
 */
export const WHICH_CANDIDATES = 3;
/** A named file longer than this many lines is re-read as its outline and head, not whole. */
const WHOLE_FILE_LINES = 400;
/** The head of a file re-read with its outline. */
const HEAD_LINES = 30;

export interface Candidate {
  path: string;
  startLine: number;
  endLine: number;
  reason: Source['reason'];
  definition?: string;
}

/**
 * Chooses and packs what to re-read for a question: the context the user gave, the definitions and files the
 * question names, then (for a question that leans on the conversation: `query.followUp`) those the last turns
 * named, then lexical matches. Such a question that names nothing itself is searched for together with the last turns' names,
 * which finds where they are used.
 */
export async function retrieve(query: RetrievalQuery, index: WorkspaceIndex, budget: number, io: RetrievalIO): Promise<Retrieval> {
  const { question, analysis } = query;
  const followUp = query.followUp ?? NO_FOLLOW_UP;
  // The context's files are read already (or come from the editor): one version of each file per question.
  const lines = new Map<string, string[] | null>((query.context ?? []).map((c) => [c.path, c.lines]));
  const linesOf = async (p: string) => {
    if (!lines.has(p)) lines.set(p, await io.readLines(p));
    return lines.get(p)!;
  };

  // Most relevant first.
  const candidates: Candidate[] = (query.context ?? []).map((c) => ({ path: c.path, startLine: c.startLine ?? 1, endLine: c.endLine ?? Infinity, reason: 'context' }));
  const named = async (identifiers: string[], paths: string[]) => {
    for (const name of identifiers) {
      for (const def of index.definitions(name).slice(0, DEFINITIONS_PER_NAME)) {
        const text = await linesOf(def.path);
        if (text) candidates.push(definitionSpan(def, text));
      }
    }
    for (const p of paths) {
      const text = await linesOf(p);
      if (!text) continue;
      if (text.length <= WHOLE_FILE_LINES) candidates.push({ path: p, startLine: 1, endLine: Math.max(1, text.length), reason: 'file' });
      else candidates.push(...outlineCandidates(p, text, index));
    }
  };
  const which = analysis.kind === 'which' ? whichQuestionOf(question) : null;
  if (which) {
    for (const { definition } of matchDefinitions(which, index, WHICH_CANDIDATES)) {
      const text = await linesOf(definition.path);
      if (text) candidates.push(definitionSpan(definition, text));
    }
  }
  await named(analysis.identifiers, analysis.paths);
  await named(followUp.identifiers, followUp.paths);
  if (/\b(project|repository|repo|package|workspace|app|application)\b/i.test(question) && analysis.paths.length === 0) {
    for (const f of index.files()) if (/^readme(\.\w+)?$/i.test(f.path)) candidates.push({ path: f.path, startLine: 1, endLine: HEAD_LINES, reason: 'file' });
  }
  const namesNothing = analysis.identifiers.length === 0 && analysis.paths.length === 0;
  const searched = namesNothing ? [question, ...followUp.identifiers].join(' ') : question;
  for (const hit of index.search(searched, SEARCH_HITS)) candidates.push(searchSpan(hit.chunk));

  return pack(candidates, budget, linesOf, io);
}

/** A file as its head and outline (each definition's doc comment and first line), when it is too long to re-read whole. */
export async function retrieveFile(path: string, index: WorkspaceIndex, budget: number, io: RetrievalIO): Promise<Retrieval> {
  const text = await io.readLines(path);
  if (!text) return { chunks: [], tokens: 0, nothingFound: true };
  return pack(outlineCandidates(path, text, index), budget, async () => text, io);
}

function outlineCandidates(path: string, lines: string[], index: WorkspaceIndex): Candidate[] {
  const head: Candidate = { path, startLine: 1, endLine: Math.min(HEAD_LINES, lines.length), reason: 'file' };
  return [head, ...index.outline(path).map((def): Candidate => ({ ...definitionSpan(def, lines), endLine: def.startLine, reason: 'outline' }))];
}

/**
 * A definition with the comment and decorators right above it (where its doc comment is), up to its end.
 * Language-agnostic: lines above that look like comments, decorators or attributes.
 */
export function definitionSpan(def: Definition, lines: string[]): Candidate {
  const above = (line: number) => /^\s*(\/\/|\/\*|\*|#|@|"""|'''|--|;)/.test(lines[line - 2]!);
  let start = Math.min(def.startLine, lines.length);
  while (start > 1 && above(start)) start--;
  // A doc block one blank line above (JSDoc as http-errors writes it), which the index took as the doc comment.
  if (def.doc !== '' && start > 2 && lines[start - 2]!.trim() === '' && /\*\/\s*$/.test(lines[start - 3]!)) {
    start--;
    while (start > 1 && above(start)) start--;
  }
  return { path: def.path, startLine: Math.max(1, start), endLine: Math.max(def.startLine, Math.min(def.endLine, lines.length)), reason: 'definition', definition: def.qualifiedName };
}

function searchSpan(chunk: Chunk): Candidate {
  const c: Candidate = { path: chunk.path, startLine: chunk.startLine, endLine: chunk.endLine, reason: 'search' };
  if (chunk.definition) c.definition = chunk.definition;
  return c;
}

/**
 * Packs candidates (most relevant first) into `budget` tokens: spans of one file that overlap or touch are
 * merged, a candidate that no longer fits is skipped, and the most relevant one, like any span of the user's
 * context, is cut to the head that fits (its `requestedEndLine` then says where it was to end). The result is
 * in streaming order: least relevant first.
 */
async function pack(
  candidates: Candidate[],
  budget: number,
  linesOf: (p: string) => Promise<string[] | null>,
  io: RetrievalIO,
): Promise<Retrieval> {
  const chosen: RereadChunk[] = []; // most relevant first
  let used = 0;
  const make = async (c: Candidate): Promise<RereadChunk | null> => {
    const lines = await linesOf(c.path);
    if (!lines || lines.length === 0) return null;
    const startLine = Math.max(1, Math.min(c.startLine, lines.length));
    const endLine = Math.max(startLine, Math.min(c.endLine, lines.length));
    const text = lines.slice(startLine - 1, endLine).map(capLine).join('\n');
    const chunk: RereadChunk = { path: c.path, startLine, endLine, reason: c.reason, text, tokens: io.tokenize(c.path, startLine, endLine, text) };
    if (c.definition) chunk.definition = c.definition;
    return chunk;
  };

  for (const c of candidates) {
    if (budget <= 0) break;
    // Already inside a chosen span: nothing new to read.
    if (chosen.some((k) => k.path === c.path && k.startLine <= c.startLine && c.endLine <= k.endLine)) continue;
    const near = chosen.findIndex((k) => k.path === c.path && c.startLine <= k.endLine + 1 && k.startLine <= c.endLine + 1);
    if (near >= 0) {
      const k = chosen[near]!;
      // A span cut to fit had no room to grow.
      if (k.requestedEndLine !== undefined) continue;
      const merged = await make({ ...k, startLine: Math.min(k.startLine, c.startLine), endLine: Math.max(k.endLine, c.endLine) });
      if (merged && used - k.tokens.length + merged.tokens.length <= budget) {
        used += merged.tokens.length - k.tokens.length;
        chosen[near] = merged;
      }
      continue;
    }
    let chunk = await make(c);
    if (!chunk) continue;
    if (used + chunk.tokens.length > budget && (chosen.length === 0 || c.reason === 'context')) {
      const whole = chunk;
      chunk = await cutToFit(whole, budget - used, make);
      if (chunk) chunk.requestedEndLine = whole.endLine;
    }
    if (!chunk || used + chunk.tokens.length > budget) continue;
    chosen.push(chunk);
    used += chunk.tokens.length;
  }
  return { chunks: chosen.reverse(), tokens: used, nothingFound: candidates.length === 0 };
}

/** Characters of one line re-read at most: a minified line must not take the whole budget's tokenising time. */
const MAX_LINE_CHARS = 2000;

function capLine(line: string): string {
  return line.length <= MAX_LINE_CHARS ? line : `${line.slice(0, MAX_LINE_CHARS)}…`;
}

/** The longest head of `chunk` that fits `budget` tokens (binary search on its end line). */
async function cutToFit(chunk: RereadChunk, budget: number, make: (c: Candidate) => Promise<RereadChunk | null>): Promise<RereadChunk | null> {
  let lo = chunk.startLine;
  let hi = chunk.endLine;
  let best: RereadChunk | null = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const cut = await make({ ...chunk, endLine: mid });
    if (cut && cut.tokens.length <= budget) {
      best = cut;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return best;
}
