/**
 * How often the engine's ranking for "which function does <description>" (model/engine/which.ts) puts the right
 * definition first, or in its three, on packages of the training split: the set its design was tried on, so the
 * held-out packages of qa-kinds.ts stay untouched by it.
 *
 *   node --import tsx test/eval/which-ranking.ts --corpus /tmp/famulus-reread/packages.jsonl [--skip 0] [--packages 60]
 *
 * The questions are reread-dump.ts's own (the doc comment of each target deleted, its first sentence the
 * description); the index is built on that variant. Baseline: the definition of the top BM25 chunk for the
 * question (qa-kinds.ts's bm25 mode).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';
import { WorkspaceIndex } from '../../model/index';
import { FamTokenizer } from '../../model/loader';
import { DEFAULT_OPTIONS, dumpPackage, excludedPackages } from '../../model/tools/reread-dump';
import { WHICH_CANDIDATES } from '../../model/engine/retrieval';
import { matchDefinitions, whichQuestionOf } from '../../model/engine/which';
import { REPO } from './packages';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { corpus: { type: 'string' }, skip: { type: 'string', default: '0' }, packages: { type: 'string', default: '60' } } });
  if (!values.corpus) throw new Error('--corpus FILE (packages.jsonl of model/train/reread_corpus.py) is required');
  const weights = path.join(REPO, 'model/weights/default');
  const tokenizer = FamTokenizer.fromFiles(path.join(weights, 'tokenizer.json'), true, path.join(weights, 'tokenizer_config.json'));
  const excluded = excludedPackages();
  const [skip, take] = [Number(values.skip), Number(values.packages)];
  const count = { questions: 0, baseline: 0, top1: 0, top3: 0, packages: 0 };
  let seen = 0;
  const lines = readline.createInterface({ input: fs.createReadStream(values.corpus), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const p = JSON.parse(line) as { package: string; files: [string, string][] };
    if (excluded.has(p.package) || seen++ < skip) continue;
    if (seen > skip + take) break;
    const pkg = { name: p.package, files: p.files.map(([filePath, text]) => ({ path: filePath, text })) };
    const { questions, variant } = await dumpPackage(pkg, tokenizer, { ...DEFAULT_OPTIONS, maxDocTargets: 30, maxWhere: 0, maxHeaderTargets: 0 }, []);
    const which = questions.filter((q) => q.kind === 'which');
    if (which.length === 0) continue;
    const index = await WorkspaceIndex.create();
    for (const [filePath, text] of variant) index.addFile(filePath, text, '');
    for (const q of which) {
      const t = q.truth!;
      const right = (qname: string | undefined, at: string, line: number) => qname === t.qname && at === t.path && line === t.line;
      const ranked = matchDefinitions(whichQuestionOf(q.question)!, index, WHICH_CANDIDATES).map((m) => m.definition);
      const hit = index.search(q.question)[0]?.chunk;
      count.questions++;
      if (ranked[0] && right(ranked[0].qualifiedName, ranked[0].path, ranked[0].startLine)) count.top1++;
      if (ranked.some((d) => right(d.qualifiedName, d.path, d.startLine))) count.top3++;
      if (hit && hit.definition === t.qname && hit.path === t.path) count.baseline++;
    }
    count.packages++;
  }
  const pct = (n: number) => `${n} (${((100 * n) / Math.max(1, count.questions)).toFixed(1)}%)`;
  console.log(`${count.questions} which-questions on ${count.packages} packages (skip ${skip}, ${take} read):`);
  console.log(`  ranking top-1 ${pct(count.top1)}, in the top ${WHICH_CANDIDATES} ${pct(count.top3)}; top BM25 chunk ${pct(count.baseline)} (path and name)`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
