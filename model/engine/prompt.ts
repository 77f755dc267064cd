/**
 * The token layout of docs/prompt-format.md, the one place in the engine that knows it (training's twin is
 * model/train/prompt.py). Changing anything here means retraining.
 *
 *   <|file|>src/app.ts\n<file text>\n         one chunk per file, in the walker's order
 *   <|question|>Q<|answer|>A<|endoftext|>         earlier turns of the conversation, oldest first
 *   <|file|>src/app.ts:12-30\n<lines 12-30>\n  re-read code before a question: a path with its line span
 *   <|question|>Where is `x` defined?<|answer|>   then the model writes the answer and <|endoftext|>
 *
 * A model whose tokenizer lacks these special tokens but has a chat template (Llama 3, Qwen, Mistral...) is laid
 * out by ./chat-prompt.ts instead: each function below hands such a tokenizer to it.
 */
import type { FamSpecialTokens, FamTokenizer } from '../loader';
import { ChatPrompt } from './chat-prompt';
import type { Turn } from './protocol';

/** The four special ids; a tokenizer without them (a plain Llama one) cannot lay out a workspace. */
function specials(tokenizer: FamTokenizer): FamSpecialTokens {
  if (!tokenizer.specials) {
    throw new Error(`${tokenizer.source}: the tokenizer has no Famulus special tokens (<|file|>, <|question|>, ` +
      '<|answer|>, <|endoftext|>) and no chat template, so it cannot read a workspace or answer questions ' +
      '(docs/prompt-format.md)');
  }
  return tokenizer.specials;
}

const chatPrompts = new WeakMap<FamTokenizer, ChatPrompt>();

/** The chat-template layout of a tokenizer without Famulus's special tokens; undefined for Famulus's layout. */
export function chatPromptOf(tokenizer: FamTokenizer): ChatPrompt | undefined {
  if (tokenizer.specials || !tokenizer.chatTemplate) return undefined;
  let chat = chatPrompts.get(tokenizer);
  if (!chat) chatPrompts.set(tokenizer, (chat = new ChatPrompt(tokenizer, tokenizer.chatTemplate)));
  return chat;
}

/** The text after `<|file|>`: the path, a newline, then the file's text ending with exactly one newline. */
export function fileChunkText(path: string, text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x0a) end--;
  return `${path}\n${text.slice(0, end)}\n`;
}

/** `<|file|>` + encode(path + '\n' + text + '\n'). `path` is workspace-relative with forward slashes. */
export function fileChunkTokens(tokenizer: FamTokenizer, path: string, text: string): number[] {
  const chat = chatPromptOf(tokenizer);
  if (chat) return chat.fileChunk(path, text);
  return [specials(tokenizer).file, ...tokenizer.encode(fileChunkText(path, text))];
}

/** fileChunkTokens, yielding to the event loop while a large file is encoded (engine/status keeps answering). */
export async function fileChunkTokensYielding(tokenizer: FamTokenizer, path: string, text: string): Promise<number[]> {
  const chat = chatPromptOf(tokenizer);
  if (chat) return chat.fileChunkYielding(path, text);
  return [specials(tokenizer).file, ...(await tokenizer.encodeYielding(fileChunkText(path, text)))];
}

/**
 * The text after `<|file|>` for code re-read before a question: `path:START-END`, a newline, then those lines
 * (1-based, inclusive), ending with exactly one newline. The span in the header is what lets a model copy a
 * `path:line` from text it can see.
 */
export function rereadChunkText(path: string, startLine: number, endLine: number, lines: string): string {
  return fileChunkText(`${path}:${startLine}-${endLine}`, lines);
}

/** `<|file|>` + encode(rereadChunkText(...)). */
export function rereadChunkTokens(tokenizer: FamTokenizer, path: string, startLine: number, endLine: number, lines: string): number[] {
  const chat = chatPromptOf(tokenizer);
  if (chat) return chat.rereadChunk(path, startLine, endLine, lines);
  return [specials(tokenizer).file, ...tokenizer.encode(rereadChunkText(path, startLine, endLine, lines))];
}

/** `<|question|>` + encode(question) + `<|answer|>`: the prompt after which the model writes its answer. */
export function questionTokens(tokenizer: FamTokenizer, question: string): number[] {
  const chat = chatPromptOf(tokenizer);
  if (chat) return chat.question(question);
  const { question: q, answer: a } = specials(tokenizer);
  return [q, ...tokenizer.encode(question), a];
}

/** The special tokens as text, for golden cases and logs: what `tokenizer.decode` writes for their ids. */
const SPECIAL_TEXT = { endoftext: '<|endoftext|>', question: '<|question|>', answer: '<|answer|>' } as const;

/**
 * An earlier turn as training lays out a question and its answer (model/train/tasks.py task_sample):
 * `<|question|>Q<|answer|>A<|endoftext|>`, Q and A without the whitespace around them. Special tokens written
 * out as text; historyTokens() gives the ids.
 */
export function turnText(turn: Turn): string {
  return `${SPECIAL_TEXT.question}${turn.question.trim()}${SPECIAL_TEXT.answer}${turn.answer.trim()}${SPECIAL_TEXT.endoftext}`;
}

/** `<|question|>` + encode(Q) + `<|answer|>` + encode(A) + `<|endoftext|>`: Q and A are encoded apart, as in training. */
export function turnTokens(tokenizer: FamTokenizer, turn: Turn): number[] {
  const chat = chatPromptOf(tokenizer);
  if (chat) return chat.turn(turn);
  return [...questionTokens(tokenizer, turn.question.trim()), ...tokenizer.encode(turn.answer.trim()), specials(tokenizer).endoftext];
}

/** The earlier turns laid out for the prompt, and how many of them that is. */
export interface History {
  tokens: number[];
  /** Turns kept: the most recent ones. */
  turns: number;
}

/**
 * The most recent `turns` (given oldest first) that fit `budget` tokens together, oldest first: older turns are
 * dropped first, and a turn is kept whole or not at all (half a turn is not a layout the model was trained on).
 */
export function historyTokens(tokenizer: FamTokenizer, turns: readonly Turn[], budget: number): History {
  const kept: number[][] = [];
  let used = 0;
  for (let i = turns.length - 1; i >= 0; i--) {
    const ids = turnTokens(tokenizer, turns[i]!);
    if (used + ids.length > budget) break;
    kept.unshift(ids);
    used += ids.length;
  }
  return { tokens: kept.flat(), turns: kept.length };
}

/** Tokens that end an answer. */
export function answerStopTokens(tokenizer: FamTokenizer): number[] {
  return chatPromptOf(tokenizer)?.stopTokens() ?? [specials(tokenizer).endoftext];
}

/**
 * Tokens streamed before the conversation (earlier turns, re-read code, question): the chat template's opening;
 * nothing in Famulus's own layout.
 */
export function conversationStartTokens(tokenizer: FamTokenizer): number[] {
  return chatPromptOf(tokenizer)?.conversationStart() ?? [];
}

/** The questions of the training task mix (model/train/tasks.py), worded exactly as trained. */
export const questions = {
  whereDefined: (name: string) => `Where is \`${name}\` defined?`,
  whatDoes: (name: string) => `What does \`${name}\` do?`,
  summarize: (path: string) => `Summarize ${path}`,
};
