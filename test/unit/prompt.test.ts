import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { answerStopTokens, fileChunkText, fileChunkTokens, questionTokens, questions, rereadChunkText, rereadChunkTokens } from '../../model/engine/prompt';
import { FamTokenizer, loadModelDir } from '../../model/loader';
import { tokenizerJson } from './loader-fixtures';

describe('prompt layout (docs/prompt-format.md)', () => {
  let tok: FamTokenizer;
  before(async () => {
    tok = (await loadModelDir(path.resolve(__dirname, '../fixtures/tiny'))).tokenizer;
  });

  it('a file is <|file|> then path, newline and the text ending with exactly one newline', () => {
    const ids = fileChunkTokens(tok, 'src/app.ts', 'const a = 1;\n\n\n');
    assert.equal(ids[0], 1, '<|file|> is id 1');
    assert.deepEqual(ids.slice(1), tok.encode('src/app.ts\nconst a = 1;\n'));
    assert.equal(tok.decode(ids), '<|file|>src/app.ts\nconst a = 1;\n');
    assert.deepEqual(fileChunkTokens(tok, 'src/app.ts', 'const a = 1;'), ids);
    assert.deepEqual(fileChunkTokens(tok, 'src/app.ts', 'const a = 1;\n'), ids);
  });

  it('keeps everything but the trailing newlines: CRLF, inner blank lines, an empty file', () => {
    assert.equal(fileChunkText('a.txt', 'x\r\n'), 'a.txt\nx\r\n');
    assert.equal(fileChunkText('a.txt', '\n\nx\n\ny\n\n'), 'a.txt\n\n\nx\n\ny\n');
    assert.equal(fileChunkText('empty.txt', ''), 'empty.txt\n\n');
    assert.equal(fileChunkText('blank.txt', '\n\n\n'), 'blank.txt\n\n');
    const start = performance.now();
    assert.equal(fileChunkText('n.txt', `${'\n'.repeat(1_000_000)}x`).length, 'n.txt\n'.length + 1_000_001 + 1);
    assert.ok(performance.now() - start < 1000, 'linear in the text length');
  });

  it('a question is <|question|> + text + <|answer|>, and answers stop at <|endoftext|>', () => {
    const q = questions.whereDefined('startServer');
    assert.equal(q, 'Where is `startServer` defined?');
    const ids = questionTokens(tok, q);
    assert.equal(ids[0], 2);
    assert.equal(ids[ids.length - 1], 3);
    assert.equal(tok.decode(ids), '<|question|>Where is `startServer` defined?<|answer|>');
    assert.deepEqual(answerStopTokens(tok), [0]);
    assert.equal(questions.whatDoes('f'), 'What does `f` do?');
    assert.equal(questions.summarize('src/app.ts'), 'Summarize src/app.ts');
  });

  it('EXPECTED FAILURE - a tokenizer without the Famulus special tokens cannot lay out a workspace', () => {
    const plain = FamTokenizer.fromJSON(tokenizerJson({ specials: false }), undefined, { source: 'plain/tokenizer.json', requireSpecials: false });
    assert.throws(() => fileChunkTokens(plain, 'a.ts', 'x'), /plain\/tokenizer\.json: the tokenizer has no Famulus special tokens/);
    assert.throws(() => questionTokens(plain, 'q'), /no Famulus special tokens/);
  });
});

describe('prompt layout golden cases, shared with model/train/prompt.py', () => {
  const golden = JSON.parse(readFileSync(path.resolve(__dirname, '../fixtures/prompt-golden.json'), 'utf8')) as {
    files: Array<{ path: string; text: string; expected: string }>;
    rereads: Array<{ path: string; startLine: number; endLine: number; lines: string; expected: string }>;
  };

  it('a file chunk is written as training writes it', () => {
    for (const c of golden.files) assert.equal(fileChunkText(c.path, c.text), c.expected);
  });

  it('re-read code is <|file|> then path:START-END, a newline and those lines ending with one newline', async () => {
    const tok = (await loadModelDir(path.resolve(__dirname, '../fixtures/tiny'))).tokenizer;
    for (const c of golden.rereads) {
      assert.equal(rereadChunkText(c.path, c.startLine, c.endLine, c.lines), c.expected);
      const ids = rereadChunkTokens(tok, c.path, c.startLine, c.endLine, c.lines);
      assert.equal(ids[0], 1, '<|file|> is id 1');
      assert.deepEqual(ids.slice(1), tok.encode(c.expected));
    }
  });
});
