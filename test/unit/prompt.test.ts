import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import {
  answerStopTokens,
  fileChunkText,
  fileChunkTokens,
  historyTokens,
  questionTokens,
  questions,
  rereadChunkText,
  rereadChunkTokens,
  turnText,
  turnTokens,
} from '../../model/engine/prompt';
import type { Turn } from '../../model/engine/protocol';
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

  it('an earlier turn is <|question|>Q<|answer|>A<|endoftext|>, Q and A encoded apart as training does', () => {
    const turn = { question: ' What does `drain` do? ', answer: 'Runs the due jobs.\n' };
    const ids = turnTokens(tok, turn);
    assert.deepEqual(ids, [2, ...tok.encode('What does `drain` do?'), 3, ...tok.encode('Runs the due jobs.'), 0]);
    assert.equal(tok.decode(ids), turnText(turn));
  });

  it('the history keeps the most recent turns that fit the budget, whole, oldest dropped first, in order', () => {
    const turns: Turn[] = [1, 2, 3, 4].map((n) => ({ question: `question ${n}?`, answer: `answer number ${n}` }));
    const sizes = turns.map((t) => turnTokens(tok, t).length);
    const all = historyTokens(tok, turns, 1 << 20);
    assert.equal(all.turns, 4);
    assert.deepEqual(all.tokens, turns.flatMap((t) => turnTokens(tok, t)));
    // Room for the last two and a half: the last two, the third from last is dropped whole.
    const two = historyTokens(tok, turns, sizes[2]! + sizes[3]! + Math.floor(sizes[1]! / 2));
    assert.equal(two.turns, 2);
    assert.equal(tok.decode(two.tokens), turnText(turns[2]!) + turnText(turns[3]!));
    // An older turn that would fit is not kept once a newer one did not: the turns kept are the latest ones.
    const big: Turn = { question: 'long?', answer: 'x '.repeat(500) };
    const gap = historyTokens(tok, [turns[0]!, big, turns[3]!], sizes[0]! + sizes[3]! + 1);
    assert.equal(gap.turns, 1);
    assert.equal(tok.decode(gap.tokens), turnText(turns[3]!));
    assert.deepEqual(historyTokens(tok, turns, sizes[3]! - 1), { tokens: [], turns: 0 }, 'a last turn larger than the budget: none');
    assert.deepEqual(historyTokens(tok, [], 512), { tokens: [], turns: 0 });
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
    histories: Array<{ turns: Turn[]; expected: string }>;
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

  it('earlier turns are written as training writes them (model/train/prompt.py history_text)', async () => {
    const tok = (await loadModelDir(path.resolve(__dirname, '../fixtures/tiny'))).tokenizer;
    assert.ok(golden.histories.length >= 3);
    for (const c of golden.histories) {
      assert.equal(c.turns.map(turnText).join(''), c.expected);
      const history = historyTokens(tok, c.turns, 1 << 20);
      assert.equal(history.turns, c.turns.length);
      assert.equal(tok.decode(history.tokens), c.expected);
    }
  });
});
