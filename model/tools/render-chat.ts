/**
 * Prints, as JSON, a model's chat template rendered by the engine (model/loader/chat-template.ts) on every
 * conversation of a conversations file ({ all, withSystem }, test/fixtures/chat-conversations.json): name → text,
 * or { error } where the template refuses one. model/train/check_families_transformers.py compares it with
 * transformers' apply_chat_template.
 *
 *   node --import tsx model/tools/render-chat.ts <model dir> <conversations.json>
 */
import { readFileSync } from 'node:fs';
import { loadModelDir, type ChatMessage } from '../loader';

interface Conversation {
  name: string;
  messages: ChatMessage[];
  gen: boolean;
}

async function main(): Promise<void> {
  const [dir, file] = process.argv.slice(2);
  if (!dir || !file) throw new Error('usage: render-chat.ts <model dir> <conversations.json>');
  const { all, withSystem } = JSON.parse(readFileSync(file, 'utf8')) as { all: Conversation[]; withSystem: Conversation[] };
  const template = (await loadModelDir(dir)).tokenizer.chatTemplate;
  if (!template) throw new Error(`${dir} has no chat template`);
  const out: Record<string, string | { error: string }> = {};
  for (const c of [...all, ...withSystem]) {
    try {
      out[c.name] = template.render(c.messages, c.gen);
    } catch (e) {
      out[c.name] = { error: (e as Error).message };
    }
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
});
