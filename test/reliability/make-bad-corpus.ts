/**
 * Generates the bad-input corpus of issue 7 into a folder (a temporary one at test time; nothing of it is
 * committed): binary files, a 100 MB file, invalid UTF-8, UTF-16/32 with byte-order marks, very long lines,
 * empty files, symlink loops, unreadable entries, hostile path names, .gitignore edge cases and a 10,000-file
 * tree. Every case says what the walker must make of each of its paths, so a test can check that each entry
 * on disk was either read or skipped with an allowed reason.
 *
 * Unreadable files: `chmod 000` stops reads only without CAP_DAC_OVERRIDE. The generator probes whether a
 * mode-000 file can still be read (it can as root, as in CI); when it can, the case expects it to be read, and
 * unreadability comes from entries that fail whoever reads them: broken symlinks (ENOENT), a name that is not
 * valid UTF-8 (Node gets it back with U+FFFD, so the name it holds names no file: ENOENT), and a symlink chain
 * longer than the kernel follows (ELOOP). (A link to /proc/self/mem, whose read fails with EIO even for root,
 * now leads out of the root and is skipped before any read.)
 *
 *   npx tsx test/reliability/make-bad-corpus.ts <dir> [--full]    (prints the case list as JSON)
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SkipReason } from '../../model/workspace/walker';

/** What the walker must do with one path of the corpus. */
export type Expectation =
  /** Read as text (in the state's file list). */
  | { kind: 'read' }
  /** Skipped with one of these reasons, itself or through a skipped folder above it. */
  | { kind: 'skip'; reasons: SkipReason[] }
  /** Changed while the walk runs: read, skipped with one of these reasons, or gone before it was listed. */
  | { kind: 'racy'; reasons: SkipReason[] };

export interface CorpusEntry {
  /** Root-relative path as the walker reports it (forward slashes; folders end with '/'). */
  path: string;
  expect: Expectation;
}

export interface CorpusCase {
  id: string;
  group: string;
  description: string;
  entries: CorpusEntry[];
}

export interface Corpus {
  root: string;
  cases: CorpusCase[];
  /** Whether a mode-000 file could be read back (root, or CAP_DAC_OVERRIDE), and what stood in for it. */
  chmodStopsReads: boolean;
  /** Files of the large tree. */
  treeFiles: number;
  /** Bytes of the big file. */
  bigFileBytes: number;
  /** Starts rewriting, deleting and re-creating the churn files until the returned function is called. */
  startChurn: () => () => Promise<number>;
}

export interface CorpusOptions {
  /** Files in the large tree (default 10,000). */
  treeFiles?: number;
  /** Size of the big file (default 100 MB). */
  bigFileBytes?: number;
  /** Length of the longest single-line file (default 48 KB; the long suite uses 1,000,000 bytes). */
  longLineBytes?: number;
}

const read: Expectation = { kind: 'read' };
const skip = (...reasons: SkipReason[]): Expectation => ({ kind: 'skip', reasons });

export function makeBadCorpus(root: string, options: CorpusOptions = {}): Corpus {
  const treeFiles = options.treeFiles ?? 10_000;
  const bigFileBytes = options.bigFileBytes ?? 100 * 1000 * 1000;
  const longLineBytes = options.longLineBytes ?? 48 * 1024;
  fs.mkdirSync(root, { recursive: true });
  const cases: CorpusCase[] = [];
  const abs = (rel: string) => path.join(root, ...rel.split('/'));
  const put = (rel: string, data: string | Uint8Array) => {
    fs.mkdirSync(path.dirname(abs(rel)), { recursive: true });
    fs.writeFileSync(abs(rel), data);
  };
  const add = (id: string, group: string, description: string, entries: Array<[string, Expectation]>) =>
    cases.push({ id, group, description, entries: entries.map(([p, expect]) => ({ path: p, expect })) });
  const one = (id: string, group: string, description: string, rel: string, data: string | Uint8Array, expect: Expectation) => {
    put(rel, data);
    add(id, group, description, [[rel, expect]]);
  };
  const link = (target: string, rel: string) => {
    fs.mkdirSync(path.dirname(abs(rel)), { recursive: true });
    fs.symlinkSync(target, abs(rel));
  };
  const text = (lines: number, seed: number) =>
    Array.from({ length: lines }, (_, i) => `const v${seed}_${i} = ${(seed * 31 + i) % 97};`).join('\n') + '\n';

  // ---- binary ------------------------------------------------------------------------------------------
  one('bin-nul-first', 'binary', 'NUL as the first byte', 'bin/nul-first.bin', Buffer.from([0, 0x41, 0x42]), skip('binary'));
  one('bin-nul-8191', 'binary', 'NUL at the last byte of the 8 KB head', 'bin/nul-8191.txt',
    Buffer.concat([Buffer.alloc(8191, 0x61), Buffer.from([0])]), skip('binary'));
  one('bin-nul-after-head', 'binary', 'NUL after the 8 KB head in valid UTF-8 (U+0000 is valid UTF-8: read)', 'bin/nul-after-head.txt',
    Buffer.concat([Buffer.alloc(9000, 0x62), Buffer.from([0]), Buffer.from('tail\n')]), read);
  one('bin-png', 'binary', 'a PNG signature and IHDR chunk', 'bin/image.png',
    Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]), Buffer.from('IHDR'), randomBytes(256)]), skip('binary'));
  one('bin-elf', 'binary', 'the first 64 KB of the node executable', 'bin/node-head',
    fs.readFileSync(process.execPath).subarray(0, 64 * 1024), skip('binary'));
  const noNul = Buffer.from(randomBytes(4096).map((b) => (b === 0 ? 0xff : b)));
  one('bin-random-no-nul', 'binary', 'random bytes without a NUL', 'bin/random-no-nul.dat', noNul, skip('invalid-utf8'));
  one('bin-gzip', 'binary', 'a gzip header', 'bin/archive.gz', Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3, 1, 2, 3]), skip('binary'));

  // ---- size --------------------------------------------------------------------------------------------
  {
    const rel = 'big/hundred-mb.log';
    fs.mkdirSync(path.dirname(abs(rel)), { recursive: true });
    const fd = fs.openSync(abs(rel), 'w');
    const chunk = Buffer.alloc(4 * 1024 * 1024, 'a log line that repeats forever\n');
    for (let written = 0; written < bigFileBytes; written += chunk.length) {
      fs.writeSync(fd, chunk, 0, Math.min(chunk.length, bigFileBytes - written));
    }
    fs.closeSync(fd);
    add('big-100mb', 'size', `a ${bigFileBytes}-byte text file`, [[rel, skip('too-large')]]);
  }
  one('big-over-limit', 'size', 'one byte over the 1 MiB default limit', 'big/limit-plus-one.txt', Buffer.alloc(1024 * 1024 + 1, 0x2e), skip('too-large'));

  // ---- encodings ---------------------------------------------------------------------------------------
  const utf16 = (s: string, be: boolean) => {
    const le = Buffer.from(s, 'utf16le');
    if (be) for (let i = 0; i + 1 < le.length; i += 2) [le[i], le[i + 1]] = [le[i + 1]!, le[i]!];
    return Buffer.concat([Buffer.from(be ? [0xfe, 0xff] : [0xff, 0xfe]), le]);
  };
  one('enc-utf16le-bom', 'encoding', 'UTF-16LE with BOM (ASCII text: NUL bytes)', 'enc/utf16le.txt', utf16('hello world\n', false), skip('binary'));
  one('enc-utf16be-bom', 'encoding', 'UTF-16BE with BOM', 'enc/utf16be.txt', utf16('hello world\n', true), skip('binary'));
  one('enc-utf16-cjk', 'encoding', 'UTF-16LE with BOM of CJK text (no NUL byte)', 'enc/utf16-cjk.txt', utf16('中文漢字', false), skip('invalid-utf8'));
  one('enc-utf32-bom', 'encoding', 'UTF-32LE with BOM', 'enc/utf32.txt',
    Buffer.concat([Buffer.from([0xff, 0xfe, 0, 0]), Buffer.from([0x68, 0, 0, 0, 0x69, 0, 0, 0])]), skip('binary'));
  one('enc-utf8-bom', 'encoding', 'UTF-8 with BOM (read, BOM dropped)', 'enc/utf8-bom.ts', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('export {};\n')]), read);
  one('enc-latin1', 'encoding', 'Latin-1 text (0xE9)', 'enc/latin1.txt', Buffer.from('caf\xe9\n', 'latin1'), skip('invalid-utf8'));
  one('enc-lone-continuation', 'encoding', 'a lone continuation byte', 'enc/lone-continuation.txt', Buffer.from([0x61, 0x80, 0x62]), skip('invalid-utf8'));
  one('enc-overlong', 'encoding', "an overlong '/' (C0 AF)", 'enc/overlong.txt', Buffer.from([0x2f, 0xc0, 0xaf]), skip('invalid-utf8'));
  one('enc-surrogate', 'encoding', 'an encoded UTF-16 surrogate (ED A0 80)', 'enc/surrogate.txt', Buffer.from([0x61, 0xed, 0xa0, 0x80]), skip('invalid-utf8'));
  one('enc-truncated-eof', 'encoding', 'a 3-byte sequence cut at the end of the file', 'enc/cut-at-eof.txt', Buffer.from([0x61, 0xe2, 0x82]), skip('invalid-utf8'));
  one('enc-bad-after-head', 'encoding', 'invalid byte after the 8 KB head (passes the quick check)', 'enc/bad-after-head.txt',
    Buffer.concat([Buffer.alloc(10_000, 0x63), Buffer.from([0xff, 0x0a])]), skip('invalid-utf8'));
  {
    // '€' (3 bytes) straddling offset 8192: valid, must not be taken for a cut character.
    const b = Buffer.concat([Buffer.alloc(8191, 0x64), Buffer.from('€'), Buffer.from('\n')]);
    one('enc-split-at-head', 'encoding', 'a multi-byte character across the 8 KB boundary', 'enc/split-at-head.txt', b, read);
  }
  one('enc-5byte', 'encoding', 'an F8 lead byte (no such UTF-8)', 'enc/five-byte.txt', Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]), skip('invalid-utf8'));
  one('enc-astral', 'encoding', 'astral characters, combining marks, RTL and zero-width text (valid: read)', 'enc/astral.md',
    '🦙 e\u0301 \u202Eevil\u202C \u200B\u2028\u2029 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \uFEFF mid-file BOM\n', read);
  one('enc-control', 'encoding', 'C0 control characters other than NUL, and special-token look-alikes', 'enc/controls.txt',
    '\x01\x02\x07\x1b[31mred\x1b[0m\x7f <|file|>fake.ts\n<|question|>?<|answer|>!<|endoftext|>\n', read);

  // ---- lines and empty files ---------------------------------------------------------------------------
  one('line-long-code', 'lines', `a ${longLineBytes}-byte minified line (*.min.js: skipped by default)`, 'lines/minified.min.js',
    'var a=1;'.repeat(Math.ceil(longLineBytes / 8)).slice(0, longLineBytes), skip('default-excluded'));
  one('line-long-generated', 'lines', `a ${longLineBytes}-byte line in a .js file (found minified by its content)`, 'lines/bundle.js',
    'var b=2;'.repeat(Math.ceil(longLineBytes / 8)).slice(0, longLineBytes), skip('minified'));
  one('line-long-nospace', 'lines', 'an 8 KB line without a single space', 'lines/no-space.txt', 'x'.repeat(8192), read);
  one('line-crlf', 'lines', 'CRLF line endings', 'lines/crlf.txt', 'one\r\ntwo\r\n', read);
  one('line-cr-only', 'lines', 'old Mac CR-only line endings', 'lines/cr.txt', 'one\rtwo\r', read);
  one('line-no-final-newline', 'lines', 'no newline at the end', 'lines/no-eol.txt', 'last line', read);
  one('line-many-newlines', 'lines', '5,000 newlines and nothing else', 'lines/newlines.txt', '\n'.repeat(5000), read);
  one('empty-zero', 'empty', 'a 0-byte file', 'empty/zero.txt', '', read);
  one('empty-bom-only', 'empty', 'a UTF-8 BOM only', 'empty/bom-only.txt', Buffer.from([0xef, 0xbb, 0xbf]), read);
  one('empty-whitespace', 'empty', 'spaces and tabs only', 'empty/blank.txt', '   \t \n', read);
  fs.mkdirSync(abs('empty/folder'), { recursive: true });
  add('empty-folder', 'empty', 'an empty folder (nothing to read, nothing to skip)', []);

  // ---- symlinks ----------------------------------------------------------------------------------------
  link('self', 'links/self');
  add('link-self', 'symlink', 'a symlink to itself', [['links/self', skip('symlink-loop')]]);
  link('pong', 'links/ping');
  link('ping', 'links/pong');
  add('link-cycle', 'symlink', 'two symlinks to each other', [['links/ping', skip('symlink-loop')], ['links/pong', skip('symlink-loop')]]);
  link('..', 'links/up');
  add('link-dir-loop', 'symlink', 'a folder link to its parent', [['links/up/', skip('symlink-dir')]]);
  link(root, 'links/root-abs');
  add('link-root', 'symlink', 'an absolute link to the corpus root', [['links/root-abs/', skip('symlink-dir')]]);
  {
    // A chain of 45 links: the kernel gives up after 40 (ELOOP).
    for (let i = 0; i < 45; i++) link(`c${i + 1}`, `links/chain/c${i}`);
    put('links/chain/c45', 'end of the chain\n');
    const entries: Array<[string, Expectation]> = [['links/chain/c45', read]];
    // c_i is 45 - i links from the file: ELOOP for i < 5, read through the links from i = 5 (exactly 40 hops).
    for (let i = 0; i < 45; i++) {
      entries.push([`links/chain/c${i}`, i < 4 ? skip('symlink-loop') : i <= 6 ? { kind: 'racy', reasons: ['symlink-loop'] } : read]);
    }
    add('link-chain-45', 'symlink', 'a chain of 45 file links (longer than the 40 the kernel follows)', entries);
  }
  link('does/not/exist', 'links/broken');
  add('link-broken', 'symlink', 'a broken symlink', [['links/broken', skip('unreadable')]]);
  link('/dev/zero', 'links/dev-zero');
  add('link-dev-zero', 'symlink', 'a link to /dev/zero (endless)', [['links/dev-zero', skip('not-regular')]]);
  link('/dev/urandom', 'links/dev-urandom');
  add('link-dev-urandom', 'symlink', 'a link to /dev/urandom', [['links/dev-urandom', skip('not-regular')]]);
  put('links/target.ts', 'export const target = 1;\n');
  link('target.ts', 'links/alias.ts');
  add('link-file', 'symlink', 'a file link inside the root (read through the link) and its target', [['links/alias.ts', read], ['links/target.ts', read]]);

  // ---- special files and unreadable entries ------------------------------------------------------------
  fs.mkdirSync(abs('special'), { recursive: true });
  execFileSync('mkfifo', [abs('special/fifo')]);
  add('special-fifo', 'special', 'a FIFO (a read would block forever)', [['special/fifo', skip('not-regular')]]);
  link('fifo', 'special/fifo-link.txt');
  add('special-fifo-link', 'special', 'a .txt link to the FIFO', [['special/fifo-link.txt', skip('not-regular')]]);
  link('/proc/self/mem', 'special/proc-mem.txt');
  add('link-out-proc-mem', 'symlink', 'a link to /proc/self/mem (a file whose read fails with EIO even for root): leads out of the root, never opened',
    [['special/proc-mem.txt', skip('symlink-outside')]]);
  fs.writeFileSync(`${root}-secret.txt`, 'SECRET beside the workspace\n');
  link(`${root}-secret.txt`, 'links/secret-out.txt');
  add('link-out-file', 'symlink', 'a file link to a file outside the root (a hostile workspace reaching for ~/.ssh/id_rsa)',
    [['links/secret-out.txt', skip('symlink-outside')]]);
  put('special/mode000.txt', 'secret\n');
  fs.chmodSync(abs('special/mode000.txt'), 0o000);
  let chmodStopsReads = true;
  try {
    fs.readFileSync(abs('special/mode000.txt'));
    chmodStopsReads = false;
  } catch {
    chmodStopsReads = true;
  }
  add('unreadable-mode000', 'unreadable', chmodStopsReads ? 'a mode-000 file (EACCES)' : 'a mode-000 file: readable here (root), so it must be read',
    [['special/mode000.txt', chmodStopsReads ? skip('unreadable') : read]]);
  fs.mkdirSync(abs('special/locked-dir'), { recursive: true });
  put('special/locked-dir/inside.txt', 'inside\n');
  fs.chmodSync(abs('special/locked-dir'), 0o000);
  add('unreadable-dir000', 'unreadable', chmodStopsReads ? 'a mode-000 folder (EACCES on readdir)' : 'a mode-000 folder: readable here (root)',
    [[chmodStopsReads ? 'special/locked-dir/' : 'special/locked-dir/inside.txt', chmodStopsReads ? skip('unreadable') : read]]);
  {
    const badName = Buffer.concat([Buffer.from(abs('special') + '/'), Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe]), Buffer.from('.txt')]);
    fs.writeFileSync(badName, 'a name that is not UTF-8\n');
    add('unreadable-bad-name', 'unreadable', 'a file name that is not valid UTF-8 (bytes FF FE)', [['special/bad\ufffd\ufffd.txt', skip('unreadable')]]);
  }

  // ---- path names --------------------------------------------------------------------------------------
  const names: Array<[string, string, string]> = [
    ['name-unicode-nfc', 'names/café.ts', 'a precomposed é (NFC)'],
    ['name-unicode-nfd', 'names/cafe\u0301.ts', 'the same name decomposed (NFD): a different file'],
    ['name-emoji', 'names/🦙 llama.md', 'an emoji and a space'],
    ['name-cjk', 'names/日本語/ファイル.txt', 'CJK folder and file names'],
    ['name-rtl', 'names/\u202Etxt.exe', 'a right-to-left override in the name'],
    ['name-spaces', 'names/  two leading and trailing  ', 'leading and trailing spaces'],
    ['name-space-only', 'names/ ', 'a name that is a single space'],
    ['name-newline', 'names/line\nbreak.ts', 'a newline in the name'],
    ['name-cr-tab', 'names/tab\there\rcr.txt', 'a tab and a carriage return in the name'],
    ['name-backslash', 'names/back\\slash.ts', 'a backslash (no gitignore rule can name it)'],
    ['name-glob-chars', 'names/[x]*?.ts', 'glob characters'],
    ['name-hash-bang', 'names/#!hash-bang', "a name starting with '#!'"],
    ['name-dotdot-prefix', 'names/..hidden-dotdot.ts', "a name starting with '..' (not a parent reference)"],
    ['name-dash', 'names/--help', 'a name that looks like an option'],
    ['name-long', `names/${'n'.repeat(250)}.ts`, 'a 253-byte name'],
    ['name-json-breaker', 'names/"}\'],{.ts', 'quotes and brackets that would break naive JSON or shell'],
    ['name-html', 'names/<img src=x onerror=alert(1)>.md', 'HTML in the name'],
  ];
  names.forEach(([id, rel, description], i) => one(id, 'names', description, rel, `// file ${i}\n`, read));
  {
    const deep = `deep/${Array.from({ length: 60 }, (_, i) => `d${i}`).join('/')}/bottom.txt`;
    one('name-deep', 'names', 'a file 60 folders deep', deep, 'bottom\n', read);
  }
  {
    fs.mkdirSync(abs('names/dir.ts'), { recursive: true });
    one('name-folder-like-file', 'names', "a folder named like a file ('dir.ts/')", 'names/dir.ts/inner.ts', 'inner\n', read);
  }

  // ---- .gitignore edge cases ---------------------------------------------------------------------------
  put('gi/.gitignore', [
    '\uFEFF# a BOM before the first comment',
    '*.log',
    '!keep.log',
    '/build/',
    '**/tmp/',
    '\\#literal-hash.txt',
    '\\!literal-bang.txt',
    'trailing-spaces.txt   ',
    '[z-a].txt',
    'crlf-rule.txt\r',
    'neg-in-ignored/',
    '!neg-in-ignored/back.txt',
    '*.min.*',
    '!*.min.keep',
    '',
  ].join('\n'));
  const gi = (id: string, description: string, rel: string, expect: Expectation, data = 'x\n') => one(id, 'gitignore', description, `gi/${rel}`, data, expect);
  gi('gi-glob', "'*.log' ignores a log", 'app.log', skip('gitignored'));
  gi('gi-negation', "'!keep.log' re-includes it", 'keep.log', read);
  gi('gi-anchored-dir', "'/build/' ignores the folder at this level", 'build/out.js', skip('gitignored'));
  gi('gi-anchored-not-deeper', "'/build/' does not ignore a deeper build/", 'sub/build/out.js', read);
  gi('gi-doublestar', "'**/tmp/' at any depth", 'a/b/tmp/x.txt', skip('gitignored'));
  gi('gi-escaped-hash', "'\\#literal-hash.txt' ignores a name starting with '#'", '#literal-hash.txt', skip('gitignored'));
  gi('gi-escaped-bang', "'\\!literal-bang.txt'", '!literal-bang.txt', skip('gitignored'));
  gi('gi-trailing-spaces', 'a rule with trailing spaces (they are trimmed)', 'trailing-spaces.txt', skip('gitignored'));
  // git matches nothing with an out-of-order range; the 'ignore' package reads [z-a] as [z]: either is accepted.
  gi('gi-bad-range', "'[z-a].txt', a character range out of order: breaks nothing", 'z.txt', { kind: 'racy', reasons: ['gitignored'] });
  gi('gi-crlf', 'a rule ending in CR (a .gitignore with CRLF endings)', 'crlf-rule.txt', { kind: 'racy', reasons: ['gitignored'] });
  gi('gi-neg-inside-ignored', 'a file re-included inside an ignored folder stays ignored (as in git)', 'neg-in-ignored/back.txt', skip('gitignored'));
  gi('gi-min-negated', "'!*.min.keep' after '*.min.*'", 'x.min.keep', read);
  put('gi/nested/.gitignore', '!*.log\nlocal-only.txt\n');
  gi('gi-nested-override', 'a nested .gitignore re-includes *.log below it', 'nested/inner.log', read);
  gi('gi-nested-rule', 'a nested rule applies below its folder only', 'nested/local-only.txt', skip('gitignored'));
  gi('gi-nested-scope', '...and not above it', 'local-only.txt', read);
  fs.mkdirSync(abs('gi/dir-named-gitignore/.gitignore'), { recursive: true });
  gi('gi-dir-named-gitignore', "a folder named '.gitignore' (no rules, nothing breaks)", 'dir-named-gitignore/.gitignore/file.txt', read);
  put('gi/binary-rules/.gitignore', Buffer.concat([Buffer.from('ignored-by-binary-rules.txt\n'), Buffer.from([0xff, 0x00, 0xfe, 0x0a])]));
  gi('gi-binary-rules', 'a .gitignore with invalid UTF-8 and a NUL still applies its readable rules', 'binary-rules/ignored-by-binary-rules.txt', skip('gitignored'));
  put('gi/huge-rules/.gitignore', Array.from({ length: 20_000 }, (_, i) => `generated-${i}.txt`).join('\n'));
  gi('gi-huge', 'a .gitignore of 20,000 rules', 'huge-rules/generated-19999.txt', skip('gitignored'));
  gi('gi-huge-miss', '...a file none of them names', 'huge-rules/kept.txt', read);
  put('gi/star-all/.gitignore', '*\n!*/\n!wanted.txt\n');
  gi('gi-star-all', "'*' then '!*/' and '!wanted.txt'", 'star-all/sub/wanted.txt', read);
  gi('gi-star-all-other', '...everything else stays ignored', 'star-all/sub/other.txt', skip('gitignored'));
  fs.mkdirSync(abs('gi/broken-link-rules'), { recursive: true });
  link('nowhere', 'gi/broken-link-rules/.gitignore');
  gi('gi-broken-link', 'a .gitignore that is a broken symlink: reported, its folder still read', 'broken-link-rules/file.txt', read);
  cases[cases.length - 1]!.entries.push(
    { path: 'gi/broken-link-rules/.gitignore', expect: skip('unreadable') },
  );
  put('gi/.git/config', '[core]\n');
  put('gi/node_modules/pkg/index.js', 'module.exports = 1;\n');
  put('gi/.famulus/state.fams', 'not a state\n');
  add('gi-default-excludes', 'gitignore', '.git/, node_modules/ and .famulus/ are never read', [
    ['gi/.git/config', skip('excluded')],
    ['gi/node_modules/pkg/index.js', skip('excluded')],
    ['gi/.famulus/state.fams', skip('excluded')],
  ]);
  add('gi-files-themselves', 'gitignore', 'the .gitignore files are text and are read', [
    ['gi/.gitignore', read],
    ['gi/nested/.gitignore', read],
    ['gi/huge-rules/.gitignore', read],
    ['gi/star-all/.gitignore', skip('gitignored')],
    ['gi/binary-rules/.gitignore', skip('binary')],
  ]);

  // ---- the large tree ----------------------------------------------------------------------------------
  {
    const perDir = 100;
    for (let i = 0; i < treeFiles; i++) {
      const dir = `tree/${String(Math.floor(i / perDir)).padStart(3, '0')}`;
      if (i % perDir === 0) fs.mkdirSync(abs(dir), { recursive: true });
      fs.writeFileSync(abs(`${dir}/${String(i % perDir).padStart(2, '0')}`), i % 10 === 0 ? `${i}\n` : '');
    }
    add('tree-10k', 'tree', `a tree of ${treeFiles} files in ${Math.ceil(treeFiles / perDir)} folders`,
      Array.from({ length: treeFiles }, (_, i) => [`tree/${String(Math.floor(i / perDir)).padStart(3, '0')}/${String(i % perDir).padStart(2, '0')}`, read]));
  }

  // ---- changed while the walk runs ---------------------------------------------------------------------
  const churnNames = Array.from({ length: 40 }, (_, i) => `churn/f${String(i).padStart(2, '0')}.txt`);
  churnNames.forEach((rel, i) => put(rel, text(3, i)));
  fs.mkdirSync(abs('churn/dirs'), { recursive: true });
  add('churn', 'changed', 'files rewritten (text, binary, too large), deleted and re-created, and folders removed, while the walk runs',
    churnNames.map((rel) => [rel, { kind: 'racy', reasons: ['unreadable', 'binary', 'too-large', 'invalid-utf8'] }]));
  const startChurn = (): (() => Promise<number>) => {
    let stop = false;
    let ops = 0;
    const loop = (async () => {
      let i = 0;
      while (!stop) {
        const rel = churnNames[i % churnNames.length]!;
        const f = abs(rel);
        try {
          switch (i % 6) {
            case 0: fs.rmSync(f, { force: true }); break;
            case 1: fs.writeFileSync(f, text(2, i)); break;
            case 2: fs.writeFileSync(f, Buffer.from([0, 1, 2, 3])); break;
            // Over the 1 MiB limit. NUL bytes, so that a read catching the file half-written sees a binary file,
            // never a near-1 MiB text (a run once read 1M tokens of spaces that way).
            case 3: fs.writeFileSync(f, Buffer.alloc(1024 * 1024 + 10, 0)); break;
            case 4: fs.writeFileSync(f, Buffer.from([0xc3, 0x28])); break;
            case 5: {
              const d = abs(`churn/dirs/d${i % 7}`);
              if (fs.existsSync(d)) fs.rmSync(d, { recursive: true, force: true });
              else {
                fs.mkdirSync(d, { recursive: true });
                fs.writeFileSync(path.join(d, 'x.txt'), 'x\n');
              }
              fs.writeFileSync(f, text(1, i));
              break;
            }
          }
          ops++;
        } catch {
          // The walker may hold nothing open; a failed churn step is just skipped.
        }
        i++;
        if (i % 4 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
    return async () => {
      stop = true;
      await loop;
      return ops;
    };
  };

  return { root, cases, chmodStopsReads, treeFiles, bigFileBytes, startChurn };
}

/** Every path under `root` as the walker would name it (lstat, no link followed), folders with a trailing '/'. */
export function listCorpus(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const p = path.join(dir, name);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(p);
      } catch {
        out.push(rel + name);
        continue;
      }
      if (st.isDirectory()) {
        out.push(`${rel}${name}/`);
        walk(p, `${rel}${name}/`);
      } else out.push(rel + name);
    }
  };
  walk(root, '');
  return out;
}

/** Makes the corpus tree removable again (the mode-000 folder). */
export function unlockCorpus(root: string): void {
  fs.rmSync(`${root}-secret.txt`, { force: true });
  try {
    fs.chmodSync(path.join(root, 'special', 'locked-dir'), 0o755);
  } catch {
    // already gone
  }
}

if (require.main === module) {
  const [dir, flag] = process.argv.slice(2);
  if (!dir) {
    process.stderr.write('usage: make-bad-corpus.ts <dir> [--full]\n');
    process.exit(1);
  }
  const corpus = makeBadCorpus(path.resolve(dir), flag === '--full' ? { longLineBytes: 1_000_000 } : {});
  const { startChurn: _s, ...rest } = corpus;
  process.stdout.write(`${JSON.stringify({ ...rest, cases: rest.cases.map((c) => ({ ...c, entries: c.entries.length })) }, null, 2)}\n`);
}
