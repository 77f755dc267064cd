/** Code-aware search terms and BM25 over the workspace index's chunks. */
import { strict as assert } from 'node:assert';
import { before, describe, it } from 'node:test';
import { WorkspaceIndex, codeTerms } from '../../model/index';

describe('codeTerms', () => {
  it('keeps identifiers whole and splits them at case changes, underscores, dots, dashes and digits', () => {
    assert.deepEqual(codeTerms('retryWithBackoff'), ['retrywithbackoff', 'retry', 'with', 'backoff']);
    assert.deepEqual(codeTerms('queue.retryWithBackoff'), ['queue.retrywithbackoff', 'queue', 'retrywithbackoff', 'retry', 'with', 'backoff']);
    assert.deepEqual(codeTerms('MAX_RETRY_COUNT'), ['max_retry_count', 'max', 'retry', 'count']);
    assert.deepEqual(codeTerms('XMLHttpRequest2'), ['xmlhttprequest2', 'xml', 'http', 'request']);
    assert.deepEqual(codeTerms('tree-sitter'), ['tree-sitter', 'tree', 'sitter']);
    assert.deepEqual(codeTerms('std::vector'), ['std::vector', 'std', 'vector']);
    assert.deepEqual(codeTerms('$count'), ['$count', 'count']);
  });

  it('reads prose, paths and unicode; drops one-character terms; keeps repeats (they are term frequency)', () => {
    assert.deepEqual(codeTerms('Retry with backoff, then retry.'), ['retry', 'with', 'backoff', 'then', 'retry']);
    assert.deepEqual(codeTerms('src/lib/router.ts'), ['src', 'lib', 'router.ts', 'router', 'ts']);
    assert.deepEqual(codeTerms('función 名前 a + b'), ['función', '名前']);
    assert.deepEqual(codeTerms(''), []);
  });
});

describe('workspace index: search', () => {
  let index: WorkspaceIndex;
  before(async () => {
    index = await WorkspaceIndex.create();
    index.addFile(
      'src/queue.ts',
      [
        "import { sleep } from './time';",
        '',
        'export class Queue<T> {',
        '  private readonly jobs: T[] = [];',
        '',
        '  /** Runs a job, again and again, waiting longer each time. */',
        '  async retryWithBackoff(fn: () => Promise<T>, retries = 3): Promise<T> {',
        '    for (let attempt = 0; ; attempt++) {',
        '      try {',
        '        return await fn();',
        '      } catch (e) {',
        '        if (attempt >= retries) throw e;',
        '        await sleep(2 ** attempt * 100);',
        '      }',
        '    }',
        '  }',
        '',
        '  size(): number {',
        '    return this.jobs.length;',
        '  }',
        '}',
        '',
      ].join('\n'),
      'a',
    );
    // Files that say "retry" and "backoff" more often than the definition does, without defining it.
    index.addFile(
      'src/worker.ts',
      [
        "import { Queue } from './queue';",
        '',
        '// Retry: each retry waits; the backoff doubles. Retry, retry, retry until the backoff limit.',
        'export async function work(queue: Queue<number>): Promise<number> {',
        '  const retry = 5; // retry count for the backoff',
        '  return queue.retryWithBackoff(async () => retry, retry);',
        '}',
        '',
      ].join('\n'),
      'b',
    );
    index.addFile('docs/retries.md', '# Retries\n\nWe retry with a backoff: every retry waits twice as long.\n\n# Other\n\nNothing.\n', 'c');
    index.addFile('src/backoff.py', 'BACKOFF_BASE = 2\nRETRY_LIMIT = 5\n\ndef wait_time(retry):\n    return BACKOFF_BASE ** retry\n', 'd');
  });

  it('ranks the defining chunk of retryWithBackoff first for "retry with backoff"', () => {
    const hits = index.search('retry with backoff');
    assert.ok(hits.length >= 3);
    assert.deepEqual(
      [hits[0]!.chunk.path, hits[0]!.chunk.kind, hits[0]!.chunk.definition, hits[0]!.chunk.startLine, hits[0]!.chunk.endLine],
      ['src/queue.ts', 'definition', 'Queue.retryWithBackoff', 6, 16],
    );
    assert.ok(hits.every((h, i) => i === 0 || h.score <= hits[i - 1]!.score), 'best first');
  });

  it('finds a definition by its identifier, its qualified name, and the words of its file path', () => {
    assert.equal(index.search('retryWithBackoff')[0]!.chunk.definition, 'Queue.retryWithBackoff');
    assert.equal(index.search('Queue.retryWithBackoff')[0]!.chunk.definition, 'Queue.retryWithBackoff');
    assert.equal(index.search('wait_time')[0]!.chunk.definition, 'wait_time');
    assert.equal(index.search('worker')[0]!.chunk.path, 'src/worker.ts');
  });

  it("searches a class's header by its members' signatures, without their bodies", () => {
    const header = index.chunksOf('src/queue.ts').find((c) => c.definition === 'Queue')!;
    assert.deepEqual([header.startLine, header.endLine], [3, 4]);
    // Lines 3-4 do not say "size": the signature line of the member size() is searched with them.
    const hits = index.search('size').map((h) => h.chunk.definition);
    assert.ok(hits.includes('Queue') && hits.includes('Queue.size'), hits.join(', '));
    assert.equal(index.search('attempt').find((h) => h.chunk.definition === 'Queue'), undefined, 'no member bodies');
  });

  it('limits the hits, and finds nothing for a query without words', () => {
    assert.equal(index.search('retry', 2).length, 2);
    assert.deepEqual(index.search(''), []);
    assert.deepEqual(index.search('+ - * /'), []);
  });
});

describe('workspace index: search does not depend on the order files were added', () => {
  // Two files with the same text score the same, up to rounding in MiniSearch's running averages, which depends on
  // the order files entered (a read and a restore from the index file, which reads files concurrently, add them in
  // different orders). The engine test that restores a saved memory failed now and then because of it: the re-read
  // took the other twin. (A file removed and added again, as an update does, still moves scores more than rounding:
  // MiniSearch discards lazily, so its old chunks count in the statistics until a vacuum.)
  const twin = (n: number) => [`export const value${n} = ${n};`, '', `export function useValue${n}() {`, `  return value${n} + 1;`, '}', ''].join('\n');
  const files: Record<string, string> = {
    'src/a.ts': twin(1) + 'export const shared = "retry the job";\n',
    'src/c.ts': twin(1) + 'export const shared = "retry the job";\n',
    'src/long.ts': Array.from({ length: 40 }, (_, i) => `export const filler${i} = 'text ${i} about nothing in particular';`).join('\n'),
    'src/short.ts': 'export const x = 1;\n',
  };
  const ranking = async (order: string[]): Promise<string[]> => {
    const index = await WorkspaceIndex.create();
    for (const p of order) index.addFile(p, files[p]!, `sha-${p}`);
    return index.search('retry job value1').map((h) => `${h.chunk.path}:${h.chunk.startLine}-${h.chunk.endLine}`);
  };

  it('ranks equal chunks by path and line, whatever the order they were added in', async () => {
    const first = await ranking(['src/a.ts', 'src/long.ts', 'src/c.ts', 'src/short.ts']);
    assert.ok(first.length >= 2 && first[0]!.startsWith('src/a.ts') && first.some((h) => h.startsWith('src/c.ts')), first.join(', '));
    assert.deepEqual(await ranking(['src/short.ts', 'src/c.ts', 'src/long.ts', 'src/a.ts']), first);
    assert.deepEqual(await ranking(['src/c.ts', 'src/a.ts', 'src/short.ts', 'src/long.ts']), first);
  });
});

describe('workspace index: updates while the search cleans up', () => {
  it('adding and removing files never meets a half-done clean-up of removed chunks (MiniSearch vacuums in batches)', async () => {
    // MiniSearch's automatic vacuum walks its term tree in batches of 1,000 with a wait between them; a file added
    // or removed during a wait changed the tree under the walk, and the walk threw from a timer: an unhandled
    // rejection, which ends the engine (minisearch issue 306; model/tools/reread-dump.ts died of it on undici).
    const index = await WorkspaceIndex.create();
    const ROUNDS = ['zero', 'one', 'two', 'three', 'four'];
    const file = (i: number, round: number) =>
      Array.from({ length: 30 }, (_, k) => `export function fn${i}x${k}r${round}(value${k}: number) { return value${k} * ${i + k}; } // ${ROUNDS[round]}`).join('\n');
    const failures: unknown[] = [];
    const onRejection = (err: unknown) => failures.push(err);
    process.on('unhandledRejection', onRejection);
    try {
      for (let i = 0; i < 200; i++) index.addFile(`src/f${i}.ts`, file(i, 0), `sha-${i}`);
      for (let round = 1; round <= 4; round++) {
        for (let i = 0; i < 200; i += 2) index.addFile(`src/f${i}.ts`, file(i, round), `sha-${i}-${round}`); // an update: remove, then add
        await new Promise((r) => setTimeout(r, 15));
      }
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    assert.deepEqual(failures.map(String), []);
    assert.equal(index.search('fn2x3r4')[0]?.chunk.path, 'src/f2.ts');
    assert.equal(index.search('one').length, 0, 'what a removed chunk said is not found');
    assert.ok(index.search('zero', 1000).every((h) => Number(/\d+/.exec(h.chunk.path)![0]) % 2 === 1), 'only the files never updated say zero');
  });
});
