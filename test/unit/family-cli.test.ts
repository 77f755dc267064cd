/**
 * Bring your own model, end to end through dist/cli.js as a user runs it: for every open-family fixture
 * (test/fixtures/families/*, each with its own tokenizer and chat template) and the plain Llama fixture with
 * Famulus's tokenizer (test/fixtures/tiny-llama), `ingest` reads and saves, then `ask` and `summarize` in new
 * processes restore that saved memory and answer. These checkpoints have no trained FAM, and the CLI says so,
 * except the two fine-tuned with FAM (test/fixtures/finetuned), which run as FAM with their own chat templates.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs, readFileSync, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';

const REPO = path.resolve(__dirname, '../..');
const CLI = path.join(REPO, 'dist/cli.js');
const folders = (root: string) => readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(root, e.name)).sort();
const BSWA = /memory: no trained working memory \(FAM length 0, block sliding-window attention\)/;
/** Each checkpoint and the memory mode the CLI must report for it. */
const MODELS: [string, RegExp][] = [
  ...folders(path.join(REPO, 'test/fixtures/families')).map((m): [string, RegExp] => [m, BSWA]),
  [path.join(REPO, 'test/fixtures/tiny-llama'), BSWA],
  // Fine-tuned with FAM (model/train/lora_fam.py): their own tokenizer and chat template, trained working memory.
  ...folders(path.join(REPO, 'test/fixtures/finetuned')).map((m): [string, RegExp] => [m, /memory: FAM: 8 rows of trained working memory per layer/]),
];

before(() => {
  execFileSync(process.execPath, ['esbuild.config.mjs'], { cwd: REPO, stdio: 'inherit' });
});

function famulus(args: string[]): { code: number | null; report: Record<string, any>; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args, '--json', '--device', 'cpu'], { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `famulus ${args.join(' ')} failed:\n${r.stderr}`);
  return { code: r.status, report: JSON.parse(r.stdout) as Record<string, any>, stderr: r.stderr };
}

async function workspace(): Promise<{ root: string; memory: string }> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-family-ws-'));
  await fs.mkdir(path.join(root, 'src'));
  await fs.writeFile(path.join(root, 'src/queue.ts'), 'export function retryWithBackoff(fn: () => void): void {\n  fn();\n}\n');
  await fs.writeFile(path.join(root, 'src/lease.ts'), 'export function lease(job: string): string {\n  return job;\n}\n');
  return { root, memory: await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-family-mem-')) };
}

describe('CLI with checkpoints of other model families: ingest → save → reload → ask, summarize', () => {
  for (const [model, memoryMode] of MODELS) {
    it(path.relative(path.join(REPO, 'test/fixtures'), model), async () => {
      const { root, memory } = await workspace();
      const common = ['--model', model, '--memory', memory, '--max-tokens', '6'];
      const ingest = famulus(['ingest', root, ...common]);
      assert.equal(ingest.report.state.files, 2);
      assert.ok(ingest.report.stateFileBytes > 0, 'the memory was saved');
      assert.match(ingest.stderr, memoryMode);
      assert.match(ingest.stderr, new RegExp(`family: .+ \\(${JSON.parse(readFileSync(path.join(model, 'config.json'), 'utf8')).model_type}\\)\n`));

      const ask = famulus(['ask', root, 'What does `lease` do?', ...common]);
      assert.match(ask.stderr, /memory restored: 2 files/);
      assert.equal(ask.report.tokensIngested, ingest.report.tokensIngested, 'the saved memory was reloaded, not re-read');
      const answer = ask.report.answers[0];
      assert.ok(answer.tokens > 0 || answer.stopReason === 'stop-token', JSON.stringify(answer));
      assert.ok(answer.grounding.sources.length > 0, 'code was re-read before the answer');

      const summary = famulus(['summarize', path.join(root, 'src/lease.ts'), ...common]);
      assert.equal(summary.report.stateFile, ingest.report.stateFile);
      assert.equal(typeof summary.report.answer, 'string');
      await fs.rm(root, { recursive: true, force: true });
      await fs.rm(memory, { recursive: true, force: true });
    });
  }
});
