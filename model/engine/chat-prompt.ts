/**
 * The token layout for a model that brings its own chat template instead of Famulus's special tokens
 * (docs/prompt-format.md, "Models with a chat template"); prompt.ts hands these calls here for such a tokenizer.
 *
 *   File: src/app.ts\n<file text>\n                      the workspace stream: plain text, one chunk per file
 *   <start>                                               the template's opening (BOS, system prompt, user header)
 *   Q1<userToAssistant>A1<assistantToUser>               earlier turns, oldest first
 *   File: src/app.ts:12-30\n<lines 12-30>\n               re-read code, in the last user message
 *   Where is `x` defined?<generation>                     the question, then the assistant header
 *
 * From <start> on, the text is exactly the template's rendering of [user Q1, assistant A1, ..., user R+Q] with a
 * generation prompt, so the model sees a conversation in the form it was tuned on, right before its answer and
 * inside its attention window; the workspace stream before it is read as plain documents.
 */
import type { ChatTemplate, FamTokenizer } from '../loader';
import type { Turn } from './protocol';

export class ChatPrompt {
  /** Ids of a lone newline: what encodeContinuing puts before a text and takes off again. */
  private readonly newline: number[];

  constructor(
    private readonly tokenizer: FamTokenizer,
    readonly template: ChatTemplate,
  ) {
    this.newline = tokenizer.encode('\n');
  }

  /**
   * Ids of `text` as it continues the stream. A SentencePiece tokenizer (Metaspace, Llama 2 / Mistral) writes a
   * space before every text encoded on its own, so pieces encoded one by one would read "[INST]  Q"; encoded after
   * a newline, whose ids are then dropped, they come out as inside one text. Byte-level tokenizers give the same ids
   * either way.
   */
  private encodeContinuing(text: string): number[] {
    const ids = this.tokenizer.encode(`\n${text}`);
    const n = this.newline.length;
    return n > 0 && this.newline.every((id, i) => ids[i] === id) ? ids.slice(n) : this.tokenizer.encode(text);
  }

  /** `File: PATH`, a newline, then the text ending with exactly one newline (never leading whitespace: templates may trim). */
  static fileChunkText(path: string, text: string): string {
    let end = text.length;
    while (end > 0 && text.charCodeAt(end - 1) === 0x0a) end--;
    return `File: ${path}\n${text.slice(0, end)}\n`;
  }

  fileChunk(path: string, text: string): number[] {
    return this.encodeContinuing(ChatPrompt.fileChunkText(path, text));
  }

  /** fileChunk, yielding to the event loop while a large file is encoded. */
  async fileChunkYielding(path: string, text: string): Promise<number[]> {
    const ids = await this.tokenizer.encodeYielding(`\n${ChatPrompt.fileChunkText(path, text)}`);
    const n = this.newline.length;
    return n > 0 && this.newline.every((id, i) => ids[i] === id) ? ids.slice(n) : this.fileChunk(path, text);
  }

  rereadChunk(path: string, startLine: number, endLine: number, lines: string): number[] {
    return this.fileChunk(`${path}:${startLine}-${endLine}`, lines);
  }

  /** The template's text before the first user message. */
  conversationStart(): number[] {
    return this.encodeContinuing(this.template.pieces.start);
  }

  /** An earlier turn: its question and answer (trimmed) as a user message and the assistant's reply. */
  turnText(turn: Turn): string {
    const { userToAssistant, assistantToUser } = this.template.pieces;
    return `${turn.question.trim()}${userToAssistant}${turn.answer.trim()}${assistantToUser}`;
  }

  turn(turn: Turn): number[] {
    return this.encodeContinuing(this.turnText(turn));
  }

  /** The question closes the last user message; the template's generation prompt opens the reply. */
  question(question: string): number[] {
    return this.encodeContinuing(`${question}${this.template.pieces.generation}`);
  }

  /**
   * Where a reply ends: the special token that closes an assistant message in the template (<|im_end|>, <|eot_id|>,
   * </s>), and the template's eos_token. The config's eos_token_id is added by the session itself.
   */
  stopTokens(): number[] {
    const ids = new Set<number>();
    const first = this.encodeContinuing(this.template.pieces.assistantToUser)[0];
    if (first !== undefined && this.tokenizer.specialIds.has(first)) ids.add(first);
    const eos = this.template.eosToken === undefined ? undefined : this.tokenizer.tokenToId(this.template.eosToken);
    if (eos !== undefined) ids.add(eos);
    return [...ids];
  }
}
