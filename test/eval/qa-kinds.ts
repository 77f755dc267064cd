/**
 * Every question kind the model is trained on, over held-out workspaces of several sizes (issue 20, item 4):
 *
 *   npm run eval:qa:kinds -- [--models default=model/weights/default,stage9=/tmp/stage9] [--sizes 16384,65536]
 *                            [--packages N] [--out docs/results/qa-kinds] [--seed 2026]
 *   node --import tsx test/eval/qa-kinds.ts --report-only [docs/results/qa-kinds]   (the .md and .png again from the .json)
 *
 * Cases. For each held-out package of test/eval/qa-questions.json (fetched into test/eval/.cache/ by
 * fetchPackage), model/tools/reread-dump.ts (`dumpPackage`, the code that makes the training questions) makes the
 * questions of every kind: where, which, what, what-missing, summarize. It deletes the doc comments of the `what` /
 * `which` targets and the header comments of the `summarize` files: that *variant* of the package is what the
 * engine reads, so the answer is nowhere in the workspace, and the deleted text is the truth. A few questions of
 * each kind are kept per package (at most: which 3, what 3, summarize 2, where 2, what-missing 1; seeded).
 *
 * Workspaces. Per package and size (16k, 64k, 256k tokens of the default tokenizer's file chunks), a temporary
 * folder holds the variant's files (those the cases need first, then the others in path order while they fit)
 * and, under `vendor/`, the source of the other held-out packages up to the size (the last file cut at a line).
 * The walker reads them in path order, so the package under test mostly comes before the padding. A case whose
 * file does not fit the size, or whose name the padding also defines (or, for what-missing, defines at all), is
 * left out of that size. The engine reads each folder from scratch once per model; the tokens it reports are
 * recorded.
 *
 * Modes (each case, each model):
 * - reread: `engine/ask` as the CLI sends it (summarize: `engine/summarize`): the code is re-read into a copy of
 *   the workspace's FAM state;
 * - memory: re-read off (`reread: { enabled: false }`): the FAM state alone (summarize: `engine/ask "Summarize P"`);
 * - blank:  the re-read streamed into a fresh state (`reread: { memory: 'blank' }`): what the FAM state adds;
 * - bm25:   no model: the top hit of the workspace index's lexical search over the question.
 *
 * Scores: where: the first `path:line` is the definition's path / line; which: the name (qualified or short)
 * appears and the first `path:line` is right; what / summarize: ROUGE-L F1 (LCS of lowercased words) of the
 * answer's prose (the engine's location lead, citations and markdown taken out) against the deleted doc comment's
 * lead / header summary (the dump's training answer); what-missing: the answer says no definition was found
 * (the engine's words: "No definition of `X` is in the workspace index."). Every answer: citations (the
 * engine's `grounding.citations`) of a path not in the workspace or a line outside its file (`nonexistent`).
 *
 * Written: <out>.json (every case and answer), <out>.md (tables, samples, limitations) and <out>.png (chart).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs as parseArgv } from 'node:util';
import { EngineClient, type EngineProcess } from '../../model/engine/client';
import { fileChunkTokens } from '../../model/engine/prompt';
import type { AnswerResult, Citation, LoadModelResult, RereadSettings, Source } from '../../model/engine/protocol';
import { analyseQuestion } from '../../model/engine/retrieval';
import { WorkspaceIndex } from '../../model/index';
import { FamTokenizer } from '../../model/loader';
import { seededRandom } from '../../model/runtime/sampling';
import { DEFAULT_OPTIONS, dumpPackage, type Kind, type QuestionRecord, type Truth } from '../../model/tools/reread-dump';
import { walkWorkspace } from '../../model/workspace/walker';
import { count, fetchPackage, percentile, readFixture, REPO, round, type TruthPackage } from './packages';

const MODES = {
  reread: 're-read on (default `engine/ask`; `engine/summarize` for summaries)',
  memory: 're-read off (`reread: { enabled: false }`: the FAM state alone)',
  blank: 're-read into a fresh state (`reread: { memory: \'blank\' }`: no FAM state)',
  bm25: 'top BM25 hit alone (no model)',
} as const;
type Mode = keyof typeof MODES;
const MODE_NAMES = Object.keys(MODES) as Mode[];
type EngineMode = Exclude<Mode, 'bm25'>;
const ENGINE_MODES: Record<EngineMode, RereadSettings | undefined> = { reread: undefined, memory: { enabled: false }, blank: { memory: 'blank' } };

type CaseKind = Exclude<Kind, 'asked'>;
const KINDS: CaseKind[] = ['where', 'which', 'what', 'summarize', 'what-missing'];
/** Most questions of a kind per package. */
const CAPS: Record<CaseKind, number> = { which: 3, what: 3, summarize: 2, where: 2, 'what-missing': 1 };
/** What the dump is asked for before the caps: few doc comments and headers deleted, so the variant stays close to the package. */
const DUMP_OPTIONS = { ...DEFAULT_OPTIONS, maxDocTargets: 12, maxHeaderTargets: 4, maxWhere: 2, missingShare: 0.34 };
const MAX_NEW_TOKENS: Record<CaseKind, number> = { where: 48, which: 48, what: 48, 'what-missing': 48, summarize: 80 };
/** Words of a BM25 hit's text taken as its "answer" to a what / summarize question. */
const BM25_WORDS = 60;
/** What each kind's headline score is, for the tables and the chart. */
const HEADLINE: Record<CaseKind, string> = {
  where: 'right path and line',
  which: 'right name and path:line',
  what: 'mean ROUGE-L F1',
  summarize: 'mean ROUGE-L F1',
  'what-missing': 'says not found',
};
/** Names of this repository's code, never defined in an npm package: what-missing asks about them. */
const FOREIGN_NAMES = ['rereadChunkTokens', 'analyseQuestion', 'conversationOf', 'fileChunkTokensYielding', 'rankDefinitions', 'checkCitations', 'walkWorkspace', 'leadSentences', 'historyTokens', 'summaryOf'];

// ---------------------------------------------------------------------------------------------- types

interface Args {
  models: { name: string; dir: string }[];
  sizes: number[];
  packages: number;
  out: string;
  seed: number;
}

interface Scores {
  rightPath?: boolean;
  rightLine?: boolean;
  rightName?: boolean;
  rouge?: number;
  saidNotFound?: boolean;
  /** The kind's headline, 0-1 (HEADLINE). */
  score: number;
  /** Citations of a path not in the workspace or a line outside its file. */
  nonexistent: number;
  citations: number;
}

interface ModeAnswer extends Scores {
  answer: string;
  /** what / summarize: the prose scored (lead, citations and markdown out). */
  prose?: string;
  firstCitation: string | null;
  seconds: number;
  firstTokenSeconds: number;
  tokens?: number;
  stopReason?: string;
  /** The re-read sources (path:start-end), and whether one spans the truth's line. */
  sources?: string[];
  truthReread?: boolean;
  /** Engine citations as checked by the engine (text, verified, note) and here (exists). */
  checked?: Array<{ text: string; verified: boolean; note: string; exists: boolean }>;
}

interface CaseResult {
  id: string;
  package: string;
  size: number;
  kind: CaseKind;
  question: string;
  truth: Truth;
  /** The dump's training answer: the deleted doc comment's lead / header summary, `QNAME at P:L`, `P:L`; null for what-missing. */
  reference: string | null;
  /** The deleted comment lines as they were (what / which / summarize). */
  removedText?: string;
  answers: Record<string, Record<Mode, ModeAnswer>>;
}

interface WorkspaceInfo {
  package: string;
  size: number;
  packageFiles: number;
  packageFilesOfAll: string;
  vendorFiles: number;
  vendorPackages: string[];
  tokensHere: number;
  /** Per model: what the engine reported for its fresh read. */
  ingest: Record<string, { tokens: number; seconds: number; tokensPerSecond: number }>;
  cases: number;
  dropped: Array<{ question: string; why: string }>;
}

interface PackageInfo {
  name: string;
  version: string;
  usedForIndexFixes: boolean;
  files: number;
  tokens: number;
  dumped: Record<string, number>;
  chosen: Record<string, number>;
  deletedSpans: number;
}

interface Report {
  task: string;
  command: string;
  started: string;
  finished: string;
  wallSeconds: number;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  models: Array<{ name: string; dir: string; loaded: LoadModelResult | null }>;
  settings: { sizes: number[]; seed: number; caps: typeof CAPS; maxNewTokens: typeof MAX_NEW_TOKENS; bm25Words: number; rereadTokens: string; dump: typeof DUMP_OPTIONS };
  modes: typeof MODES;
  packages: PackageInfo[];
  workspaces: WorkspaceInfo[];
  cases: CaseResult[];
}

// ---------------------------------------------------------------------------------------------- arguments

function parseArgs(argv: string[]): Args {
  const { values } = parseArgv({
    args: argv,
    strict: true,
    options: {
      models: { type: 'string', default: 'default=model/weights/default' },
      sizes: { type: 'string', default: '16384,65536' },
      packages: { type: 'string' },
      out: { type: 'string', default: 'docs/results/qa-kinds' },
      seed: { type: 'string', default: '2026' },
    },
  });
  const models = values.models.split(',').map((s) => {
    const [name, dir] = s.includes('=') ? (s.split('=', 2) as [string, string]) : [path.basename(s), s];
    return { name, dir };
  });
  const sizes = values.sizes.split(',').map(Number);
  if (sizes.some((s) => !(s > 0))) throw new Error('--sizes: token counts, e.g. 16384,65536');
  const packages = values.packages === undefined ? Infinity : Number(values.packages);
  return { models, sizes, packages, out: values.out, seed: Number(values.seed) };
}

// ---------------------------------------------------------------------------------------------- the cases

interface FileText {
  path: string;
  text: string;
}

interface Prepared {
  pkg: TruthPackage;
  info: PackageInfo;
  /** The variant's files, path order. */
  variant: FileText[];
  original: Map<string, string>;
  cases: QuestionRecord[];
}

function shuffle<T>(items: T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function seedOf(seed: number, name: string): number {
  let h = seed >>> 0;
  for (const c of name) h = (Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0);
  return h;
}

async function prepare(pkg: TruthPackage, root: string, tokenizer: FamTokenizer, seed: number): Promise<Prepared> {
  const walk = await walkWorkspace(root, { includes: pkg.include });
  const files = walk.files.map((f) => ({ path: f.path, text: f.text }));
  const dumped = await dumpPackage({ name: pkg.name, files }, tokenizer, { ...DUMP_OPTIONS, seed }, [...FOREIGN_NAMES]);
  const rand = seededRandom(seedOf(seed, pkg.name));
  const cases: QuestionRecord[] = [];
  for (const kind of KINDS) cases.push(...shuffle(dumped.questions.filter((q) => q.kind === kind), rand).slice(0, CAPS[kind]));
  const tally = (qs: QuestionRecord[]) => Object.fromEntries(KINDS.map((k) => [k, count(qs, (q) => q.kind === k)]));
  let tokens = 0;
  for (const f of files) tokens += fileChunkTokens(tokenizer, f.path, f.text).length;
  return {
    pkg,
    info: {
      name: pkg.name,
      version: pkg.version,
      usedForIndexFixes: pkg.usedForIndexFixes,
      files: files.length,
      tokens,
      dumped: tally(dumped.questions),
      chosen: tally(cases),
      deletedSpans: Object.values(dumped.package.strip).reduce((n, s) => n + s.length, 0),
    },
    variant: files.map((f) => ({ path: f.path, text: dumped.variant.get(f.path) ?? f.text })),
    original: new Map(files.map((f) => [f.path, f.text])),
    cases,
  };
}

/** The package's files a case needs in its workspace. */
function caseFile(q: QuestionRecord): string | null {
  return q.kind === 'what-missing' || !q.truth ? null : q.truth.path;
}

/** The name a where / what / what-missing question asks about (in backticks). */
function askedName(q: QuestionRecord): string | null {
  return /`([^`]+)`/.exec(q.question)?.[1] ?? null;
}

interface Built {
  root: string;
  info: WorkspaceInfo;
  cases: QuestionRecord[];
  index: WorkspaceIndex;
  lines: Map<string, number>;
}

/**
 * The workspace of one package at one size: the variant's files the cases need, then its other files while they
 * fit, then other packages' files under vendor/ up to the size. Cases that cannot be asked of it are dropped.
 */
async function buildWorkspace(p: Prepared, size: number, pads: Prepared[], tokenizer: FamTokenizer, tokenCache: Map<string, number>, seed: number, tmp: string): Promise<Built> {
  const tokensOf = (f: FileText) => {
    const key = `${f.path}\0${f.text.length}`;
    let n = tokenCache.get(key);
    if (n === undefined) tokenCache.set(key, (n = fileChunkTokens(tokenizer, f.path, f.text).length));
    return n;
  };
  const chosen = new Map<string, FileText>();
  let total = 0;
  const dropped: WorkspaceInfo['dropped'] = [];
  let cases: QuestionRecord[] = [];
  const byPath = new Map(p.variant.map((f) => [f.path, f]));
  for (const q of p.cases) {
    const need = caseFile(q);
    if (need && !chosen.has(need)) {
      const f = byPath.get(need)!;
      if (total + tokensOf(f) > size) {
        dropped.push({ question: q.question, why: `${need} (${tokensOf(f)} tokens) does not fit beside the other files the cases need` });
        continue;
      }
      chosen.set(need, f);
      total += tokensOf(f);
    }
    cases.push(q);
  }
  for (const f of p.variant) {
    if (chosen.has(f.path) || total + tokensOf(f) > size) continue;
    chosen.set(f.path, f);
    total += tokensOf(f);
  }
  const packageFiles = chosen.size;
  // Padding: the other packages in a seeded order, each in path order, under vendor/NAME/; the last file cut.
  const vendorPackages: string[] = [];
  let vendorFiles = 0;
  const order = shuffle(pads.filter((x) => x.pkg.name !== p.pkg.name), seededRandom(seedOf(seed, `pad:${p.pkg.name}`)));
  outer: for (const other of order) {
    for (const f of [...other.original].map(([fp, text]) => ({ path: `vendor/${other.pkg.name}/${fp}`, text }))) {
      const left = size - total;
      if (left < 64) break outer;
      let file = f;
      if (tokensOf(f) > left) {
        const lines = f.text.split('\n');
        let lo = 1;
        let hi = lines.length;
        while (lo < hi) {
          const mid = Math.ceil((lo + hi) / 2);
          if (fileChunkTokens(tokenizer, f.path, lines.slice(0, mid).join('\n')).length <= left) lo = mid;
          else hi = mid - 1;
        }
        file = { path: f.path, text: `${lines.slice(0, lo).join('\n')}\n` };
        if (tokensOf(file) > left) break outer;
      }
      chosen.set(file.path, file);
      total += tokensOf(file);
      vendorFiles++;
      if (!vendorPackages.includes(other.pkg.name)) vendorPackages.push(other.pkg.name);
    }
  }

  const root = path.join(tmp, `${p.pkg.name}-${size}`);
  await fs.rm(root, { recursive: true, force: true });
  for (const f of chosen.values()) {
    await fs.mkdir(path.dirname(path.join(root, f.path)), { recursive: true });
    await fs.writeFile(path.join(root, f.path), f.text);
  }
  const walk = await walkWorkspace(root);
  const walked = new Set(walk.files.map((f) => f.path));
  const missing = [...chosen.keys()].filter((f) => !walked.has(f));
  if (missing.length > 0 || walked.size !== chosen.size) throw new Error(`${root}: the walker does not read what was written (${missing.slice(0, 5).join(', ')})`);
  const index = await WorkspaceIndex.create();
  for (const f of walk.files) index.addFile(f.path, f.text, f.sha256);
  const lines = new Map(index.files().map((f) => [f.path, f.lines]));

  // What the padding changes: a name it defines too is no longer the question's.
  cases = cases.filter((q) => {
    const name = askedName(q);
    let why: string | null = null;
    if (q.kind === 'what-missing') {
      if (name && (index.definitions(name).length > 0 || analyseQuestion(q.question, index).identifiers.length > 0)) why = `the padding defines ${name}`;
    } else if ((q.kind === 'where' || q.kind === 'what') && name) {
      const defs = index.definitions(name);
      if (defs.length !== 1 || defs[0]!.path !== q.truth!.path || defs[0]!.startLine !== q.truth!.line) why = `${name} has ${defs.length} definitions here`;
    }
    if (why) dropped.push({ question: q.question, why });
    return why === null;
  });
  return {
    root,
    cases,
    index,
    lines,
    info: {
      package: p.pkg.name,
      size,
      packageFiles,
      packageFilesOfAll: `${packageFiles}/${p.variant.length}`,
      vendorFiles,
      vendorPackages,
      tokensHere: total,
      ingest: {},
      cases: cases.length,
      dropped,
    },
  };
}

// ---------------------------------------------------------------------------------------------- scoring

/** `path:line` as the engine's citation check reads it (a path with a folder or an extension). */
const CITATION = /((?:[\w@$+~.-]+\/)*[\w@$+~-][\w@$+~.-]*\.[A-Za-z]\w*):(\d+)/;
const CITATIONS = new RegExp(`${CITATION.source}(?:-\\d+)?(?::\\d+)?`, 'g');

function firstCitation(text: string): { path: string; line: number } | null {
  const m = CITATION.exec(text);
  return m ? { path: m[1]!.replace(/^(\.\/)+/, ''), line: Number(m[2]) } : null;
}

/** An answer without the engine's location lead ("`X` is defined at P:L (kind X)." and a blank line). */
function withoutLead(text: string): string {
  return text.replace(/^`[^`\n]+` is defined (?:at|in) [\s\S]*?(?:\n\s*\n|$)/, '');
}

/** The answer as prose: the engine's location lead, citations and markdown taken out. */
export function proseOf(text: string): string {
  return withoutLead(text)
    .replace(CITATIONS, ' ')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*_#>]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

const words = (text: string): string[] => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];

/** ROUGE-L F1 over lowercased word tokens (LCS; beta 1). */
export function rougeL(candidate: string, reference: string): number {
  const c = words(candidate);
  const r = words(reference);
  if (c.length === 0 || r.length === 0) return 0;
  let prev = new Array<number>(r.length + 1).fill(0);
  for (const cw of c) {
    const cur = new Array<number>(r.length + 1).fill(0);
    for (let j = 1; j <= r.length; j++) cur[j] = cw === r[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    prev = cur;
  }
  const lcs = prev[r.length]!;
  if (lcs === 0) return 0;
  const p = lcs / c.length;
  const rec = lcs / r.length;
  return (2 * p * rec) / (p + rec);
}

/** The engine's words for a name it does not find (answers.ts, prompt-format.md "Not found"). */
const NOT_FOUND = /\bno definition\b|\bnot (?:defined|found)\b|\bnot in the (?:workspace|code)\b/i;

function saysNotFound(a: ModeAnswer): boolean {
  return NOT_FOUND.test(withoutLead(a.answer));
}

function hasName(text: string, t: Truth): boolean {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\./g, '(?:\\.|\\.prototype\\.|#)');
  return [t.qname, t.name].some((n) => n !== '' && new RegExp(`(^|[^\\w$#])${escape(n)}(?![\\w$])`).test(text));
}

function score(kind: CaseKind, text: string, truth: Truth, reference: string | null, citations: Citation[], lines: Map<string, number>): Omit<Scores, 'score'> & { score: number; prose?: string; firstCitation: string | null; checked: ModeAnswer['checked'] } {
  const exists = (c: { path: string; line: number }) => {
    const n = lines.get(c.path);
    return n !== undefined && c.line >= 1 && c.line <= n;
  };
  const checked = citations.map((c) => ({ text: c.text, verified: c.verified, note: c.note, exists: exists(c) }));
  const first = firstCitation(text);
  const base = { nonexistent: count(checked, (c) => !c.exists), citations: checked.length, firstCitation: first ? `${first.path}:${first.line}` : null, checked };
  switch (kind) {
    case 'where': {
      const rightPath = !!first && first.path === truth.path;
      const rightLine = rightPath && first!.line === truth.line;
      return { ...base, rightPath, rightLine, score: rightLine ? 1 : 0 };
    }
    case 'which': {
      const rightPath = !!first && first.path === truth.path;
      const rightLine = rightPath && first!.line === truth.line;
      const rightName = hasName(text, truth);
      return { ...base, rightPath, rightLine, rightName, score: rightName && rightLine ? 1 : 0 };
    }
    case 'what':
    case 'summarize': {
      const prose = proseOf(text);
      const rouge = round(rougeL(prose, reference ?? ''), 4);
      return { ...base, prose, rouge, score: rouge };
    }
    case 'what-missing': {
      const saidNotFound = NOT_FOUND.test(text);
      return { ...base, saidNotFound, score: saidNotFound ? 1 : 0 };
    }
  }
}

// ---------------------------------------------------------------------------------------------- asking

async function askEngine(engine: EngineProcess, q: QuestionRecord, mode: EngineMode, built: Built): Promise<ModeAnswer> {
  const kind = q.kind as CaseKind;
  const reread = ENGINE_MODES[mode];
  const options = { maxNewTokens: MAX_NEW_TOKENS[kind] };
  const start = performance.now();
  let firstTextAt: number | null = null;
  let text = '';
  // A summary with the re-read is engine/summarize (the file re-read whole when it fits); without it, the question as trained.
  const stream =
    kind === 'summarize' && mode !== 'memory'
      ? engine.stream('engine/summarize', { path: q.truth!.path, options, ...(reread ? { reread } : {}) })
      : engine.stream('engine/ask', { question: q.question, options, ...(reread ? { reread } : {}) });
  for await (const delta of stream) {
    if (delta.text !== '') firstTextAt ??= performance.now();
    text += delta.text;
  }
  const result: AnswerResult = await stream.result;
  const end = performance.now();
  const sources = result.grounding.sources;
  const covers = (s: Source) => kind !== 'what-missing' && s.path === q.truth!.path && s.startLine <= q.truth!.line && q.truth!.line <= s.endLine;
  const s = score(kind, text, q.truth!, q.answer, result.grounding.citations, built.lines);
  return {
    answer: text,
    ...s,
    seconds: round((end - start) / 1000, 3),
    firstTokenSeconds: round(((firstTextAt ?? end) - start) / 1000, 3),
    tokens: result.tokens,
    stopReason: result.stopReason,
    sources: sources.map((x) => `${x.path}:${x.startLine}-${x.endLine}`),
    ...(mode === 'memory' ? {} : { truthReread: sources.some(covers) }),
  };
}

/** The top hit of the index's lexical search, as an answer: `QNAME at path:line` or `path:line`, then its first words. */
function topHit(q: QuestionRecord, built: Built, texts: Map<string, string[]>): ModeAnswer {
  const kind = q.kind as CaseKind;
  const start = performance.now();
  const hit = built.index.search(q.question)[0];
  const seconds = (performance.now() - start) / 1000;
  let answer = '';
  if (hit) {
    const c = hit.chunk;
    const where = `${c.path}:${c.startLine}`;
    const body = (texts.get(c.path) ?? []).slice(c.startLine - 1, c.endLine).join('\n');
    const head = (body.match(/\S+/g) ?? []).slice(0, BM25_WORDS).join(' ');
    answer = kind === 'what' || kind === 'summarize' ? `${where}\n\n${head}` : c.definition ? `${c.definition} at ${where}` : where;
  }
  const citation = hit ? [{ text: `${hit.chunk.path}:${hit.chunk.startLine}`, path: hit.chunk.path, line: hit.chunk.startLine, verified: true, note: 'the hit' }] : [];
  // What the top hit says to "what does X do" is its code, scored as prose all the same (a floor without a model);
  // to a what-missing question it always names something, so only no hit at all counts as "not found".
  const prose = kind === 'what' || kind === 'summarize';
  const scored = prose ? answer.replace(/^[^\n]*\n\n/, '') : kind === 'what-missing' && !hit ? 'No definition found.' : answer;
  const s = score(kind, scored, q.truth!, q.answer, citation, built.lines);
  return {
    answer,
    ...s,
    seconds: round(seconds, 4),
    firstTokenSeconds: round(seconds, 4),
    ...(kind === 'what-missing' ? {} : { truthReread: !!hit && hit.chunk.path === q.truth!.path && hit.chunk.startLine <= q.truth!.line && q.truth!.line <= hit.chunk.endLine }),
  };
}

// ---------------------------------------------------------------------------------------------- the run

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = new Date().toISOString();
  const t0 = performance.now();
  const loadAverageAtStart = os.loadavg().map((l) => round(l, 2));
  const out = path.resolve(REPO, args.out);
  const models = args.models.map((m) => ({ name: m.name, dir: path.resolve(REPO, m.dir) }));
  const tokenizer = FamTokenizer.fromFiles(path.join(models[0]!.dir, 'tokenizer.json'), true, path.join(models[0]!.dir, 'tokenizer_config.json'));

  // Every held-out package: fetched, dumped; those whose dump has more than `where` questions are evaluated, the
  // ones with the most kinds first (then those untouched by the index fixes, then the fixture's order).
  const fixture = await readFixture();
  const prepared: Prepared[] = [];
  for (const pkg of fixture.packages) {
    const { root } = await fetchPackage(pkg);
    prepared.push(await prepare(pkg, root, tokenizer, args.seed));
  }
  const kindsOf = (p: Prepared) => KINDS.filter((k) => p.info.chosen[k]! > 0).length;
  const evaluated = prepared
    .map((p, i) => ({ p, i }))
    .filter(({ p }) => p.cases.some((q) => q.kind !== 'where'))
    .sort((a, b) => kindsOf(b.p) - kindsOf(a.p) || Number(a.p.pkg.usedForIndexFixes) - Number(b.p.pkg.usedForIndexFixes) || a.i - b.i)
    .slice(0, args.packages)
    .map(({ p }) => p);
  process.stdout.write(`packages: ${evaluated.map((p) => `${p.pkg.name} ${JSON.stringify(p.info.chosen)}`).join('; ')}\n`);

  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-qa-kinds-'));
  const report: Report = {
    task: 'issue 20, item 4: QA per question kind and workspace size on held-out packages; re-read on / off / into a blank state / BM25 alone; stage against stage',
    command: `node --import tsx test/eval/qa-kinds.ts ${process.argv.slice(2).join(' ')}`.trim(),
    started,
    finished: '',
    wallSeconds: 0,
    machine: { cpu: os.cpus()[0]?.model.trim() ?? 'unknown', cores: os.cpus().length, memoryGiB: round(os.totalmem() / 2 ** 30, 1), node: process.version, loadAverageAtStart, loadAverageAtEnd: [] },
    models: models.map((m) => ({ ...m, dir: path.relative(REPO, m.dir).startsWith('..') ? m.dir : path.relative(REPO, m.dir), loaded: null })),
    settings: { sizes: args.sizes, seed: args.seed, caps: CAPS, maxNewTokens: MAX_NEW_TOKENS, bm25Words: BM25_WORDS, rereadTokens: 'the engine default for the device (2048 on a CPU)', dump: { ...DUMP_OPTIONS, seed: args.seed } },
    modes: MODES,
    packages: evaluated.map((p) => p.info),
    workspaces: [],
    cases: [],
  };
  const save = async () => {
    report.finished = new Date().toISOString();
    report.wallSeconds = round((performance.now() - t0) / 1000, 1);
    report.machine.loadAverageAtEnd = os.loadavg().map((l) => round(l, 2));
    await fs.mkdir(path.dirname(out), { recursive: true });
    await fs.writeFile(`${out}.json`, reportJson(report));
  };

  const engine = EngineClient.spawn({ onStderr: (text) => process.stderr.write(text) });
  const tokenCache = new Map<string, number>();
  let loadedName: string | null = null;
  try {
    for (const p of evaluated) {
      for (const size of args.sizes) {
        const built = await buildWorkspace(p, size, prepared, tokenizer, tokenCache, args.seed, tmp);
        report.workspaces.push(built.info);
        const texts = new Map<string, string[]>();
        for (const f of built.index.files()) texts.set(f.path, (await fs.readFile(path.join(built.root, f.path), 'utf8')).split(/\r?\n/));
        const results: CaseResult[] = built.cases.map((q) => {
          const t = q.truth!;
          const removed = t.doc ? p.original.get(t.path)?.split('\n').slice(t.doc[0] - 1, t.doc[1]).join('\n') : undefined;
          return {
            id: `${p.pkg.name}/${q.kind}/${q.question}`,
            package: p.pkg.name,
            size,
            kind: q.kind as CaseKind,
            question: q.question,
            truth: t,
            reference: q.answer,
            ...(removed !== undefined ? { removedText: removed } : {}),
            answers: {},
          };
        });
        const bm25 = built.cases.map((q) => topHit(q, built, texts));
        for (const m of models) {
          if (loadedName !== m.name) {
            const loaded = await engine.request('engine/loadModel', { modelDir: m.dir, device: 'cpu' });
            report.models.find((x) => x.name === m.name)!.loaded ??= loaded;
            loadedName = m.name;
          }
          const opened = await engine.stream('workspace/open', { root: built.root, mode: 'fresh' }).result;
          const read = opened.read!;
          if (read.filesIngested !== built.index.files().length) throw new Error(`${built.root}: the engine read ${read.filesIngested} files, the index here ${built.index.files().length}`);
          built.info.ingest[m.name] = { tokens: read.tokensIngested, seconds: round(read.seconds, 2), tokensPerSecond: Math.round(read.tokensPerSecond) };
          process.stdout.write(`${p.pkg.name} @${size} [${m.name}]: ${read.filesIngested} files (${built.info.packageFilesOfAll} of the package), ${read.tokensIngested} tokens read in ${round(read.seconds, 1)} s; ${built.cases.length} cases\n`);
          for (const [i, q] of built.cases.entries()) {
            const answers = {} as Record<Mode, ModeAnswer>;
            for (const mode of ['reread', 'memory', 'blank'] as EngineMode[]) answers[mode] = await askEngine(engine, q, mode, built);
            answers.bm25 = bm25[i]!;
            results[i]!.answers[m.name] = answers;
            const mark = (a: ModeAnswer) => (q.kind === 'what' || q.kind === 'summarize' ? a.score.toFixed(2) : a.score ? 'ok' : '--') + (a.nonexistent ? '!' : '');
            process.stdout.write(`  ${q.kind.padEnd(12)} ${MODE_NAMES.map((mode) => `${mode} ${mark(answers[mode]).padEnd(5)}`).join(' ')} ${q.question.slice(0, 70)}\n`);
          }
        }
        report.cases.push(...results);
        await save();
        await fs.rm(built.root, { recursive: true, force: true });
      }
    }
  } finally {
    await engine.shutdown();
    await fs.rm(tmp, { recursive: true, force: true });
  }
  await save();
  const md = markdown(report, path.basename(out));
  await fs.writeFile(`${out}.md`, md);
  await chart(report, `${out}.png`);
  process.stdout.write(`\n${md}\nwritten: ${path.relative(REPO, out)}.json, .md, .png in ${round(report.wallSeconds / 60, 1)} min\n`);
}

// ---------------------------------------------------------------------------------------------- the report

interface Cell {
  n: number;
  score: number;
  rightPath: number;
  rightLine: number;
  rightName: number;
  nonexistent: number;
  citing: number;
  /** which (reread, blank): the re-read did not hold the definition, and of those, answers that said so (the trained answer). */
  notReread: number;
  notRereadSaid: number;
}

function cell(cases: CaseResult[], model: string, mode: Mode): Cell {
  const as = cases.map((c) => c.answers[model]?.[mode]).filter((a): a is ModeAnswer => !!a);
  return {
    n: as.length,
    score: as.length ? as.reduce((s, a) => s + a.score, 0) / as.length : NaN,
    rightPath: count(as, (a) => a.rightPath === true),
    rightLine: count(as, (a) => a.rightLine === true),
    rightName: count(as, (a) => a.rightName === true),
    nonexistent: as.reduce((s, a) => s + a.nonexistent, 0),
    citing: count(as, (a) => a.nonexistent > 0),
    notReread: mode === 'reread' || mode === 'blank' ? count(as, (a) => a.truthReread === false) : 0,
    notRereadSaid: mode === 'reread' || mode === 'blank' ? count(as, (a) => a.truthReread === false && saysNotFound(a)) : 0,
  };
}

function cellText(kind: CaseKind, c: Cell): string {
  if (c.n === 0) return '-';
  switch (kind) {
    case 'where': return `${c.rightLine}/${c.n} (path ${c.rightPath})`;
    case 'which': return `${Math.round(c.score * c.n)}/${c.n} (name ${c.rightName}, line ${c.rightLine}${c.notReread ? `; not re-read ${c.notReread}, said so ${c.notRereadSaid}` : ''})`;
    case 'what':
    case 'summarize': return `${c.score.toFixed(3)} (n ${c.n})`;
    case 'what-missing': return `${Math.round(c.score * c.n)}/${c.n}`;
  }
}

/** The reasons cases were left out of a workspace, each once, with how many cases it cost. */
function leftOut(dropped: WorkspaceInfo['dropped']): string {
  const n = new Map<string, number>();
  for (const d of dropped) n.set(d.why, (n.get(d.why) ?? 0) + 1);
  return [...n].map(([why, k]) => `${k} case${k > 1 ? 's' : ''}: ${why}`).join('; ');
}

const sizeText = (s: number) => (s % 1024 === 0 ? `${s / 1024}k` : String(s));
const cleanCell = (s: string) => s.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ⏎ ').trim();

function markdown(r: Report, base: string): string {
  const models = r.models.map((m) => m.name);
  const sizes = r.settings.sizes;
  const kinds = KINDS.filter((k) => r.cases.some((c) => c.kind === k));
  const casesOf = (k: CaseKind, s: number) => r.cases.filter((c) => c.kind === k && c.size === s);
  const distinct = new Set(r.cases.map((c) => c.id)).size;
  const perKindSize = kinds.map((k) => `${k} ${sizes.map((s) => casesOf(k, s).length).join('/')}`).join(', ');
  const secs = (xs: number[]) => (xs.length ? `${percentile(xs, 0.5).toFixed(2)} / ${percentile(xs, 0.95).toFixed(2)}` : '-');

  const modelTable = (model: string) => [
    `| kind (headline) | size | ${MODE_NAMES.join(' | ')} |`,
    `|---|---|${'---|'.repeat(MODE_NAMES.length)}`,
    ...kinds.flatMap((k) => sizes.map((s) => `| ${k} (${HEADLINE[k]}) | ${sizeText(s)} | ${MODE_NAMES.map((m) => cellText(k, cell(casesOf(k, s), model, m))).join(' | ')} |`)),
  ];
  const stageTable = () => [
    `| kind | size | ${MODE_NAMES.flatMap((m) => models.map((x) => `${m}: ${x}`)).join(' | ')} |`,
    `|---|---|${'---|'.repeat(MODE_NAMES.length * models.length)}`,
    ...kinds.flatMap((k) =>
      sizes.map((s) => {
        const cells = MODE_NAMES.flatMap((m) => {
          const vals = models.map((x) => cell(casesOf(k, s), x, m));
          const shown = vals.map((v) => (v.n === 0 ? '-' : v.score.toFixed(2)));
          const best = shown.filter((t) => t !== '-').sort().at(-1);
          const unique = m !== 'bm25' && models.length > 1 && shown.filter((t) => t === best).length === 1;
          return shown.map((t) => (unique && t === best ? `**${t}**` : t));
        });
        return `| ${k} | ${sizeText(s)} | ${cells.join(' | ')} |`;
      }),
    ),
  ];
  const nonexistentTable = () => [
    `| model | mode | ${sizes.map((s) => `${sizeText(s)}: citations to nothing (answers with one) / answers`).join(' | ')} |`,
    `|---|---|${'---|'.repeat(sizes.length)}`,
    ...models.flatMap((x) =>
      MODE_NAMES.filter((m) => m !== 'bm25').map((m) => `| ${x} | ${m} | ${sizes.map((s) => {
        const c = cell(r.cases.filter((cs) => cs.size === s), x, m);
        return `${c.nonexistent} (${c.citing}) / ${c.n}`;
      }).join(' | ')} |`),
    ),
  ];
  /** Answers that say the thing was not found: right for what-missing, wrong for every other kind (the answer exists). */
  const notFoundRates = (x: string, m: Mode) => {
    const pairs = r.cases.map((c) => ({ c, a: c.answers[x]?.[m] })).filter((p): p is { c: CaseResult; a: ModeAnswer } => !!p.a);
    const missing = pairs.filter((p) => p.c.kind === 'what-missing').map((p) => p.a);
    // A which-question whose definition was not re-read is trained to be answered "No definition that does this ...".
    const answerable = pairs.filter((p) => p.c.kind !== 'what-missing' && !(p.c.kind === 'which' && m !== 'memory' && p.a.truthReread === false)).map((p) => p.a);
    return { missing: count(missing, saysNotFound), missingOf: missing.length, answerable: count(answerable, saysNotFound), answerableOf: answerable.length };
  };
  const notFoundTable = () => [
    '| model | mode | says "not found" to what-missing (right) | says it to a question whose answer is in the workspace (wrong) |',
    '|---|---|---|---|',
    ...models.flatMap((x) =>
      MODE_NAMES.filter((m) => m !== 'bm25').map((m) => {
        const f = notFoundRates(x, m);
        return `| ${x} | ${m} | ${f.missing}/${f.missingOf} | ${f.answerable}/${f.answerableOf} (${f.answerableOf ? Math.round((100 * f.answerable) / f.answerableOf) : 0}%) |`;
      }),
    ),
  ];
  const mean = (x: string, m: Mode, k: CaseKind) => cell(r.cases.filter((c) => c.kind === k), x, m);
  const findings = () =>
    models.flatMap((x) => {
      const f = notFoundRates(x, 'reread');
      const lines = [`- **${x}**:`];
      for (const k of (['what', 'summarize'] as CaseKind[]).filter((kk) => kinds.includes(kk))) {
        const [re, me, bl, bm] = MODE_NAMES.map((m) => mean(x, m, k).score.toFixed(3));
        lines.push(`  ${k} (all sizes, mean ROUGE-L): reread ${re}, memory ${me}, blank ${bl}, bm25 ${bm}.`);
      }
      const wh = mean(x, 'reread', 'which');
      if (wh.n) lines.push(`  which, reread: ${Math.round(wh.score * wh.n)}/${wh.n} right (name ${wh.rightName}, line ${wh.rightLine}).`);
      lines.push(`  Says "not found" (reread) to ${f.answerable}/${f.answerableOf} answerable questions and ${f.missing}/${f.missingOf} what-missing ones.`);
      const ne = MODE_NAMES.filter((m) => m !== 'bm25').map((m) => `${m} ${cell(r.cases, x, m).nonexistent}`).join(', ');
      lines.push(`  Citations to nothing: ${ne} (of ${cell(r.cases, x, 'reread').n} answers each).`);
      return lines;
    });
  const latencyTable = () => [
    '| model | mode | first text p50 / p95 (s) | whole answer p50 / p95 (s) |',
    '|---|---|---|---|',
    ...models.flatMap((x) =>
      MODE_NAMES.filter((m) => m !== 'bm25').map((m) => {
        const as = r.cases.map((c) => c.answers[x]?.[m]).filter((a): a is ModeAnswer => !!a);
        return `| ${x} | ${m} | ${secs(as.map((a) => a.firstTokenSeconds))} | ${secs(as.map((a) => a.seconds))} |`;
      }),
    ),
  ];
  const rereadTable = () => [
    '| model | kind | re-read spans the truth (reread) | reread score when it does / does not |',
    '|---|---|---|---|',
    ...models.flatMap((x) =>
      (['which', 'what'] as CaseKind[]).filter((k) => kinds.includes(k)).map((k) => {
        const cs = r.cases.filter((c) => c.kind === k && c.answers[x]);
        const yes = cs.filter((c) => c.answers[x]!.reread.truthReread);
        const no = cs.filter((c) => !c.answers[x]!.reread.truthReread);
        const mean = (xs: CaseResult[]) => (xs.length ? (xs.reduce((s, c) => s + c.answers[x]!.reread.score, 0) / xs.length).toFixed(2) : '-');
        return `| ${x} | ${k} | ${yes.length}/${cs.length} | ${mean(yes)} / ${mean(no)} |`;
      }),
    ),
  ];
  // Samples: the smallest size first, then the next, the packages interleaved; each case once.
  const samples = (k: CaseKind) => {
    const seen = new Set<string>();
    const picked: CaseResult[] = [];
    for (const s of sizes) {
      const pool = casesOf(k, s);
      const byPkg = new Map<string, CaseResult[]>();
      for (const c of pool) byPkg.set(c.package, [...(byPkg.get(c.package) ?? []), c]);
      const lists = [...byPkg.values()];
      for (let i = 0; lists.some((l) => i < l.length); i++) for (const l of lists) if (l[i] && !seen.has(l[i]!.id)) (seen.add(l[i]!.id), picked.push(l[i]!));
    }
    const distinct = picked.length;
    // Few distinct questions (summaries are rare): the same questions at the other sizes fill up to 20.
    for (const s of sizes) for (const c of casesOf(k, s)) if (picked.length < 20 && !picked.includes(c)) picked.push(c);
    const rows = picked.slice(0, 20);
    if (rows.length === 0) return ['None.'];
    return [
      ...(k === 'what' ? ['The engine\'s location lead ("`X` is defined at P:L (function X).") is left out of the answers shown.', ''] : []),
      `| # | package, size | ${k === 'what' ? 'name' : 'file'} | truth (deleted ${k === 'what' ? 'doc comment' : 'header'}) | ${models.map((x) => `${x} (reread) | R-L`).join(' | ')} |`,
      `|---|---|---|---|${'---|---|'.repeat(models.length)}`,
      ...rows.map((c, i) => {
        const subject = k === 'what' ? `\`${c.truth.qname}\`` : `\`${c.truth.path}\``;
        return `| ${i + 1} | ${c.package}, ${sizeText(c.size)} | ${subject} | ${cleanCell(c.reference ?? '')} | ${models.map((x) => {
          const a = c.answers[x]?.reread;
          return a ? `${cleanCell(withoutLead(a.answer)) || '(empty)'} | ${a.score.toFixed(2)}` : '- | -';
        }).join(' | ')} |`;
      }),
      ...(distinct < 20 ? ['', `Only ${distinct} distinct ${k} questions in this run: ${rows.length > distinct ? 'the rest are the same questions at another size (another workspace, another memory)' : 'every one is shown'}.`] : []),
    ];
  };
  const names = r.packages.map((p) => `${p.name}@${p.version}`);
  const wsRows = r.workspaces.map((w) => `| ${w.package} | ${sizeText(w.size)} | ${w.packageFilesOfAll} | ${w.vendorFiles} (${w.vendorPackages.join(', ') || '-'}) | ${w.tokensHere} | ${models.map((x) => (w.ingest[x] ? `${w.ingest[x]!.tokens} in ${w.ingest[x]!.seconds} s` : '-')).join(' | ')} | ${w.cases} | ${w.dropped.length ? cleanCell(leftOut(w.dropped)) : '-'} |`);
  const load = (m: Report['models'][number]) => (m.loaded ? `\`${m.dir}\` (${m.loaded.model.modelId}, ${m.loaded.device.provider} ${m.loaded.device.dtype})` : `\`${m.dir}\``);

  return [
    '# QA by question kind and workspace size, on held-out packages',
    '',
    `Written by \`${r.command}\` (test/eval/qa-kinds.ts; \`npm run eval:qa:kinds\`) on ${r.finished.slice(0, 10)} in ${round(r.wallSeconds / 60, 1)} min:`,
    `${distinct} questions over ${r.packages.length} packages, asked at ${sizes.map(sizeText).join(', ')} tokens (${r.cases.length} case x size; per kind at ${sizes.map(sizeText).join('/')}: ${perKindSize}),`,
    `each of ${models.length} model${models.length > 1 ? 's' : ''} answering in 3 engine modes, plus BM25 alone. Chart: [${base}.png](${base}.png); every answer: [${base}.json](${base}.json).`,
    '',
    '## Method',
    '',
    `- **Packages**: ${names.join(', ')}, from test/eval/qa-questions.json: held out of the training corpus (\`TEST_PACKAGES\` and the QA fixture are`,
    '  excluded from every re-read dump, model/tools/reread-dump.ts `excludedPackages`), fetched with `npm pack` (test/eval/packages.ts). Of the',
    '  fixture\'s packages, those whose dump has more than `where` questions are used, the ones with the most question kinds first.',
    '- **Questions**: model/tools/reread-dump.ts `dumpPackage` (the code that makes the training questions; options in the JSON, seed ' + `${r.settings.seed}),`,
    `  then at most ${KINDS.map((k) => `${CAPS[k]} ${k}`).join(', ')} per package (seeded). The dump deletes the doc comment of each \`what\` / \`which\``,
    '  target and the header comment of each `summarize` file: the engine reads that variant, so the answer is not in the workspace, and the',
    '  deleted text is the truth (its lead sentences / the header\'s first sentences, exactly the training answer).',
    '  `what-missing` asks "What does `X` do?" for a name of this repository\'s own code, defined in no package.',
    '- **Workspaces**: per package and size, a temporary folder with the variant\'s files (those the cases need first, then the others while',
    '  they fit) and the source of the other held-out packages under `vendor/` up to the size, the last file cut at a line (sizes counted',
    '  in the default tokenizer\'s file chunks; the engine\'s count is in the table below). The walker reads in path order, so the package',
    '  comes before the padding (`vendor/` sorts after its folders). A case whose file does not fit the size is left out of that size, and',
    '  so is one whose name the padding defines too. Each folder is read from scratch (`workspace/open`, fresh) once per model.',
    `- **Modes**: ${MODE_NAMES.map((m) => `**${m}**: ${r.modes[m]}`).join('; ')}.`,
    `  The engine answers at temperature 0 with its default repetition penalty, at most ${r.settings.maxNewTokens.what} new tokens (${r.settings.maxNewTokens.summarize} for summaries), re-read budget:`,
    `  ${r.settings.rereadTokens}. For bm25 the answer is the top hit's \`path:line\` (with its definition's name for which), and for what /`,
    `  summarize its first ${r.settings.bm25Words} words of code, scored like prose (a floor: the code without a model).`,
    '- **Scores**: where: the first `path:line` is the definition\'s; which: the name (qualified or short) appears and the first `path:line`',
    '  is the definition\'s; what / summarize: ROUGE-L F1 (longest common subsequence of lowercased words) of the answer\'s prose (the',
    '  engine\'s "`X` is defined at ..." lead, citations and markdown taken out) against the deleted text; what-missing: the answer says no',
    '  definition was found. For every engine answer: citations (`grounding.citations`, every `path:line` in the text) of a file not in the',
    '  workspace or a line outside it (**nonexistent**, target 0).',
    `- **Models**: ${r.models.map((m) => `**${m.name}**: ${load(m)}`).join('; ')}.`,
    `- **Machine**: ${r.machine.cpu} x${r.machine.cores}, ${r.machine.memoryGiB} GiB, node ${r.machine.node}; load ${r.machine.loadAverageAtStart.join(' ')} at the start, ${r.machine.loadAverageAtEnd.join(' ')} at the end (shared: times are noisy).`,
    '',
    '## In numbers',
    '',
    ...findings(),
    '',
    ...models.flatMap((x) => [
      `## ${x}: score by kind and size`,
      '',
      'where: right path and line (right path); which: right name and line (name right, line right; in reread and blank, how often the',
      're-read did not hold the definition and, of those, how often the answer said so, which is what training teaches then); what /',
      'summarize: mean ROUGE-L F1; what-missing: says not found.',
      '',
      ...modelTable(x),
      '',
    ]),
    '## Stage against stage',
    '',
    `Headline score per kind (as above, as a fraction), per mode, ${models.join(' vs ')}; the better engine model in bold (where one is better at two decimals).`,
    '',
    ...stageTable(),
    '',
    '## Citations to nothing',
    '',
    ...nonexistentTable(),
    '',
    '## "Not found": right and wrong',
    '',
    'A what-missing score means little alone: a model that says "No definition ..." to everything scores 1 there. This counts',
    'answers that say so (the engine\'s location lead left out) to what-missing questions and to every other question, whose answer exists',
    '(which-questions whose definition the re-read did not hold are left out in reread and blank: training answers those "No definition',
    'that does this is in the code I re-read.").',
    '',
    ...notFoundTable(),
    '',
    '## Does the re-read hold the truth?',
    '',
    'Whether a re-read source spans the definition\'s line (reread mode, all sizes), and the score either way.',
    '',
    ...rereadTable(),
    '',
    '## Time per answer',
    '',
    ...latencyTable(),
    '',
    '## Workspaces',
    '',
    'A package larger than the size fills it alone (no vendor files); "left out": cases whose file did not fit, or whose name the padding defines.',
    '',
    `| package | size | package files | vendor files (packages) | tokens (here) | ${models.map((x) => `read by ${x}`).join(' | ')} | cases | left out |`,
    `|---|---|---|---|---|${'---|'.repeat(models.length)}---|---|`,
    ...wsRows,
    '',
    `## ${Math.min(20, r.cases.filter((c) => c.kind === 'what').length)} what-does answers (reread mode)`,
    '',
    ...samples('what'),
    '',
    `## ${Math.min(20, r.cases.filter((c) => c.kind === 'summarize').length)} summaries (reread mode)`,
    '',
    ...samples('summarize'),
    '',
    '## Limitations',
    '',
    '- Small samples: a few questions per kind and package; one seed; a difference of one or two answers is noise.',
    '- For `where` (and the location lead of `what`), reread and blank answer from the workspace index before the model says anything,',
    '  so their where scores measure the index (right by construction for names defined once), not the model; memory is the model alone.',
    '- For `which`, reread and blank are the engine\'s ranking of the index\'s definitions (model/engine/which.ts), the same for every',
    '  model: they measure the ranking, not the model.',
    '- ROUGE-L against one reference rewards copying the author\'s words; a correct paraphrase scores low, and a fluent answer that',
    '  shares function words ("the", "of") with the reference scores above 0 (so does "No definition of `X` is in the workspace',
    '  index.": about 0.1 against many references). Read the samples and the "not found" table, not only the means.',
    '- A which-question is scored against the truth even when the definition is not among those ranked and re-read (the table',
    '  "Does the re-read hold the truth?").',
    '- Summaries are rare in these packages: only files with a header comment of descriptive sentences give one.',
    '- The padding is other libraries\' code, not more of the same project: it tests that the package\'s facts survive 16k-256k tokens of',
    '  other text, not cross-file questions. A package larger than a size is cut to the files its cases need plus what fits, and',
    '  then has no padding at all (the Workspaces table): its 16k / 64k workspace is all its own code.',
    '- Sizes 16k and 64k only unless `--sizes` asks for more; on this 2-core CPU the engine reads about 3.5k tokens/s.',
    '- `nonexistent` counts `path:line` citations only; a path written without a line, or a name the code does not have, is not counted.',
    '- The packages were held out of training; several of them (`usedForIndexFixes` in the fixture) were used to fix the index, so bm25',
    '  and the re-read\'s retrieval are not measured on code unseen by their development there.',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------- the chart

const COLORS: Record<Mode, string> = { reread: '#1f77b4', memory: '#ff7f0e', blank: '#2ca02c', bm25: '#7f7f7f' };

function chartSvg(r: Report): { svg: string; width: number; height: number } {
  const models = r.models.map((m) => m.name);
  const sizes = r.settings.sizes;
  const kinds = KINDS.filter((k) => r.cases.some((c) => c.kind === k));
  const pw = Math.max(620, Math.ceil(900 / models.length));
  const ph = 300;
  const m = { l: 52, r: 16, t: 50, b: 58 };
  const width = models.length * pw;
  const top = 70;
  const height = top + sizes.length * ph;
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [];
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  parts.push(`<text x="${width / 2}" y="26" font-size="17" font-weight="bold" text-anchor="middle">QA by question kind on ${r.packages.length} held-out package${r.packages.length === 1 ? '' : 's'}: score per mode</text>`);
  MODE_NAMES.forEach((mode, i) => {
    const x = width / 2 - (MODE_NAMES.length * 150) / 2 + i * 150;
    parts.push(`<rect x="${x}" y="40" width="14" height="14" fill="${COLORS[mode]}"/><text x="${x + 20}" y="52" font-size="13">${mode}</text>`);
  });
  models.forEach((model, mi) => {
    sizes.forEach((size, si) => {
      const ox = mi * pw;
      const oy = top + si * ph;
      const iw = pw - m.l - m.r;
      const ih = ph - m.t - m.b;
      const y = (v: number) => oy + m.t + ih * (1 - v);
      parts.push(`<text x="${ox + m.l + iw / 2}" y="${oy + 20}" font-size="14" font-weight="bold" text-anchor="middle">${esc(model)}, ${sizeText(size)} tokens</text>`);
      const wrong = (['reread', 'memory', 'blank'] as Mode[]).map((mode) => {
        const as = r.cases
          .filter((c) => c.size === size && c.kind !== 'what-missing')
          .map((c) => ({ c, a: c.answers[model]?.[mode] }))
          .filter((p) => p.a && !(p.c.kind === 'which' && mode !== 'memory' && p.a.truthReread === false))
          .map((p) => p.a!);
        return `${mode} ${as.length ? Math.round((100 * count(as, saysNotFound)) / as.length) : 0}%`;
      });
      parts.push(`<text x="${ox + m.l + iw / 2}" y="${oy + 37}" font-size="11" fill="#a00" text-anchor="middle">says "not found" to answerable questions: ${wrong.join(', ')}</text>`);
      for (const v of [0, 0.25, 0.5, 0.75, 1]) {
        parts.push(`<line x1="${ox + m.l}" x2="${ox + m.l + iw}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
        parts.push(`<text x="${ox + m.l - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${v.toFixed(2)}</text>`);
      }
      const gw = iw / kinds.length;
      const bw = (gw * 0.8) / MODE_NAMES.length;
      kinds.forEach((k, ki) => {
        const cs = r.cases.filter((c) => c.kind === k && c.size === size);
        const gx = ox + m.l + ki * gw + gw * 0.1;
        MODE_NAMES.forEach((mode, bi) => {
          const c = cell(cs, model, mode);
          if (c.n === 0) return;
          const v = c.score;
          const x = gx + bi * bw;
          parts.push(`<rect x="${x + 1}" y="${y(v)}" width="${bw - 2}" height="${Math.max(0, y(0) - y(v))}" fill="${COLORS[mode]}"/>`);
          parts.push(`<text x="${x + bw / 2}" y="${y(v) - 3}" font-size="9" text-anchor="middle">${v.toFixed(2)}</text>`);
        });
        const n = cs.filter((c) => c.answers[model]).length;
        parts.push(`<text x="${gx + gw * 0.4}" y="${y(0) + 16}" font-size="12" text-anchor="middle">${k}</text>`);
        parts.push(`<text x="${gx + gw * 0.4}" y="${y(0) + 30}" font-size="10" fill="#555" text-anchor="middle">n=${n}</text>`);
      });
      parts.push(`<text x="${ox + m.l + iw / 2}" y="${oy + ph - 10}" font-size="10" fill="#555" text-anchor="middle">where/which/what-missing: share right; what/summarize: mean ROUGE-L F1</text>`);
      parts.push(`<line x1="${ox + m.l}" x2="${ox + m.l + iw}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`);
    });
  });
  return { svg: `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, Arial, sans-serif">${parts.join('')}</svg>`, width, height };
}

async function chart(r: Report, file: string): Promise<void> {
  const { svg, width, height } = chartSvg(r);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
  try {
    const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: 1.5 });
    await page.setContent(`<!doctype html><html><body style="margin:0">${svg}</body></html>`);
    await page.screenshot({ path: file, clip: { x: 0, y: 0, width, height } });
  } finally {
    await browser.close();
  }
}

/** The report as JSON: indented, but one case a line (a case is several hundred answers' worth of small fields). */
function reportJson(r: Report): string {
  const { cases, ...rest } = r;
  const head = JSON.stringify({ ...rest, cases: [] }, null, 1);
  const body = cases.map((c) => `  ${JSON.stringify(c)}`).join(',\n');
  return `${head.slice(0, head.lastIndexOf('"cases": []'))}"cases": [\n${body}\n ]\n}\n`;
}

/** Rewrites <out>.md and <out>.png (and the JSON's layout) from <out>.json, without asking again. */
async function rewrite(out: string): Promise<void> {
  const r = JSON.parse(await fs.readFile(`${out}.json`, 'utf8')) as Report;
  await fs.writeFile(`${out}.json`, reportJson(r));
  await fs.writeFile(`${out}.md`, markdown(r, path.basename(out)));
  await chart(r, `${out}.png`);
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--report-only');
  const run = i >= 0 ? rewrite(path.resolve(REPO, argv[i + 1] ?? 'docs/results/qa-kinds')) : main();
  run.catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

