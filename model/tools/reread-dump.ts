/**
 * The re-read dump (issue 20, item 1): what the engine re-reads before each question the model is trained on,
 * chosen by the engine's own code, so that training samples (model/train/tasks.py, `reread_sample`) lay out the
 * same chunks the engine streams. One source of truth for what a chunk is and which chunks are picked:
 * model/index/ builds the workspace index, model/engine/retrieval.ts picks and packs the chunks with the real
 * tokenizer's counts, model/engine/answers.ts says when the engine answers by itself (then no model is asked).
 *
 *   node --import tsx model/tools/reread-dump.ts --corpus PACKAGES.jsonl --out reread.jsonl[.xz]
 *   node --import tsx model/tools/reread-dump.ts --workspace DIR --out dump.jsonl [--questions Q.jsonl]
 *                                                [--variant-out DIR]
 *
 * --corpus reads packages in build_corpus.py's format (one `{"package", "files": [[path, text], ...]}` a line;
 * model/train/reread_corpus.py writes them from the npm pack), so the texts are byte for byte those training
 * reads. --workspace reads one folder the way the engine's walker does. With --questions (JSONL of
 * `{"question": "..."}`), each question is only retrieved for, on the folder as it is; otherwise the questions
 * are made from the index as below.
 *
 * Made questions, per package (the model's answers: docs/prompt-format.md, "Answers after a re-read"):
 * - A share of the documented functions, methods and classes lose their doc comment (its lines are deleted) and
 *   a share of the JS/TS files with a header comment lose it: the package as it would be without them is the
 *   *variant*, and every question of the package is asked of the variant (index, retrieval, line numbers). That
 *   is the case where the engine needs the model: a doc comment or header that exists is quoted by the engine
 *   itself (engine.ts `ask`/`summarize`, answers.ts `docText`/`headerText`).
 * - `what`: "What does `X` do?" for X whose doc comment was deleted; the answer is that doc comment's lead
 *   sentences (answers.ts `leadSentences`). Asked as the user may ask it: "What does `X` do?" or "Where is `X`
 *   defined?" (the engine then states the location from the index and asks the model "What does `X` do?" after
 *   the where-question's re-read: `asked` holds what retrieval saw, `question` what the model is asked).
 * - `which`: "Which function does this: DESCRIPTION" (RepoQA's search-needle-function), DESCRIPTION the first
 *   sentence of the deleted doc comment; the answer is `NAME at PATH:LINE`. When retrieval did not bring the
 *   definition back (`truthIn` false), training answers that it was not found.
 * - `summarize`: "Summarize PATH" for a file whose header comment was deleted; the file is re-read whole when it
 *   fits the budget (plain file layout, chunk reason `whole`), else as its head and outline (retrieveFile).
 * - `where`: "Where is `X` defined?" -> `PATH:LINE` for names defined once (the engine answers these from the
 *   index; the task teaches reading a line number off a re-read chunk, which `which` needs).
 * - `what-missing`: "What does `X` do?" for a name the package does not define (taken from another package):
 *   the answer says so.
 *
 * Output, one JSON object a line: per package `{"type": "package", "package", "strip": {path: [[first, last],
 * ...]}, "sha1": {path: first 10 hex digits of the sha1 of the original text}}` (strip: 1-based inclusive line
 * spans of the original text whose deletion gives the variant; sha1 for every file a question uses, so the reader
 * can check it has the same text), then its questions `{"type": "q", "package", "kind", "question", "asked"?,
 * "budget", "chunks": [[path, startLine, endLine, reason], ...] (stream order: least relevant first), "answer",
 * "truth": {"path", "line", "name", "qname", "defKind", "doc"?: [first, last] (original lines)}, "truthIn"}`.
 * Line numbers in chunks and truth are the variant's. A path ending in .xz is written through `xz -9`.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { docText, firstParagraph, headerText, leadSentences } from '../engine/answers';
import { fileChunkTokens, questions, questionTokens, rereadChunkTokens } from '../engine/prompt';
import { DEFAULT_REREAD_TOKENS } from '../engine/protocol';
import { analyseQuestion, retrieve, retrieveFile, type Retrieval, type RetrievalIO } from '../engine/retrieval';
import { WorkspaceIndex, type Definition } from '../index';
import { FamTokenizer } from '../loader';
import { seededRandom } from '../runtime/sampling';
import { walkWorkspace } from '../workspace/walker';

const REPO = path.resolve(__dirname, '../..');

/** The question the model is asked to find a definition by its description (docs/prompt-format.md). */
export function whichQuestion(kind: Definition['kind'], description: string): string {
  return `Which ${kind === 'class' ? 'class' : 'function'} does this: ${description}`;
}

/** The answer to whichQuestion: the definition's qualified name and where it starts. */
export function whichAnswer(qualifiedName: string, filePath: string, line: number): string {
  return `${qualifiedName} at ${filePath}:${line}`;
}

/** Held out of all training (model/train/README.md "Split by package", build_corpus.py TEST_PACKAGES). */
export const TEST_PACKAGES = ['stdlib/asyncio', 'stdlib/email', 'networkx', 'rich', 'click', 'fastify', 'marked', 'dayjs', 'commander', 'ws'];

/** TEST_PACKAGES and the packages of the QA evaluation (test/eval/qa-questions.json): never in a dump. */
export function excludedPackages(): Set<string> {
  const out = new Set(TEST_PACKAGES);
  const qa = path.join(REPO, 'test/eval/qa-questions.json');
  if (fs.existsSync(qa)) for (const p of (JSON.parse(fs.readFileSync(qa, 'utf8')) as { packages: { name: string }[] }).packages) out.add(p.name);
  return out;
}

export interface DumpOptions {
  seed: number;
  /** Share of the eligible documented definitions whose doc comment is deleted (what + which questions). */
  docShare: number;
  maxDocTargets: number;
  /** Share of the JS/TS files with a header comment that lose it (summarize questions). */
  headerShare: number;
  maxHeaderTargets: number;
  maxWhere: number;
  /** what-missing questions per what question. */
  missingShare: number;
  /** Share of what questions asked as "Where is `X` defined?". */
  askedWhereShare: number;
  /** Re-read budgets (tokens) and their weights. */
  budgets: [number, number][];
  /** Each question also carries `ids`: the engine's tokens from the re-read to the question (parity tests). */
  withIds?: boolean;
}

export const DEFAULT_OPTIONS: DumpOptions = {
  seed: 2026,
  docShare: 0.6,
  maxDocTargets: 150,
  headerShare: 0.6,
  maxHeaderTargets: 40,
  maxWhere: 25,
  missingShare: 0.15,
  askedWhereShare: 0.3,
  budgets: [
    [DEFAULT_REREAD_TOKENS.cpu, 0.5],
    [4096, 0.2],
    [8192, 0.15],
    [DEFAULT_REREAD_TOKENS.webgpu, 0.15],
  ],
};

export interface PackageFiles {
  name: string;
  files: { path: string; text: string }[];
}

export type Kind = 'where' | 'what' | 'what-missing' | 'which' | 'summarize' | 'asked';

export interface Truth {
  path: string;
  line: number;
  name: string;
  qname: string;
  defKind: string;
  doc?: [number, number];
}

export interface QuestionRecord {
  type: 'q';
  package: string;
  kind: Kind;
  question: string;
  asked?: string;
  budget: number;
  chunks: [string, number, number, string][];
  answer: string | null;
  truth: Truth | null;
  truthIn: boolean;
  ids?: number[];
}

export interface PackageRecord {
  type: 'package';
  package: string;
  strip: Record<string, [number, number][]>;
  sha1: Record<string, string>;
}

// ------------------------------------------------------------------------------------------- small helpers

/** A seeded generator per package, so a dump is reproducible. */
function rngFor(seed: number, name: string): () => number {
  return seededRandom(seed ^ parseInt(createHash('sha1').update(name).digest('hex').slice(0, 8), 16));
}

function shuffle<T>(items: T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function pickBudget(rand: () => number, budgets: [number, number][]): number {
  const total = budgets.reduce((s, [, w]) => s + w, 0);
  let r = rand() * total;
  for (const [b, w] of budgets) if ((r -= w) < 0) return b;
  return budgets[budgets.length - 1]![0];
}

export const sha10 = (text: string): string => createHash('sha1').update(text, 'utf8').digest('hex').slice(0, 10);

const JS_TS = /\.(js|mjs|cjs|jsx|ts|mts|cts|tsx)$/;
const NOT_DOC = /^(@|TODO|FIXME|XXX|eslint|istanbul|prettier|jshint|jscs|global\b|tslint|c8\b|#region)|copyright|licen[cs]e|@ts-|\bdeprecated\b|auto-?generated|generated by|do not (edit|modify)|don't make changes/i;

/** The lead of a doc text when it reads as a description: at least four words, not cut, not a directive. */
function describes(lead: string): boolean {
  return lead.split(/\s+/).length >= 4 && !lead.endsWith('…') && /^[A-Za-z`'"(]/.test(lead) && !NOT_DOC.test(lead) && !/[{}]$/.test(lead);
}

/** Doc text as a reader sees it: `{@link X}` / `{@link X|text}` / `{@link X text}` become X or text. */
export function plainDoc(text: string): string {
  return text.replace(/\{@(?:link|linkcode|linkplain)\s+([^}|\s]+)(?:[|\s]+([^}]*))?\}/g, (_, target: string, label?: string) => (label?.trim() ? label.trim() : target));
}

/** The first sentence of a lead (a sentence ends at . ! ? before a space or the end). */
function firstSentence(lead: string): string {
  const m = /[.!?]+(?=\s|$)/.exec(lead);
  return m ? lead.slice(0, m.index + m[0].length) : lead;
}

/**
 * A summary of a header's text: its first paragraph, at most `sentences` sentences and `maxChars` characters,
 * cut at a sentence end (tags such as `@file` end it); null when the first sentence alone is too long.
 */
export function summaryOf(body: string, sentences = 3, maxChars = 400): string | null {
  const text = firstParagraph(body);
  let end = -1;
  let n = 0;
  for (const m of text.matchAll(/[.!?]+(?=\s|$)/g)) {
    const at = m.index! + m[0].length;
    if (at > maxChars) break;
    end = at;
    if (++n === sentences) break;
  }
  if (end < 0) return text.length <= maxChars && text.length > 0 ? text : null;
  return text.slice(0, end);
}

/**
 * The doc comment right above a definition as whole lines (1-based, inclusive): the comments (`//` lines,
 * `/* ... *\/` blocks starting their lines) stacked directly above the line its name is on, as the index reads
 * them. Null when there are none there (decorators between, a declaration starting on an earlier line).
 */
export function docSpan(lines: string[], def: Definition): [number, number] | null {
  let first = def.startLine;
  let cur = def.startLine - 1;
  while (cur >= 1) {
    const t = lines[cur - 1]!.trim();
    if (t.startsWith('//')) {
      first = cur--;
      continue;
    }
    if (t.endsWith('*/') && /^(\/\*|\*)/.test(t)) {
      let k = cur;
      while (k >= 1 && cur - k < 200 && !/^\s*\/\*/.test(lines[k - 1]!)) {
        if (k < cur && lines[k - 1]!.includes('*/')) return null; // crossed the end of another comment
        k--;
      }
      if (k < 1 || !/^\s*\/\*/.test(lines[k - 1]!)) return null;
      first = k;
      cur = k - 1;
      continue;
    }
    break;
  }
  return first < def.startLine ? [first, def.startLine - 1] : null;
}

/** The header comment of a JS/TS file as whole lines, and its text, or null (the lines headerText reads). */
export function headerSpan(filePath: string, lines: string[]): { span: [number, number]; body: string } | null {
  if (!JS_TS.test(filePath)) return null;
  let i = 0;
  while (i < lines.length && /^\s*(#!|['"]use strict['"];?\s*$|$)/.test(lines[i]!)) i++;
  const first = lines[i] ?? '';
  const body: string[] = [];
  let j = i;
  if (/^\s*\/\*/.test(first)) {
    for (; j < lines.length; j++) {
      body.push(lines[j]!.replace(/^\s*\/\*+!?/, '').replace(/\*+\/\s*$/, '').replace(/^\s*\*\s?/, ''));
      if (lines[j]!.includes('*/')) break;
    }
    if (j >= lines.length || !/\*\/\s*$/.test(lines[j]!)) return null;
  } else if (/^\s*\/\//.test(first)) {
    for (; j < lines.length && /^\s*\/\//.test(lines[j]!); j++) body.push(lines[j]!.replace(/^\s*\/\/+\s?/, ''));
    j--;
  } else {
    return null;
  }
  return { span: [i + 1, j + 1], body: body.join('\n') };
}

/** Deletes 1-based inclusive line spans from a text split at '\n' (spans may be given in any order, not overlapping). */
export function deleteLines(text: string, spans: [number, number][]): string {
  if (spans.length === 0) return text;
  const drop = new Set<number>();
  for (const [a, b] of spans) for (let i = a; i <= b; i++) drop.add(i);
  return text
    .split('\n')
    .filter((_, i) => !drop.has(i + 1))
    .join('\n');
}

/** The line a line of the original text has after deleting spans (it must not be deleted itself). */
function mapLine(line: number, spans: [number, number][]): number {
  let shift = 0;
  for (const [a, b] of spans) if (b < line) shift += b - a + 1;
  return line - shift;
}

// ------------------------------------------------------------------------------------------- the dump

/** Builds an index over files (path order, as the walker gives them). */
async function indexOf(files: { path: string; text: string }[]): Promise<WorkspaceIndex> {
  const index = await WorkspaceIndex.create();
  for (const f of files) index.addFile(f.path, f.text, createHash('sha256').update(f.text).digest('hex'));
  return index;
}

/** The engine's RetrievalIO over texts in memory: lines as session.ts reads them, chunks tokenized once. */
function memoryIO(texts: Map<string, string>, tokenizer: FamTokenizer): RetrievalIO {
  const cache = new Map<string, number[]>();
  return {
    readLines: async (p) => {
      const t = texts.get(p);
      return t === undefined ? null : t.split(/\r?\n/);
    },
    tokenize: (p, s, e, text) => {
      const key = `${p}\0${s}\0${e}`;
      let ids = cache.get(key);
      if (!ids) {
        ids = rereadChunkTokens(tokenizer, p, s, e, text);
        cache.set(key, ids);
      }
      return ids;
    },
  };
}

const chunkRows = (r: Retrieval): [string, number, number, string][] => r.chunks.map((c) => [c.path, c.startLine, c.endLine, c.reason]);
const covers = (rows: [string, number, number, string][], t: Truth) => rows.some(([p, s, e]) => p === t.path && s <= t.line && t.line <= e);

interface Target {
  def: Definition;
  doc: [number, number];
  lead: string;
}

/**
 * The questions of one package. `foreignNames`: names defined in other packages, for what-missing questions;
 * the package's own names are added to it.
 */
export async function dumpPackage(
  pkg: PackageFiles,
  tokenizer: FamTokenizer,
  opts: DumpOptions,
  foreignNames: string[],
): Promise<{ package: PackageRecord; questions: QuestionRecord[]; variant: Map<string, string> }> {
  const rand = rngFor(opts.seed, pkg.name);
  const files = [...pkg.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const original = await indexOf(files);
  const linesOf = new Map(files.map((f) => [f.path, f.text.split('\n')]));

  // Headers to delete (summarize targets).
  const headers = new Map<string, { span: [number, number]; summary: string }>();
  for (const f of shuffle(files, rand)) {
    if (headers.size >= opts.maxHeaderTargets) break;
    if (rand() >= opts.headerShare || headerText(f.path, f.text) === null) continue;
    const found = headerSpan(f.path, linesOf.get(f.path)!);
    const summary = found && summaryOf(plainDoc(found.body));
    if (!found || !summary || !describes(summary)) continue;
    const lines = linesOf.get(f.path)!;
    let [a, b] = found.span;
    while (b < lines.length && lines[b]!.trim() === '' && b + 1 < lines.length) b++; // the blank lines after it go too
    if (lines.slice(b).join('').trim() === '') continue; // nothing left to summarise
    headers.set(f.path, { span: [a, b], summary });
  }

  // Doc comments to delete (what and which targets): documented functions, methods and classes whose lead reads as
  // a description, the description's first sentence not shared with another definition of the package.
  const firstSentences = new Map<string, number>();
  const all: Definition[] = files.flatMap((f) => original.outline(f.path));
  for (const d of all) {
    const lead = plainDoc(leadSentences(d.doc));
    if (lead) {
      const s = firstSentence(lead).toLowerCase();
      firstSentences.set(s, (firstSentences.get(s) ?? 0) + 1);
    }
  }
  const eligible: Target[] = [];
  for (const d of all) {
    if (!['function', 'method', 'class'].includes(d.kind) || d.name.length < 3 || d.endLine - d.startLine < 1) continue;
    const lead = plainDoc(leadSentences(d.doc));
    if (!lead || !describes(lead) || firstSentences.get(firstSentence(lead).toLowerCase()) !== 1) continue;
    const doc = docSpan(linesOf.get(d.path)!, d);
    if (!doc) continue;
    const header = headers.get(d.path);
    if (header && doc[0] <= header.span[1]) continue;
    eligible.push({ def: d, doc, lead });
  }
  let targets = shuffle(eligible, rand)
    .filter(() => rand() < opts.docShare)
    .slice(0, opts.maxDocTargets);

  // The variant: the package without those doc comments and headers. Each changed file is parsed again: it must
  // keep every definition, and each target must have lost its doc comment (else the target is dropped).
  const strip: Record<string, [number, number][]> = {};
  const scratch = await WorkspaceIndex.create();
  for (const f of files) {
    const header = headers.get(f.path);
    let mine = targets.filter((t) => t.def.path === f.path);
    if (!header && mine.length === 0) continue;
    for (let attempt = 0; attempt < 3; attempt++) {
      const spans: [number, number][] = [...(header ? [header.span] : []), ...mine.map((t) => t.doc)].sort((x, y) => x[0] - y[0]);
      if (spans.length === 0) break;
      scratch.addFile(f.path, deleteLines(f.text, spans), '');
      const defs = scratch.outline(f.path);
      if (defs.length !== original.outline(f.path).length) {
        if (mine.length === 0) {
          headers.delete(f.path);
          break;
        }
        mine = [];
        continue;
      }
      const kept = mine.filter((t) => defs.some((d) => d.qualifiedName === t.def.qualifiedName && d.startLine === mapLine(t.def.startLine, spans) && d.doc === ''));
      if (kept.length === mine.length) {
        strip[f.path] = spans;
        break;
      }
      mine = kept;
    }
    targets = targets.filter((t) => t.def.path !== f.path || mine.includes(t));
    if (!strip[f.path]) headers.delete(f.path);
  }
  targets = targets.filter((t) => strip[t.def.path]);
  const variantFiles = files.map((f) => ({ path: f.path, text: deleteLines(f.text, strip[f.path] ?? []) }));
  const variant = new Map(variantFiles.map((f) => [f.path, f.text]));
  const index = await indexOf(variantFiles);
  const io = memoryIO(variant, tokenizer);

  const out: QuestionRecord[] = [];
  const used = new Set<string>(Object.keys(strip));
  const ask = async (kind: Kind, question: string, asked: string, truth: Truth | null, answer: string | null, budget: number): Promise<void> => {
    const analysis = analyseQuestion(asked, index);
    const r = await retrieve({ question: asked, analysis }, index, budget, io);
    const chunks = chunkRows(r);
    for (const [p] of chunks) used.add(p);
    if (truth) used.add(truth.path);
    const q: QuestionRecord = { type: 'q', package: pkg.name, kind, question, budget, chunks, answer, truth, truthIn: truth ? covers(chunks, truth) : false };
    if (asked !== question) q.asked = asked;
    if (opts.withIds) q.ids = [...r.chunks.flatMap((c) => c.tokens), ...questionTokens(tokenizer, question)];
    out.push(q);
  };

  // what and which, on the variant's definitions of the targets.
  let whats = 0;
  for (const t of targets) {
    const line = mapLine(t.def.startLine, strip[t.def.path]!);
    const def = index.outline(t.def.path).find((d) => d.startLine === line && d.qualifiedName === t.def.qualifiedName);
    if (!def || def.doc !== '') continue; // the doc comment was not what the index read as one
    const truth: Truth = { path: def.path, line, name: def.name, qname: def.qualifiedName, defKind: def.kind, doc: t.doc };
    // what: by the name, or by the qualified name when the name alone has several definitions.
    const name = index.definitions(def.name).length === 1 ? def.name : index.definitions(def.qualifiedName).length === 1 ? def.qualifiedName : null;
    if (name !== null) {
      const defs = index.definitions(name);
      const asked = rand() < opts.askedWhereShare ? questions.whereDefined(name) : questions.whatDoes(name);
      const analysis = analyseQuestion(asked, index);
      // The engine asks the model only when the name is looked up and none of its definitions is documented.
      if (analysis.identifiers[0] === name && docText(name, defs) === null) {
        await ask('what', questions.whatDoes(name), asked, truth, t.lead, pickBudget(rand, opts.budgets));
        whats++;
      }
    }
    const which = whichQuestion(def.kind, firstSentence(t.lead));
    if (analyseQuestion(which, index).kind === 'which') {
      await ask('which', which, which, truth, whichAnswer(def.qualifiedName, def.path, line), pickBudget(rand, opts.budgets));
    }
  }

  // what-missing: names of other packages this one does not define.
  const missing = Math.round(whats * opts.missingShare);
  for (const name of shuffle(foreignNames, rand)) {
    if (out.filter((q) => q.kind === 'what-missing').length >= missing) break;
    const asked = questions.whatDoes(name);
    const analysis = analyseQuestion(asked, index);
    if (index.definitions(name).length > 0 || analysis.kind !== 'what' || analysis.identifiers.length > 0) continue;
    await ask('what-missing', asked, asked, { path: '', line: 0, name, qname: name, defKind: '' }, null, pickBudget(rand, opts.budgets));
  }

  // summarize: the engine re-reads the file whole when it fits, else its head and outline.
  for (const [p, h] of headers) {
    const text = variant.get(p)!;
    if (headerText(p, text) !== null) continue; // the engine would quote what is now the header
    const budget = pickBudget(rand, opts.budgets);
    const wholeIds = fileChunkTokens(tokenizer, p, text);
    const r = wholeIds.length <= budget ? null : await retrieveFile(p, index, budget, io);
    const chunks: [string, number, number, string][] = r ? chunkRows(r) : [[p, 1, text.split(/\r?\n/).length, 'whole']];
    used.add(p);
    const q: QuestionRecord = {
      type: 'q', package: pkg.name, kind: 'summarize', question: questions.summarize(p), budget, chunks, answer: h.summary,
      truth: { path: p, line: 1, name: '', qname: '', defKind: 'file', doc: h.span }, truthIn: chunks.length > 0,
    };
    if (opts.withIds) q.ids = [...(r ? r.chunks.flatMap((c) => c.tokens) : wholeIds), ...questionTokens(tokenizer, q.question)];
    out.push(q);
  }

  // where: names defined once in the variant.
  const defsOfVariant = files.flatMap((f) => index.outline(f.path)).filter((d) => d.kind !== 'field' && d.name.length >= 3);
  let wheres = 0;
  for (const d of shuffle(defsOfVariant, rand)) {
    if (wheres >= opts.maxWhere) break;
    if (index.definitions(d.name).length !== 1) continue;
    const q = questions.whereDefined(d.name);
    if (analyseQuestion(q, index).identifiers[0] !== d.name) continue;
    await ask('where', q, q, { path: d.path, line: d.startLine, name: d.name, qname: d.qualifiedName, defKind: d.kind }, `${d.path}:${d.startLine}`, pickBudget(rand, opts.budgets));
    wheres++;
  }

  for (const d of shuffle(all, rand).slice(0, 50)) if (d.name.length >= 4 && /^[A-Za-z_$][\w$]*$/.test(d.name)) foreignNames.push(d.name);
  if (foreignNames.length > 2000) foreignNames.splice(0, foreignNames.length - 2000);

  const sha1: Record<string, string> = {};
  for (const f of files) if (used.has(f.path)) sha1[f.path] = sha10(f.text);
  return { package: { type: 'package', package: pkg.name, strip, sha1 }, questions: out, variant };
}

/** Given questions on a workspace as it is (no variant): what retrieval re-reads for each. */
export async function dumpQuestions(pkg: PackageFiles, tokenizer: FamTokenizer, asked: { question: string; budget?: number }[], budget: number): Promise<QuestionRecord[]> {
  const index = await indexOf(pkg.files);
  const io = memoryIO(new Map(pkg.files.map((f) => [f.path, f.text])), tokenizer);
  const out: QuestionRecord[] = [];
  for (const q of asked) {
    const b = q.budget ?? budget;
    const r = await retrieve({ question: q.question, analysis: analyseQuestion(q.question, index) }, index, b, io);
    out.push({ type: 'q', package: pkg.name, kind: 'asked', question: q.question, budget: b, chunks: chunkRows(r), answer: null, truth: null, truthIn: false });
  }
  return out;
}

// ------------------------------------------------------------------------------------------- the command

interface Args {
  corpus?: string;
  workspace?: string;
  questions?: string;
  out: string;
  tokenizer: string;
  variantOut?: string;
  packages?: Set<string>;
  limit: number;
  budget: number;
  opts: DumpOptions;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { out: '', tokenizer: path.join(REPO, 'model/weights/default/tokenizer.json'), limit: Infinity, budget: DEFAULT_REREAD_TOKENS.cpu, opts: { ...DEFAULT_OPTIONS } };
  for (let i = 0; i < argv.length; i++) {
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return x;
    };
    switch (argv[i]) {
      case '--corpus': a.corpus = v(); break;
      case '--workspace': a.workspace = v(); break;
      case '--questions': a.questions = v(); break;
      case '--out': a.out = v(); break;
      case '--tokenizer': a.tokenizer = v(); break;
      case '--variant-out': a.variantOut = v(); break;
      case '--packages': a.packages = new Set(v().split(',')); break;
      case '--limit': a.limit = Number(v()); break;
      case '--budget': a.budget = Number(v()); break;
      case '--seed': a.opts.seed = Number(v()); break;
      case '--budgets': a.opts.budgets = v().split(',').map((s) => s.split(':').map(Number) as [number, number]); break;
      case '--doc-share': a.opts.docShare = Number(v()); break;
      case '--header-share': a.opts.headerShare = Number(v()); break;
      case '--max-where': a.opts.maxWhere = Number(v()); break;
      case '--with-ids': a.opts.withIds = true; break;
      default: throw new Error(`unknown argument ${argv[i]} (see the comment at the top of model/tools/reread-dump.ts)`);
    }
  }
  if (!a.out || (!a.corpus === !a.workspace)) throw new Error('usage: reread-dump.ts (--corpus PACKAGES.jsonl | --workspace DIR) --out FILE [...]');
  return a;
}

/** A line writer to a file, through `xz -9` when the name ends in .xz. */
function writer(file: string): { write: (obj: unknown) => void; close: () => Promise<void> } {
  const fileStream = fs.createWriteStream(file);
  if (!file.endsWith('.xz')) {
    return {
      write: (obj) => fileStream.write(`${JSON.stringify(obj)}\n`),
      close: () => new Promise((resolve) => fileStream.end(resolve)),
    };
  }
  const xz = spawn('xz', ['-9', '-c', '-T1'], { stdio: ['pipe', 'pipe', 'inherit'] });
  xz.stdout.pipe(fileStream);
  return {
    write: (obj) => xz.stdin.write(`${JSON.stringify(obj)}\n`),
    close: () =>
      new Promise((resolve, reject) => {
        fileStream.on('finish', resolve);
        xz.on('exit', (code) => (code === 0 ? undefined : reject(new Error(`xz exited ${code}`))));
        xz.stdin.end();
      }),
  };
}

async function* corpusPackages(file: string): AsyncGenerator<PackageFiles> {
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const p = JSON.parse(line) as { package: string; files: [string, string][] };
    yield { name: p.package, files: p.files.map(([filePath, text]) => ({ path: filePath, text })) };
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const tokenizer = FamTokenizer.fromFiles(args.tokenizer, true, path.join(path.dirname(args.tokenizer), 'tokenizer_config.json'));
  const out = writer(args.out);
  const excluded = excludedPackages();
  const counts: Record<string, number> = {};
  const started = Date.now();
  if (args.workspace) {
    const walk = await walkWorkspace(args.workspace);
    const pkg: PackageFiles = { name: path.basename(path.resolve(args.workspace)), files: walk.files.map((f) => ({ path: f.path, text: f.text })) };
    if (args.questions) {
      const asked = fs.readFileSync(args.questions, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { question: string; budget?: number });
      for (const q of await dumpQuestions(pkg, tokenizer, asked, args.budget)) out.write(q);
    } else {
      const { package: rec, questions: qs, variant } = await dumpPackage(pkg, tokenizer, args.opts, []);
      out.write(rec);
      for (const q of qs) {
        out.write(q);
        counts[q.kind] = (counts[q.kind] ?? 0) + 1;
      }
      if (args.variantOut) {
        for (const [p, text] of variant) {
          fs.mkdirSync(path.dirname(path.join(args.variantOut, p)), { recursive: true });
          fs.writeFileSync(path.join(args.variantOut, p), text);
        }
      }
    }
  } else {
    const foreign: string[] = [];
    let n = 0;
    for await (const pkg of corpusPackages(args.corpus!)) {
      if (excluded.has(pkg.name) || (args.packages && !args.packages.has(pkg.name))) continue;
      if (n++ >= args.limit) break;
      const t0 = Date.now();
      const { package: rec, questions: qs } = await dumpPackage(pkg, tokenizer, args.opts, foreign);
      out.write(rec);
      const per: Record<string, number> = {};
      for (const q of qs) {
        out.write(q);
        per[q.kind] = (per[q.kind] ?? 0) + 1;
        counts[q.kind] = (counts[q.kind] ?? 0) + 1;
      }
      process.stderr.write(`${pkg.name}: ${pkg.files.length} files, ${JSON.stringify(per)} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    }
  }
  await out.close();
  process.stderr.write(`done in ${((Date.now() - started) / 1000).toFixed(0)} s: ${JSON.stringify(counts)}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
