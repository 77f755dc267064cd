import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { answerMarkdown, codeBlocks } from '../../webview/answer-text';

/** What the shipped model wrote for "Explain JobQueue" on the demo workspace, cut off at 64 tokens. */
const SHIPPED_FILE_ANSWER = ";\n<|file|>test/queue.test.ts\nimport { create, test } from 'node:assert';\nimport { create, test } from 'node:assert';\nimport";

describe('answer text: files the model writes', () => {
  it('turns `<|file|>PATH` and the text after it into a code block captioned with the path', () => {
    assert.equal(
      answerMarkdown(SHIPPED_FILE_ANSWER),
      ";\n\n~~~ts test/queue.test.ts\nimport { create, test } from 'node:assert';\nimport { create, test } from 'node:assert';\nimport\n~~~",
    );
    assert.deepEqual(codeBlocks(SHIPPED_FILE_ANSWER), ["import { create, test } from 'node:assert';\nimport { create, test } from 'node:assert';\nimport"]);
  });

  it('ends a file at the next special token, and takes the language from a re-read span path', () => {
    const text = 'See:<|file|>src/queue.ts:14-21\nexport function f() {}\n<|file|>notes\nplain\n<|endoftext|>and then prose';
    assert.deepEqual(codeBlocks(text), ['export function f() {}', 'plain']);
    const md = answerMarkdown(text);
    assert.match(md, /^~~~ts src\/queue\.ts:14-21$/m);
    assert.match(md, /^~~~text notes$/m);
    assert.match(md, /<\|endoftext\|>and then prose$/);
  });

  it('fences a file with more tildes than its text holds, so the text cannot close the block', () => {
    const text = '<|file|>a.md\n~~~\nnot the end\n~~~~';
    assert.deepEqual(codeBlocks(text), ['~~~\nnot the end\n~~~~']);
  });
});

describe('answer text: doc comments the model quotes', () => {
  it('renders a JSDoc comment as code, not as a bullet list', () => {
    const text = 'It leases a job:\n/**\n * Leases the oldest job.\n * @param kinds which kinds\n */\nDone.';
    assert.deepEqual(codeBlocks(text), ['/**\n * Leases the oldest job.\n * @param kinds which kinds\n */']);
    assert.match(answerMarkdown(text), /^It leases a job:\n\n~~~\n\/\*\*/);
  });

  it('takes every line of an open block comment, starred or not, up to its end', () => {
    assert.deepEqual(codeBlocks('/* first\nsecond line\nthird */\nprose'), ['/* first\nsecond line\nthird */']);
  });

  it('treats indented ` * ` lines and `@tag` lines without an opening as code too', () => {
    assert.deepEqual(codeBlocks('Its comment says\n * Retries the job.\n@returns the delay'), [' * Retries the job.\n@returns the delay']);
  });

  it('leaves markdown lists, prose and the code blocks the model fenced itself as they are', () => {
    const text = '- one\n* two\n\nplain `code` text\n\n```ts\n/**\n * inside a fence\n */\n```';
    assert.equal(answerMarkdown(text), text);
    assert.deepEqual(codeBlocks(text), ['/**\n * inside a fence\n */']);
  });

  it('finds code blocks in document order, inside lists and quotes as well', () => {
    const text = '1. first\n\n   ```\n   a\n   ```\n\n> ```\n> b\n> ```\n\n    c (indented)\n';
    assert.deepEqual(codeBlocks(text), ['a', 'b', 'c (indented)']);
  });
});
