/**
 * The token layout of docs/prompt-format.md, the one place in the engine that knows it (training's twin is
 * model/train/prompt.py). Changing anything here means retraining.
 *
 *   <|file|>src/app.ts\n<file text>\n         one chunk per file, in the walker's order
 *   <|question|>Where is `x` defined?<|answer|>   then the model writes the answer and <|endoftext|>
 */

/** What the layout needs from a tokenizer: plain encoding (no special tokens added) and the four special ids. */
export interface PromptTokenizer {
  encode(text: string): number[];
  readonly specialIds: { readonly endoftext: number; readonly file: number; readonly question: number; readonly answer: number };
}

/** The text after `<|file|>`: the path, a newline, then the file's text ending with exactly one newline. */
export function fileChunkText(path: string, text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x0a) end--;
  return `${path}\n${text.slice(0, end)}\n`;
}

/** `<|file|>` + encode(path + '\n' + text + '\n'). `path` is workspace-relative with forward slashes. */
export function fileChunkTokens(tokenizer: PromptTokenizer, path: string, text: string): number[] {
  return [tokenizer.specialIds.file, ...tokenizer.encode(fileChunkText(path, text))];
}

/** `<|question|>` + encode(question) + `<|answer|>`: the prompt after which the model writes its answer. */
export function questionTokens(tokenizer: PromptTokenizer, question: string): number[] {
  return [tokenizer.specialIds.question, ...tokenizer.encode(question), tokenizer.specialIds.answer];
}

/** Tokens that end an answer. */
export function answerStopTokens(tokenizer: PromptTokenizer): number[] {
  return [tokenizer.specialIds.endoftext];
}

/** The questions of the training task mix (model/train/tasks.py), worded exactly as trained. */
export const questions = {
  whereDefined: (name: string) => `Where is \`${name}\` defined?`,
  whatDoes: (name: string) => `What does \`${name}\` do?`,
  summarize: (path: string) => `Summarize ${path}`,
};
