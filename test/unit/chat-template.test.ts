/**
 * Chat templates of the open-family fixtures (test/fixtures/families/*, written by model/train/family_fixtures.py in
 * each family's turn format): rendering through @huggingface/jinja must give, byte for byte, the text each family's
 * format prescribes (written out here by hand, independently of Jinja) for a dozen conversations; and the
 * engine's chat layout (model/engine/chat-prompt.ts) must equal the template's own rendering of the same
 * conversation, with generation stopping on the template's end-of-turn token.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { answerStopTokens, conversationStartTokens, fileChunkTokens, historyTokens, questionTokens, rereadChunkTokens } from '../../model/engine/prompt';
import { loadModelDir, type ChatMessage, type LoadedModel } from '../../model/loader';

const FAMILIES = path.resolve(__dirname, '../fixtures/families');

const u = (content: string): ChatMessage => ({ role: 'user', content });
const a = (content: string): ChatMessage => ({ role: 'assistant', content });
const sys = (content: string): ChatMessage => ({ role: 'system', content });

/** The conversations (shared with model/train/check_families_transformers.py), each with or without a generation prompt. */
interface Conversation {
  name: string;
  messages: ChatMessage[];
  gen: boolean;
}
const CONVERSATIONS = JSON.parse(readFileSync(path.resolve(__dirname, '../fixtures/chat-conversations.json'), 'utf8')) as {
  /** Every family's template takes these. */
  all: Conversation[];
  /** With a system message: every family but Mistral's, whose template refuses it. */
  withSystem: Conversation[];
};

/** Each family's turn format, written from its documentation, not from its template. */
const chatml = (defaultSystem: string | null) => (messages: ChatMessage[], gen: boolean): string => {
  let out = '';
  if (messages[0]?.role !== 'system' && defaultSystem !== null) out += `<|im_start|>system\n${defaultSystem}<|im_end|>\n`;
  for (const m of messages) out += `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`;
  return gen ? `${out}<|im_start|>assistant\n` : out;
};
const FORMATS: Record<string, (messages: ChatMessage[], gen: boolean) => string> = {
  llama3: (messages, gen) =>
    '<|begin_of_text|>' +
    messages.map((m) => `<|start_header_id|>${m.role}<|end_header_id|>\n\n${m.content.trim()}<|eot_id|>`).join('') +
    (gen ? '<|start_header_id|>assistant<|end_header_id|>\n\n' : ''),
  'qwen2.5': chatml('You are a helpful assistant.'),
  qwen3: (messages, gen) => chatml(null)(messages, false) + (gen ? '<|im_start|>assistant\n<think>\n\n</think>\n\n' : ''),
  smollm2: chatml('You are a helpful AI assistant.'),
  mistral: (messages) => '<s>' + messages.map((m) => (m.role === 'user' ? `[INST] ${m.content} [/INST]` : `${m.content}</s>`)).join(''),
};
/** Each family's end of an assistant turn. */
const END_OF_TURN: Record<string, string> = { llama3: '<|eot_id|>', 'qwen2.5': '<|im_end|>', qwen3: '<|im_end|>', smollm2: '<|im_end|>', mistral: '</s>' };

for (const [family, format] of Object.entries(FORMATS)) {
  describe(`chat template of ${family}`, () => {
    let model: LoadedModel;
    before(async () => {
      model = await loadModelDir(path.join(FAMILIES, family));
    });
    const template = () => model.tokenizer.chatTemplate!;

    const cases = family === 'mistral' ? CONVERSATIONS.all : [...CONVERSATIONS.all, ...CONVERSATIONS.withSystem];
    it(`renders ${cases.length} conversations exactly as the family's format writes them`, () => {
      assert.ok(cases.length >= 10);
      for (const c of cases) assert.equal(template().render(c.messages, c.gen), format(c.messages, c.gen), c.name);
    });

    if (family === 'mistral') {
      it('EXPECTED FAILURE - a system message is refused by the template itself', () => {
        assert.throws(() => template().render([sys('x'), u('y')], true), /roles/);
      });
    }
    if (family === 'qwen3') {
      it('an earlier reply loses its thinking, as the template says', () => {
        assert.equal(template().render([u('q'), a('<think>\nhm\n</think>\n\nanswer')], false), '<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\nanswer<|im_end|>\n');
      });
    }

    it("the engine's layout after the workspace stream is the template's rendering of the same conversation", () => {
      const tok = model.tokenizer;
      const turns = [{ question: 'What does `retry` do?', answer: 'It retries with backoff.' }];
      const reread = [['src/queue.ts', 3, 4, 'export function retry() {\n}\n'], ['README.md', 1, 1, '# Queue\n']] as const;
      const question = 'And where is it called?';
      const ids = [
        ...conversationStartTokens(tok),
        ...historyTokens(tok, turns, 1000).tokens,
        ...reread.flatMap(([p, s, e, lines]) => rereadChunkTokens(tok, p, s, e, lines)),
        ...questionTokens(tok, question),
      ];
      const lastUser = `File: src/queue.ts:3-4\nexport function retry() {\n}\nFile: README.md:1-1\n# Queue\n${question}`;
      const want = template().render([u(turns[0]!.question), a(turns[0]!.answer), u(lastUser)], true);
      assert.equal(tok.decode(ids), want);
      // The workspace stream itself is plain text: no template tokens.
      assert.equal(tok.decode(fileChunkTokens(tok, 'src/a.ts', 'const a = 1;\n\n')), 'File: src/a.ts\nconst a = 1;\n');
    });

    it(`an answer stops on ${END_OF_TURN[family]}`, () => {
      const stop = answerStopTokens(model.tokenizer);
      assert.ok(stop.includes(model.tokenizer.tokenToId(END_OF_TURN[family]!)!), `stop tokens ${stop.join(', ')}`);
      for (const id of stop) assert.ok(model.tokenizer.specialIds.has(id), `stop token ${id} is a special token`);
    });
  });
}
