/**
 * Issue 22's last gap: tokenising a 1 MiB file was one synchronous call of 2.8 s, and engine/status waited for
 * it. FamTokenizer.encodeYielding encodes in pieces cut where no pre-token can span (safePieces) and yields
 * between them. What must hold: the same ids as one encode() call, on real text and on text built to break it,
 * and an engine that answers engine/status within a second while it encodes a 1 MiB file.
 */
import { strict as assert } from 'node:assert';
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { EngineProcess } from '../../model/engine/client';
import type { ReadChunk } from '../../model/engine/protocol';
import { FamTokenizer, safePieces } from '../../model/loader/tokenizer';
import { REPO, TINY, code, probeStatus, rng, tempDir, tinyEngine, writeFigures } from '../reliability/helpers';

const DEFAULT = path.join(REPO, 'model/weights/default');
const tokenizerOf = (dir: string) => FamTokenizer.fromFiles(path.join(dir, 'tokenizer.json'), false, path.join(dir, 'tokenizer_config.json'));

/** This repository's own sources and docs, as one text (~1 MB of real code and prose). */
function repoText(): string {
  const parts: string[] = [];
  for (const dir of ['model/engine', 'model/index', 'model/workspace', 'extension', 'webview', 'docs', 'model/train']) {
    for (const name of readdirSync(path.join(REPO, dir)).sort()) {
      if (/\.(ts|md|py)$/.test(name)) parts.push(readFileSync(path.join(REPO, dir, name), 'utf8'));
    }
  }
  return parts.join('\n');
}

/** Text made of the pieces that group differently when cut: blank lines, CRLF, indentation, digits, specials. */
function adversarial(seed: number, length: number): string {
  const next = rng(seed);
  const atoms = ['\n', '\n\n', '\r\n', '  ', '\t', ' ', 'x', 'Foo', '42', "'s", '}', '<|file|>', '<|endoftext|>', 'é', '日本', '😀', '\n    return 1;', '\n}\n', '//'];
  let out = '';
  while (out.length < length) out += atoms[Math.floor(next() * atoms.length)];
  return out;
}

describe('encodeYielding: the ids of one encode() call, a piece at a time', () => {
  for (const [name, dir] of [['the shipped tokenizer', DEFAULT], ['the tiny test tokenizer', TINY]] as const) {
    it(`${name}: real code and prose, and adversarial text, cut every 64-4096 characters`, async () => {
      const tokenizer = tokenizerOf(dir);
      assert.ok(tokenizer.cutsSafely, 'byte-level BPE is cut in pieces');
      const texts = [repoText(), ...[1, 2, 3, 4, 5, 6].map((s) => adversarial(s, 20_000))];
      for (const text of texts) {
        const whole = tokenizer.encode(text);
        for (const pieceChars of [64, 512, 4096]) {
          const pieces = [...safePieces(text, pieceChars)];
          assert.equal(pieces.join(''), text);
          assert.deepEqual(await tokenizer.encodeYielding(text, pieceChars), whole, `${text.length} characters in pieces of ${pieceChars}`);
        }
      }
    });
  }

  it('cuts only after a newline between two non-space characters, and leaves a text without one whole', () => {
    const text = 'aa\nbb\n\ncc\r\ndd\n  ee\nff';
    const pieces = [...safePieces(text, 1)];
    assert.deepEqual(pieces, ['aa\n', 'bb\n\ncc\r\ndd\n  ee\n', 'ff']);
    assert.deepEqual([...safePieces('  \n  \n\n\r\n', 1)], ['  \n  \n\n\r\n']);
    assert.deepEqual([...safePieces('short', 100)], ['short']);
  });

  it('a tokenizer of another shape (a normalizer, a Metaspace pre-tokenizer) is encoded whole', () => {
    const json = JSON.parse(readFileSync(path.join(TINY, 'tokenizer.json'), 'utf8'));
    const metaspace = FamTokenizer.fromJSON({ ...json, pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true } }, undefined, { source: 'metaspace', requireSpecials: false });
    assert.equal(metaspace.cutsSafely, false);
    const normalized = FamTokenizer.fromJSON({ ...json, normalizer: { type: 'NFC' } }, undefined, { source: 'nfc', requireSpecials: false });
    assert.equal(normalized.cutsSafely, false);
  });
});

describe('the engine encodes a 1 MiB file without holding engine/status', () => {
  let dir: string;
  let engine: EngineProcess;
  before(async () => {
    dir = await tempDir('encode-yielding');
    // ~1 MiB of code in one file, with top-level lines to cut at.
    let text = '';
    for (let seed = 0; text.length < 1024 * 1024 - 70_000; seed++) text += code(seed, 1000);
    await fs.writeFile(path.join(dir, 'big.ts'), text);
    engine = await tinyEngine();
  });
  after(async () => {
    await engine?.shutdown(1000);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('engine/status answers within a second from the walk to the first progress of the read', async () => {
    const probe = probeStatus(engine, 20);
    const controller = new AbortController();
    const stream = engine.stream('workspace/open', { root: dir, mode: 'fresh' }, { signal: controller.signal });
    let walked = false;
    for await (const chunk of stream as AsyncIterable<ReadChunk>) {
      if (chunk.kind === 'walked') walked = true;
      // The first progress of the file comes once it is encoded and its first block read: enough.
      if (chunk.kind === 'progress' && chunk.tokensDone > 0) {
        controller.abort();
        break;
      }
    }
    const { maxMs: statusMaxMs, replies } = await probe.stop();
    await stream.result.catch(() => undefined);
    await writeFigures('encode-yielding', { fileBytes: (await fs.stat(path.join(dir, 'big.ts'))).size, statusReplies: replies, statusMaxMs: Math.round(statusMaxMs) });
    assert.ok(walked);
    assert.ok(replies >= 3, `only ${replies} status replies`);
    assert.ok(statusMaxMs < 1000, `engine/status took ${statusMaxMs.toFixed(0)} ms`);
  });
});
