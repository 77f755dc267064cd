/**
 * Tokenizer encode speed on real code: the .ts/.js files of node_modules/typescript/lib (a pinned dependency, so
 * the corpus is the same on every machine), in sorted order, first 10 MB, cut at line ends into pieces of about
 * 32 KB (the size of a typical source file, since lib holds a few multi-MB bundles). Encoded four ways:
 *   perFile  one encode call per piece, as ingest does (a file is one chunk of the prompt layout)
 *   library  the same with @huggingface/tokenizers as it comes (without FamTokenizer's BPE memo)
 *   whole    the whole corpus in one call
 *   perLine  one call per line, with whether that gives the same ids as perFile (splitting text at newlines
 *            changes how whitespace and newlines merge for GPT-2-style pre-tokenizers)
 * Rates are MB (10^6 bytes) per second of wall time (MBps) and of this process's CPU time (cpuMBps, the one
 * to compare on a busy machine). Prints one JSON object. Usage:
 *   node --import tsx test/bench/tokenizer-speed.ts [tokenizer.json] [--mb 10]
 * Default tokenizer: the default model's (model/weights/default).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { FamTokenizer, defaultModelDir, packageRoot } from '../../model/loader';

const PIECE_BYTES = 32 * 1024;

function corpus(root: string, maxBytes: number): { files: string[]; bytes: number } {
  const lib = path.join(root, 'node_modules', 'typescript', 'lib');
  const names = fs.readdirSync(lib).filter((n) => /\.(ts|js)$/.test(n)).sort();
  const lines: string[] = [];
  let bytes = 0;
  for (const name of names) {
    for (const line of fs.readFileSync(path.join(lib, name), 'utf8').split(/(?<=\n)/)) {
      if (bytes >= maxBytes) break;
      lines.push(line);
      bytes += Buffer.byteLength(line);
    }
  }
  const files: string[] = [];
  let piece = '';
  for (const line of lines) {
    piece += line;
    if (piece.length >= PIECE_BYTES) {
      files.push(piece);
      piece = '';
    }
  }
  if (piece) files.push(piece);
  return { files, bytes };
}

/** Wall time and this process's CPU time of f (on a busy machine the CPU rate is the one to compare). */
function time<T>(f: () => T): { value: T; seconds: number; cpuSeconds: number } {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const value = f();
  const c = process.cpuUsage(c0);
  return { value, seconds: (performance.now() - t0) / 1000, cpuSeconds: (c.user + c.system) / 1e6 };
}

function main(): void {
  const args = process.argv.slice(2);
  const mbAt = args.indexOf('--mb');
  const mb = mbAt >= 0 ? Number(args.splice(mbAt, 2)[1]) : 10;
  const tokenizerPath = args[0] ?? path.join(defaultModelDir(() => undefined), 'tokenizer.json');
  const configPath = path.join(path.dirname(tokenizerPath), 'tokenizer_config.json');

  const load = time(() => FamTokenizer.fromFiles(tokenizerPath, false, configPath));
  const tok = load.value;
  const { files, bytes } = corpus(packageRoot(__dirname), mb * 1e6);
  const rate = (seconds: number): number => Number((bytes / 1e6 / seconds).toFixed(3));
  const report = (t: { seconds: number; cpuSeconds: number }) => ({
    seconds: Number(t.seconds.toFixed(3)),
    MBps: rate(t.seconds),
    cpuMBps: rate(t.cpuSeconds),
  });

  const perFile = time(() => files.map((f) => tok.encode(f)));
  const perFileTokens = perFile.value.reduce((a, ids) => a + ids.length, 0);
  const lib = new Tokenizer(
    JSON.parse(fs.readFileSync(tokenizerPath, 'utf8')),
    fs.existsSync(configPath) ? JSON.parse(fs.readFileSync(configPath, 'utf8')) : {},
  );
  const library = time(() => files.reduce((n, f) => n + lib.encode(f, { add_special_tokens: false }).ids.length, 0));
  const whole = time(() => tok.encode(files.join('')).length);
  const perLine = time(() => files.map((f) => f.split(/(?<=\n)/).flatMap((line) => tok.encode(line))));
  const sameIds = perLine.value.every((ids, i) => {
    const ref = perFile.value[i]!;
    return ids.length === ref.length && ids.every((id, j) => id === ref[j]);
  });

  console.log(
    JSON.stringify(
      {
        tokenizer: tokenizerPath,
        vocabSize: tok.vocabSize,
        fastBpeCache: tok.fastBpeCache,
        loadSeconds: Number(load.seconds.toFixed(3)),
        corpus: { files: files.length, bytes, tokens: perFileTokens, bytesPerToken: Number((bytes / perFileTokens).toFixed(2)) },
        perFile: { ...report(perFile), tokensPerSecond: Math.round(perFileTokens / perFile.seconds) },
        library: { ...report(library), sameTokenCount: library.value === perFileTokens },
        whole: { ...report(whole), tokens: whole.value },
        perLine: { ...report(perLine), sameIdsAsPerFile: sameIds },
        loadAverage: os.loadavg()[0],
        cpus: os.cpus().length,
        node: process.version,
      },
      null,
      1,
    ),
  );
}

main();
