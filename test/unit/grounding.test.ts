/**
 * Retrieval (model/engine/retrieval.ts) and the citation checker (model/engine/citations.ts) on a real
 * workspace index (model/index/): what is re-read for a question, in which order, within which budget, and
 * which `path:line`s of an answer are verified.
 */
import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import { WorkspaceIndex, type Definition } from '../../model/index';
import { headerText, leadSentences, locationText, rankDefinitions } from '../../model/engine/answers';
import { checkCitations } from '../../model/engine/citations';
import type { ContextRef } from '../../model/engine/protocol';
import {
  analyseHistory,
  analyseQuestion,
  conversationOf,
  definitionAt,
  definitionSpan,
  leansOnConversation,
  retrieve,
  retrieveFile,
  subjectOf,
  type ContextSpan,
  type RetrievalIO,
} from '../../model/engine/retrieval';
import { matchDefinitions, whichQuestionOf, whichText } from '../../model/engine/which';

const QUEUE_TS = [
  "import { sleep } from './util';", // 1
  '',
  '/** A job and how often it was tried. */',
  'export interface Job {', // 4
  '  id: string;',
  '  attempts: number;',
  '}',
  '',
  '/**',
  ' * Retries `task` with exponential backoff: waits 100 ms, then 200 ms, ... up to `tries` attempts.',
  ' */',
  'export async function retryWithBackoff<T>(task: () => Promise<T>, tries = 5): Promise<T> {', // 12
  '  for (let i = 0; ; i++) {',
  '    try {',
  '      return await task();',
  '    } catch (err) {',
  '      if (i + 1 >= tries) throw err;',
  '      await sleep(100 * 2 ** i);',
  '    }',
  '  }',
  '}', // 21
  '',
  'export class Queue {', // 23
  '  private jobs: Job[] = [];',
  '  /** Adds a job at the end. */',
  '  push(job: Job): void {', // 26
  '    this.jobs.push(job);',
  '  }',
  '}',
].join('\n');

const STATS_PY = [
  '"""Summaries of benchmark runs."""',
  '',
  'def summarize_runs(runs):', // 3
  '    """Return the mean and the best time of the runs."""',
  '    times = [r.seconds for r in runs]',
  '    return sum(times) / len(times), min(times)',
].join('\n');

const UTIL_TS = ['export function sleep(ms: number): Promise<void> {', '  return new Promise((r) => setTimeout(r, ms));', '}'].join('\n');

/** A long file: 80 documented functions, 5 lines each. */
const BIG_TS = Array.from({ length: 80 }, (_, i) => `/** Step ${i}. */\nexport function step${i}(x: number): number {\n  const y = x + ${i};\n  return y * 2;\n}`).join('\n');

const FILES: Record<string, string> = { 'src/big.ts': BIG_TS, 'src/queue.ts': QUEUE_TS, 'tools/stats.py': STATS_PY, 'src/util.ts': UTIL_TS, 'README.md': '# Demo\n\nA job queue with retries.\n' };

/** Counts a token per 4 characters (what retrieval needs is a count, not the model's exact ids). */
const io: RetrievalIO = {
  readLines: async (p) => (p in FILES ? FILES[p]!.split('\n') : null),
  tokenize: (p, _start, _end, text) => new Array(Math.ceil((p.length + 12 + text.length) / 4)).fill(0),
};

/** Context as the engine hands it to retrieval: the file's lines read from disk (FILES), or the editor's `text`. */
const span = (ref: ContextRef): ContextSpan => {
  const { text, ...rest } = ref;
  return { ...rest, lines: (text ?? FILES[ref.path]!).split('\n'), edited: text !== undefined };
};

describe('retrieval and citations over a workspace index', () => {
  let index: WorkspaceIndex;
  before(async () => {
    index = await WorkspaceIndex.create();
    for (const [p, text] of Object.entries(FILES)) await index.addFile(p, text, `sha-${p}`);
  });

  it('reads a question: its kind, the names the index defines, the files it names, backticked names it does not', () => {
    const where = analyseQuestion('Where is `retryWithBackoff` defined?', index);
    assert.deepEqual(where, { kind: 'where', identifiers: ['retryWithBackoff'], paths: [], unknown: [] });
    // Unmarked code-shaped words count; English words and undefined names do not.
    const what = analyseQuestion('What does summarize_runs do with the Queue?', index);
    assert.equal(what.kind, 'what');
    assert.deepEqual(what.identifiers, ['summarize_runs', 'Queue']);
    assert.equal(analyseQuestion('Summarize src/queue.ts', index).kind, 'summarize');
    assert.deepEqual(analyseQuestion('Summarize src/queue.ts', index).paths, ['src/queue.ts']);
    assert.deepEqual(analyseQuestion('what is in stats.py?', index).paths, ['tools/stats.py'], 'a unique file name finds its path');
    assert.deepEqual(analyseQuestion('Where is `nowhere_fn` defined?', index).unknown, ['nowhere_fn']);
    assert.deepEqual(analyseQuestion('What does `Queue.prototype.push` do?', index).identifiers, ['Queue.push'], 'a prototype path names the method');
    assert.deepEqual(analyseQuestion('Where is ../../etc/passwd?', index).paths, [], 'paths that climb out are never files');
  });

  it('a backticked name is looked up even when it is an English word (`of`, `or`); the same word unmarked is not', async () => {
    const maybe = await WorkspaceIndex.create();
    await maybe.addFile('src/maybe.ts', 'export function of<T>(value: T) {\n  return { value };\n}\nexport function or<T>(a: T, b: T) {\n  return a ?? b;\n}\n', 'sha-maybe');
    assert.deepEqual(analyseQuestion('Where is `of` defined?', maybe).identifiers, ['of']);
    assert.deepEqual(analyseQuestion('What does `or` do?', maybe).identifiers, ['or']);
    assert.deepEqual(analyseQuestion('Where is the list of jobs or the queue?', maybe).identifiers, []);
  });

  it('re-reads the definition a question names, with its doc comment, last (nearest the question)', async () => {
    const q = 'What does `retryWithBackoff` do?';
    const r = await retrieve({ question: q, analysis: analyseQuestion(q, index) }, index, 10_000, io);
    const last = r.chunks[r.chunks.length - 1]!;
    assert.equal(last.path, 'src/queue.ts');
    assert.equal(last.reason, 'definition');
    assert.ok(last.startLine <= 9 && last.endLine >= 21, `the doc comment and the body: ${last.startLine}-${last.endLine}`);
    assert.match(last.text, /Retries `task` with exponential backoff/);
    assert.equal(r.tokens, r.chunks.reduce((n, c) => n + c.tokens.length, 0));
    assert.equal(r.nothingFound, false);
  });

  it('re-reads a doc block one blank line above a definition with the definition (JSDoc as http-errors writes it)', async () => {
    const text = ["'use strict';", '', '/**', ' * Get a class name from a name identifier.', ' */', '', 'function toClassName(name) {', "  return name.replace(/Error$/, '');", '}'].join('\n');
    const detached = await WorkspaceIndex.create();
    detached.addFile('index.js', text, 'sha-he');
    const [def] = detached.definitions('toClassName');
    assert.match(def!.doc, /^Get a class name/);
    const spanOf = definitionSpan(def!, text.split('\n'));
    assert.deepEqual([spanOf.startLine, spanOf.endLine], [3, 9]);
  });

  it('stays within the budget, merges spans of one file that touch, and cuts the first chunk to fit', async () => {
    const q = 'What does `retryWithBackoff` do?';
    for (const budget of [40, 80, 200]) {
      const r = await retrieve({ question: q, analysis: analyseQuestion(q, index) }, index, budget, io);
      assert.ok(r.tokens <= budget, `${r.tokens} tokens > budget ${budget}`);
      assert.ok(r.chunks.length >= 1, `budget ${budget} keeps at least the head of the definition`);
      const spans = r.chunks.filter((c) => c.path === 'src/queue.ts').map((c) => [c.startLine, c.endLine] as const).sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < spans.length; i++) assert.ok(spans[i]![0] > spans[i - 1]![1] + 1, `spans ${JSON.stringify(spans)} overlap or touch`);
    }
    const none = await retrieve({ question: q, analysis: analyseQuestion(q, index) }, index, 0, io);
    assert.deepEqual(none.chunks, []);
  });

  it('says when nothing relevant is found', async () => {
    const q = 'zzqx wvvy?';
    const r = await retrieve({ question: q, analysis: analyseQuestion(q, index) }, index, 2048, io);
    assert.equal(r.nothingFound, true);
    assert.deepEqual(r.chunks, []);
  });

  it('a follow-up that names nothing is retrieved from the names of the last turns: their definitions, then where they are used', async () => {
    const turns = [
      { question: 'What does `summarize_runs` do?', answer: 'It returns the mean and the best time of the runs.' },
      { question: 'What does `retryWithBackoff` do?', answer: 'Retries a task; it waits with `sleep` between tries.' },
    ];
    const followUp = analyseHistory(turns, index);
    // The newest turn first, its question before its answer; the older turn after.
    assert.deepEqual(followUp, { identifiers: ['retryWithBackoff', 'sleep', 'summarize_runs'], paths: [] });
    const q = 'and where is it called?';
    const analysis = analyseQuestion(q, index);
    assert.deepEqual(analysis.identifiers, [], 'the follow-up names nothing itself');
    const alone = await retrieve({ question: q, analysis }, index, 10_000, io);
    assert.ok(!alone.chunks.some((c) => c.reason === 'definition'), 'without the history no definition is re-read');
    const r = await retrieve({ question: q, analysis, followUp }, index, 10_000, io);
    const defs = r.chunks.filter((c) => c.reason === 'definition').map((c) => c.definition);
    assert.deepEqual(defs.slice(-3), ['summarize_runs', 'sleep', 'retryWithBackoff'], 'least relevant first: the newest turn\'s name is last');
    assert.equal(r.chunks[r.chunks.length - 1]!.definition, 'retryWithBackoff');
  });

  it("a question's own names come before the last turns' names; a question that does not lean on the conversation uses none", async () => {
    const turns = [{ question: 'What does `summarize_runs` do?', answer: 'It averages.' }];
    const retrieve_ = (q: string) => {
      const analysis = analyseQuestion(q, index);
      return retrieve({ question: q, analysis, followUp: conversationOf(q, analysis, turns, index).followUp }, index, 10_000, io);
    };
    const retrieved = async (q: string) => (await retrieve_(q)).chunks.filter((c) => c.reason === 'definition').map((c) => c.definition);
    assert.deepEqual(await retrieved('And how does `Queue.push` compare to it?'), ['summarize_runs', 'Queue.push'], 'the question\'s definition nearest the question');
    assert.deepEqual(await retrieved('What does `Queue.push` do?'), ['Queue.push'], 'a new question, asked as if alone');
    assert.equal((await retrieve_('Hello?')).nothingFound, true);
    assert.equal(leansOnConversation('and where is it called?'), true);
    assert.equal(leansOnConversation('What about the tests?'), true);
    assert.equal(leansOnConversation('How are failed jobs retried?'), false);
    // Only the last two turns count.
    const old = analyseHistory([{ question: 'What does `sleep` do?', answer: '' }, { question: 'q', answer: 'a' }, { question: 'r', answer: 'b' }], index);
    assert.deepEqual(old.identifiers, []);
  });

  it('one rule for the conversation: a question that names its own subject and does not lean on the turns is asked alone; any other sees them', () => {
    const turns = [
      { question: 'What does `retryWithBackoff` do?', answer: 'Retries a task; it waits with `sleep` between tries.' },
      { question: 'How often?', answer: 'Five times.' },
    ];
    const asked = (q: string) => conversationOf(q, analyseQuestion(q, index), turns, index);
    // Names its own subject (a definition, a file) and leans on nothing: a new question, whatever came before.
    for (const q of ['What does `Queue.push` do?', 'Where is summarize_runs defined?', 'Summarize tools/stats.py']) {
      assert.deepEqual(asked(q), { turns: [], followUp: { identifiers: [], paths: [] } }, q);
    }
    // Names nothing: a follow-up that sees the turns; only one that leans on them re-reads what they named.
    assert.deepEqual(asked('Why five?'), { turns, followUp: { identifiers: [], paths: [] } });
    assert.deepEqual(asked('and where is it called?'), { turns, followUp: { identifiers: ['retryWithBackoff', 'sleep'], paths: [] } });
    // Names its own subject and leans on the turns: a follow-up too.
    assert.equal(asked('How does `Queue.push` compare to it?').turns, turns);
    // A backticked name the index does not define names no subject of the workspace.
    assert.equal(asked('Where is `nowhere_fn` defined?').turns, turns);
  });

  it('unsaved context text is the version of its file every span of the question re-reads; the index does not place a selection in it', async () => {
    const edited = ['// an unsaved note', ...UTIL_TS.split('\n'), 'export const added = 1;'].join('\n');
    const q = 'What does `sleep` do?';
    const analysis = analyseQuestion(q, index);
    const r = await retrieve({ question: q, analysis, context: [span({ path: 'src/util.ts', startLine: 4, endLine: 5, text: edited })] }, index, 10_000, io);
    const util = r.chunks.filter((c) => c.path === 'src/util.ts');
    assert.deepEqual(util.map((c) => [c.startLine, c.endLine]), [[1, 5]], 'the selection (4-5: line 5 exists only unsaved) merged with the definition the index places at 1-3');
    assert.equal(util[0]!.text, edited, 'both read from the unsaved text, not the file on disk');
    assert.equal(util[0]!.reason, 'context');
    // "What does this do?" about unsaved lines: the index (of the saved file) cannot say which definition they are.
    const about = (context: ContextSpan[]) => subjectOf('What does this do?', analyseQuestion('What does this do?', index), { followUp: { identifiers: ['Queue'], paths: [] }, context }, index);
    assert.equal(about([span({ path: 'src/util.ts', startLine: 1, endLine: 3 })]), 'sleep');
    assert.equal(about([span({ path: 'src/util.ts', startLine: 1, endLine: 3, text: edited })]), null);
  });

  it("a question that points back is about the code pointed at, else the last turns' subject; one that names its own is about that", () => {
    const followUp = analyseHistory([{ question: 'What does `retryWithBackoff` do?', answer: 'Retries.' }], index);
    const subject = (q: string, context: ContextRef[] = []) => subjectOf(q, analyseQuestion(q, index), { followUp, context }, index);
    assert.equal(subject('Where is it defined?'), 'retryWithBackoff');
    assert.equal(subject('What does `Queue` do?'), 'Queue');
    assert.equal(subject('Where is `nowhere_fn` defined?'), null, 'a name the index does not define is not replaced');
    assert.equal(subject('Where are jobs defined?'), null, 'no word points back');
    assert.equal(subjectOf('What does it do?', analyseQuestion('What does it do?', index), { followUp: { identifiers: [], paths: [] }, context: [] }, index), null);
    // With code pointed at, "this" is the definition it shows: the first that starts in it, else the one around it.
    assert.equal(subject('What does this do?', [{ path: 'src/queue.ts', startLine: 9, endLine: 21 }]), 'retryWithBackoff');
    assert.equal(subject('What does this do?', [{ path: 'src/queue.ts', startLine: 27, endLine: 27 }]), 'Queue.push');
    assert.equal(subject('What does this do?', [{ path: 'src/queue.ts', startLine: 22, endLine: 29 }]), 'Queue');
    assert.equal(subject('What does this do?', [{ path: 'src/queue.ts' }]), null, 'a whole file is no one definition');
    assert.equal(definitionAt({ path: 'README.md', startLine: 1, endLine: 2 }, index), null);
  });

  it('context the user gave is re-read first in priority, nearest the question, and cut to its head when it does not fit', async () => {
    const q = 'What does `retryWithBackoff` do?';
    const analysis = analyseQuestion(q, index);
    const r = await retrieve({ question: q, analysis, context: [span({ path: 'tools/stats.py', startLine: 3, endLine: 6 }), span({ path: 'src/util.ts' })] }, index, 10_000, io);
    const last = r.chunks.slice(-2);
    assert.deepEqual(last.map((c) => [c.path, c.startLine, c.endLine, c.reason]), [
      ['src/util.ts', 1, 3, 'context'],
      ['tools/stats.py', 3, 6, 'context'],
    ], 'the first context entry is the last thing read before the question');
    assert.ok(r.chunks.some((c) => c.reason === 'definition' && c.definition === 'retryWithBackoff'), 'retrieval fills the rest');
    // A span larger than the budget: its head that fits, and where it was to end.
    const cut = await retrieve({ question: q, analysis, context: [span({ path: 'src/big.ts', startLine: 11 })] }, index, 100, io);
    assert.equal(cut.chunks.length, 1, 'the context took the whole budget');
    const only = cut.chunks[0]!;
    assert.equal(only.reason, 'context');
    assert.equal(only.startLine, 11);
    assert.ok(only.endLine > 11 && only.endLine < 400, `cut at ${only.endLine}`);
    assert.equal(only.requestedEndLine, 400);
    assert.ok(cut.tokens <= 100);
    // A second context entry gets what the first left, cut too.
    const two = await retrieve({ question: q, analysis, context: [span({ path: 'src/util.ts' }), span({ path: 'src/big.ts' })] }, index, 120, io);
    assert.deepEqual(two.chunks.map((c) => [c.path, c.reason, c.requestedEndLine !== undefined]), [
      ['src/big.ts', 'context', true],
      ['src/util.ts', 'context', false],
    ]);
    assert.ok(two.tokens <= 120);
  });

  it('a file too long to re-read whole is its head and outline', async () => {
    const r = await retrieveFile('src/big.ts', index, 600, io);
    assert.ok(r.tokens <= 600);
    assert.ok(r.chunks.some((c) => c.reason === 'file' && c.startLine === 1), 'the head');
    const outline = r.chunks.filter((c) => c.reason === 'outline');
    assert.ok(outline.length >= 5, `${outline.length} outline entries`);
    for (const c of outline) assert.match(c.text, /^\/\*\* Step \d+\. \*\/\nexport function step\d+/, 'a doc comment and the signature, not the body');
    assert.equal((await retrieveFile('missing.ts', index, 100, io)).nothingFound, true);
  });

  it('reads which-questions: the kind of definition wanted and the description, in the ways people ask', () => {
    assert.deepEqual(whichQuestionOf('Which function does this: Retries a task with backoff.'), { wants: 'function', description: 'Retries a task with backoff.' });
    assert.deepEqual(whichQuestionOf('What class holds the jobs?'), { wants: 'class', description: 'holds the jobs?' });
    assert.deepEqual(whichQuestionOf('find the method that adds a job'), { wants: 'function', description: 'adds a job' });
    assert.deepEqual(whichQuestionOf('Which functions sleep?'), { wants: 'function', description: 'sleep?' });
    assert.deepEqual(whichQuestionOf('Which type holds a job?'), { wants: 'class', description: 'holds a job?' });
    for (const other of ['What does `retryWithBackoff` do?', 'Find `retryWithBackoff`', 'Which file has the queue?', 'Which function does this:', 'What type is `Job.attempts`?']) {
      assert.equal(whichQuestionOf(other), null, other);
    }
    assert.equal(analyseQuestion('Which function does this: waits between tries', index).kind, 'which');
    assert.equal(analyseQuestion('Find the function that waits between tries', index).kind, 'which', 'not a where-question');
  });

  it('ranks definitions for a description by the code they own and the words of their names; re-reads the best last', async () => {
    const best = (q: string) => matchDefinitions(whichQuestionOf(q)!, index, 3).map((m) => m.definition.qualifiedName);
    assert.equal(best('Which function does this: retries a task, waiting longer each time')[0], 'retryWithBackoff');
    assert.equal(best('Which function does this: adds a job at the end')[0], 'Queue.push');
    assert.equal(best('Which function does this: resolves a promise after a timeout')[0], 'sleep');
    assert.ok(best('Which class does this: jobs waiting to be run').every((n) => n === 'Queue' || n === 'Job'), 'a class question lists only class-like definitions');
    assert.deepEqual(best('Which function does this: zzqx wvvy'), []);
    const constructors = await WorkspaceIndex.create();
    constructors.addFile('lib/errors.js', 'function ClientError(message) {\n  this.message = message;\n}\nfunction statusOf(err) {\n  return err.status;\n}\n', 'sha-errors');
    assert.deepEqual(
      matchDefinitions(whichQuestionOf('Which class is the base of client errors?')!, constructors, 3).map((m) => m.definition.qualifiedName)[0],
      'ClientError',
      'with no class that matches, a class question is answered with functions (constructor functions)',
    );

    const q = 'Which function does this: retries a task, waiting longer each time';
    const r = await retrieve({ question: q, analysis: analyseQuestion(q, index) }, index, 10_000, io);
    const last = r.chunks[r.chunks.length - 1]!;
    assert.deepEqual([last.path, last.reason, last.definition], ['src/queue.ts', 'definition', 'retryWithBackoff']);
  });

  it("answers a which-question with the ranking, each definition's place and doc comment, and its citations verify", () => {
    const which = whichQuestionOf('Which function does this: retries a task, waiting longer each time')!;
    const text = whichText(which, matchDefinitions(which, index, 3));
    assert.match(text, /^The functions whose names and code best match that description \(a lexical ranking, best first\):\n- `retryWithBackoff` at src\/queue\.ts:12 \(function\): Retries `task` with exponential backoff/);
    assert.ok(checkCitations(text, { index, definitionOf: [] }).every((c) => c.verified), text);
    assert.equal(whichText(which, []), 'No function in the workspace index matches that description.');
  });

  it('lists a function or class before a variable of the same name (a re-export is not the definition)', () => {
    const def = (kind: string, path: string, startLine: number) => ({ name: 'A', qualifiedName: 'A', kind, path, startLine, endLine: startLine, doc: '' }) as Definition;
    const ranked = rankDefinitions([def('variable', 'index.js', 3), def('class', 'lib/a.js', 25)]);
    assert.deepEqual(ranked.map((d) => d.path), ['lib/a.js', 'index.js']);
    assert.match(locationText('A', [def('variable', 'index.js', 3), def('class', 'lib/a.js', 25)]), /^`A` is defined in 2 places:\n- lib\/a\.js:25 \(class A\)/);
  });

  it('verifies citations: the file is read, the line inside it, and for a definition question the definition line', () => {
    const answer = 'See src/queue.ts:12 and ./src/queue.ts:26, not src/queue.ts:99 nor src/nope.ts:3 nor ../secret.ts:1 nor /etc/passwd:1; http://example.com:80 is a URL. src/queue.ts:12 again.';
    const got = checkCitations(answer, { index });
    assert.deepEqual(got.map((c) => [c.text, c.verified]), [
      ['src/queue.ts:12', true],
      ['./src/queue.ts:26', true],
      ['src/queue.ts:99', false],
      ['src/nope.ts:3', false],
      ['../secret.ts:1', false],
      ['/etc/passwd:1', false],
    ]);
    assert.match(got[0]!.note, /retryWithBackoff/);
    assert.equal(got[1]!.path, 'src/queue.ts', 'a leading ./ is dropped');
    assert.match(got[2]!.note, /outside src\/queue\.ts \(29 lines\)/);
    assert.match(got[3]!.note, /not a file of the workspace/);
    assert.match(got[4]!.note, /outside the workspace/);

    const where = checkCitations('src/queue.ts:12 or src/queue.ts:13', { index, definitionOf: ['retryWithBackoff'] });
    assert.deepEqual(where.map((c) => c.verified), [true, false]);
    assert.match(where[1]!.note, /not where retryWithBackoff is defined \(src\/queue\.ts:12\)/);
    // A name the index does not define: an existing line is still no proof of where it is defined.
    const unknown = checkCitations('src/queue.ts:12', { index, definitionOf: ['tzOffset'] });
    assert.deepEqual(unknown.map((c) => c.verified), [false]);
    assert.match(unknown[0]!.note, /no definition of tzOffset/);
  });
});

describe('quoting the code: doc comments and file headers', () => {
  it('takes the first paragraph, two sentences at most, without tags, keeping dots inside words', () => {
    assert.equal(leadSentences('Saves the state to `state.fams` atomically. Then flushes v1.2 dirs. Third.\n\nMore.'), 'Saves the state to `state.fams` atomically. Then flushes v1.2 dirs.');
    assert.equal(leadSentences('Adds two.\n@param a the first'), 'Adds two.');
    assert.equal(leadSentences(':param a: the first'), '');
    assert.equal(leadSentences('No end mark at all'), 'No end mark at all');
  });

  it("finds a file's header: a module docstring, a block comment, line comments, a markdown file's first paragraph", () => {
    assert.equal(headerText('a.py', '#!/usr/bin/env python\n"""Summaries of runs.\n\nMore."""\nx = 1'), 'Summaries of runs.');
    assert.equal(headerText('a.ts', "'use strict';\n/**\n * JobQueue: hands jobs out. Retries them.\n */\nexport {}"), 'JobQueue: hands jobs out. Retries them.');
    assert.equal(headerText('a.sh', '#!/bin/sh\n# Prunes old logs.\necho'), 'Prunes old logs.');
    assert.equal(headerText('README.md', '# Harbor\n\n[![ci](x)](y)\n\nA job queue with retries, see `src/queue.ts:18`.\n\n## Use'), 'A job queue with retries, see `src/queue.ts:18`.');
    assert.equal(headerText('a.ts', '// Copyright 2024 Someone. Licensed under MIT.\nexport {}'), null, 'a licence is no summary');
    assert.equal(headerText('a.ts', 'export const x = 1;'), null);
  });
});
