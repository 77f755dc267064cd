import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { FamTokenizer, ModelFileError } from '../../model/loader';
import { byteLevel, byteToUnicode, tempDir, tokenizerJson } from './loader-fixtures';

const opts = { source: 'test/tokenizer.json', requireSpecials: true };

/** Merges that build "Ġthe", "ab" and a token holding the first two of the four UTF-8 bytes of 🦙 (F0 9F A6 99). */
const MERGES: [string, string][] = [
  [byteLevel(' '), byteLevel('t')],
  [byteLevel(' t'), byteLevel('h')],
  [byteLevel(' th'), byteLevel('e')],
  [byteLevel('a'), byteLevel('b')],
  [byteToUnicode()[0xf0]!, byteToUnicode()[0x9f]!], // bytes F0 9F
];

const tok = FamTokenizer.fromJSON(tokenizerJson({ merges: MERGES }), undefined, opts);

/** Decodes ids one at a time through a stream decoder; returns the pieces emitted. */
function stream(t: FamTokenizer, ids: number[]): string[] {
  const d = t.createStreamDecoder();
  const pieces = ids.map((id) => d.push(id));
  pieces.push(d.flush());
  return pieces;
}

describe('UnitTests - FamTokenizer', () => {
  it('encode adds nothing implicit; decode(encode(x)) gives x back, spaces and all', () => {
    const text = 'ab the  x , y .\n\té 🦙 end';
    const ids = tok.encode(text);
    assert.equal(tok.decode(ids), text);
    assert.notEqual(ids[0], tok.specials!.endoftext, 'no BOS/EOS added');
    assert.notEqual(ids.at(-1), tok.specials!.endoftext);
    assert.deepEqual(tok.encode(''), []);
    assert.equal(tok.decode([]), '');
    // Merges apply: " the" is one token.
    assert.deepEqual(tok.encode(' the'), [tok.tokenToId(byteLevel(' the'))]);
  });

  it('special tokens by name, and in text they encode to their ids', () => {
    assert.deepEqual(tok.specials, { endoftext: 0, file: 1, question: 2, answer: 3 });
    assert.deepEqual(tok.encode('<|question|>ab<|answer|>'), [2, tok.tokenToId('ab'), 3]);
    assert.equal(tok.decode([1, tok.tokenToId('ab')!, 0]), '<|file|>ab<|endoftext|>');
    assert.equal(tok.vocabSize, 4 + 256 + MERGES.length);
  });

  it('a plain tokenizer without the special tokens loads when they are not required', () => {
    const plain = FamTokenizer.fromJSON(tokenizerJson({ specials: false }), {}, { source: 'p.json', requireSpecials: false });
    assert.equal(plain.specials, undefined);
    assert.equal(plain.vocabSize, 256);
    assert.equal(plain.decode(plain.encode('hi there')), 'hi there');
  });

  it('EXPECTED FAILURE - a Famulus model whose tokenizer lacks the special tokens', () => {
    const json = tokenizerJson();
    (json.added_tokens as { content: string }[]).splice(2, 2); // drop <|question|> and <|answer|>
    assert.throws(
      () => FamTokenizer.fromJSON(json, undefined, opts),
      (e: unknown) =>
        e instanceof ModelFileError &&
        e.file === 'test/tokenizer.json' &&
        /lacks the special token\(s\) <\|question\|>, <\|answer\|>/.test(e.message),
    );
  });

  it('EXPECTED FAILURE - not a tokenizer.json, or a tokenizer_config.json that is not an object', () => {
    assert.throws(() => FamTokenizer.fromJSON({ vocab: {} }, undefined, opts), /not a Hugging Face tokenizer\.json \(no "model" object\)/);
    assert.throws(() => FamTokenizer.fromJSON(tokenizerJson(), [1], opts), /tokenizer_config\.json must hold a JSON object/);
    const broken = tokenizerJson();
    broken.pre_tokenizer = { type: 'NoSuchPreTokenizer' };
    assert.throws(() => FamTokenizer.fromJSON(broken, undefined, opts), /the tokenizer library refused it/);
  });

  it('EXPECTED FAILURE - reading missing or unparsable files names the file', () => {
    assert.throws(() => FamTokenizer.fromFiles('/nonexistent/tokenizer.json', false), /\/nonexistent\/tokenizer\.json: cannot read/);
    const file = path.join(tempDir(), 'tokenizer.json');
    fs.writeFileSync(file, '{"model": ');
    assert.throws(() => FamTokenizer.fromFiles(file, false), (e: unknown) => e instanceof ModelFileError && /not valid JSON/.test(e.message));
  });

  it('BAD CALL - decode of an id the tokenizer does not have', () => {
    assert.throws(() => tok.decode([tok.vocabSize]), /token id 265 is not in the tokenizer \(ids 0\.\.264\)/);
    assert.throws(() => tok.decode([-1]), RangeError);
    assert.throws(() => tok.decode([1.5]), RangeError);
  });

  it('stream decoding: characters split across byte tokens come out whole, never as U+FFFD', () => {
    const text = 'é🦙ab 中文 the 😶‍🌫️!';
    const ids = tok.encode(text);
    // 🦙 is the merged F0 9F token plus two single-byte tokens: the character spans three tokens.
    const llama = tok.encode('🦙');
    assert.equal(llama.length, 3);
    assert.equal(llama[0], tok.tokenToId(byteToUnicode()[0xf0]! + byteToUnicode()[0x9f]!));
    const pieces = stream(tok, ids);
    assert.equal(pieces.join(''), text);
    for (const p of pieces) assert.ok(!p.includes('\uFFFD'), `piece ${JSON.stringify(p)} holds U+FFFD`);
    // The first byte of "é" alone completes nothing; the second completes the character.
    const d = tok.createStreamDecoder();
    const e = tok.encode('é');
    assert.equal(e.length, 2);
    assert.equal(d.push(e[0]!), '');
    assert.equal(d.push(e[1]!), 'é');
    // Each of the three 🦙 tokens: nothing, nothing, the whole character.
    assert.deepEqual(llama.map((id) => d.push(id)), ['', '', '🦙']);
    assert.equal(d.flush(), '');
  });

  it('stream decoding: flush at the end of a stream cut mid-character gives U+FFFD, then starts afresh', () => {
    const d = tok.createStreamDecoder();
    const llama = tok.encode('🦙');
    assert.equal(d.push(tok.tokenToId('ab')!), 'ab');
    assert.equal(d.push(llama[0]!), '');
    assert.equal(d.flush(), '\uFFFD');
    assert.equal(d.push(tok.encode('x')[0]!), 'x');
  });

  it('stream decoding: special tokens and spaces are emitted as decode() gives them', () => {
    const ids = [...tok.encode('ab the'), 0, ...tok.encode(' the  end')];
    assert.equal(stream(tok, ids).join(''), tok.decode(ids));
  });

  it('the faster BPE memo is in place and gives the ids the library gives on its own', () => {
    assert.equal(tok.fastBpeCache, true, '@huggingface/tokenizers changed its BPE cache: see fastBpeCache() in tokenizer.ts');
    const lib = new Tokenizer(tokenizerJson({ merges: MERGES }), {});
    const text = fs.readFileSync(__filename, 'utf8');
    // Twice: the second pass is served from the memo.
    for (let i = 0; i < 2; i++) assert.deepEqual(tok.encode(text), lib.encode(text, { add_special_tokens: false }).ids);
  });

  it('fingerprint: 64 hex digits, stable for the same tokenizer, different when merges differ', () => {
    const again = FamTokenizer.fromJSON(tokenizerJson({ merges: MERGES }), undefined, opts);
    const other = FamTokenizer.fromJSON(tokenizerJson({ merges: MERGES.slice(0, 2) }), undefined, opts);
    assert.match(tok.fingerprint, /^[0-9a-f]{64}$/);
    assert.equal(again.fingerprint, tok.fingerprint);
    assert.notEqual(other.fingerprint, tok.fingerprint);
  });

  const tinyDir = path.join(__dirname, '..', 'fixtures', 'tiny');
  const haveTiny = fs.existsSync(path.join(tinyDir, 'tokenizer.json'));
  it('the tiny fixture tokenizer: specials at ids 0..3, round trip and stream decoding of multi-byte text', { skip: haveTiny ? false : 'test/fixtures/tiny/tokenizer.json not there yet' }, () => {
    const tiny = FamTokenizer.fromFiles(path.join(tinyDir, 'tokenizer.json'), true, path.join(tinyDir, 'tokenizer_config.json'));
    assert.deepEqual(tiny.specials, { endoftext: 0, file: 1, question: 2, answer: 3 });
    const text = 'const café = "🦙 中文";\n  return x; // ½ → ∞\n';
    const ids = tiny.encode(text);
    assert.equal(tiny.decode(ids), text);
    const pieces = stream(tiny, ids);
    assert.equal(pieces.join(''), text);
    for (const p of pieces) assert.ok(!p.includes('\uFFFD'), `piece ${JSON.stringify(p)} holds U+FFFD`);
  });

  const samplesFile = path.join(tinyDir, 'tokenizer_samples.json');
  it('the tiny fixture tokenizer gives the ids of the Python (Rust) tokenizers library on its samples', { skip: fs.existsSync(samplesFile) ? false : 'tokenizer_samples.json not there yet' }, () => {
    const tiny = FamTokenizer.fromFiles(path.join(tinyDir, 'tokenizer.json'), true, path.join(tinyDir, 'tokenizer_config.json'));
    const { samples } = JSON.parse(fs.readFileSync(samplesFile, 'utf8')) as { samples: { text: string; ids: number[] }[] };
    assert.ok(samples.length > 0);
    for (const { text, ids } of samples) {
      assert.deepEqual(tiny.encode(text), ids, `ids of ${JSON.stringify(text.slice(0, 40))}`);
      assert.equal(tiny.decode(ids), text);
      assert.equal(stream(tiny, ids).join(''), text);
    }
  });
});
