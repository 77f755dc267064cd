/**
 * A model's chat template: tokenizer_config.json's `chat_template` (or a chat_template.jinja file beside it),
 * rendered with @huggingface/jinja as transformers' `apply_chat_template` renders it (the same variables:
 * messages, add_generation_prompt, the tokenizer's special tokens, raise_exception and strftime_now built in).
 *
 * The engine never renders a whole conversation at once: the workspace is streamed first and the conversation is
 * laid after it piece by piece (docs/prompt-format.md, "Models with a chat template"). So the template is also cut
 * into its turn pieces, found by rendering a conversation of marker strings and reading what lies between them.
 */
import { Template } from '@huggingface/jinja';
import { ModelFileError } from './errors';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * The text a template puts around message contents. For every template whose contents go in verbatim (or
 * trimmed: contents without outer whitespace), render([u1, a1, ..., u_n], generation prompt) is
 *   start + u1 + userToAssistant + a1 + assistantToUser + ... + u_n + generation.
 */
export interface TurnPieces {
  /** Before the first user message: BOS, a default system prompt, the user turn's header. */
  start: string;
  /** Between a user message and the assistant's reply that follows it. */
  userToAssistant: string;
  /** Between an assistant reply and the next user message. */
  assistantToUser: string;
  /** After the last user message when a reply is wanted (add_generation_prompt). */
  generation: string;
}

/** Marker contents: plain words no template changes, and no tokenizer-relevant characters. */
const MARKERS = ['FAMULUSMARKERUSERONE', 'FAMULUSMARKERASSISTANT', 'FAMULUSMARKERUSERTWO'] as const;

/**
 * Variables every render gets besides messages. enable_thinking false: Qwen3-style templates then open the
 * reply with an empty thinking block, so the answer budget goes to the answer (others ignore the variable).
 */
const RENDER_DEFAULTS = { enable_thinking: false } as const;

export class ChatTemplate {
  readonly pieces: TurnPieces;

  private constructor(
    private readonly template: Template,
    /** bos_token, eos_token, unk_token, pad_token as strings, as the template sees them. */
    private readonly specialTokens: Record<string, string>,
    readonly source: string,
  ) {
    this.pieces = this.cut();
  }

  /**
   * The template of a tokenizer_config.json (a string, or a list of named templates of which "default" is
   * used), or `fileTemplate` (chat_template.jinja) when the config has none. Undefined when there is none.
   */
  static fromTokenizerConfig(config: Record<string, unknown>, source: string, fileTemplate?: string): ChatTemplate | undefined {
    let text: unknown = config.chat_template ?? fileTemplate;
    if (Array.isArray(text)) text = (text as { name?: unknown; template?: unknown }[]).find((t) => t.name === 'default')?.template;
    if (text === undefined || text === null) return undefined;
    if (typeof text !== 'string') throw new ModelFileError(source, `${source}: "chat_template" must be a string or a list with a "default" template`);
    const specials: Record<string, string> = {};
    for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
      const v = config[key] as string | { content?: unknown } | null | undefined;
      // Older configs store special tokens as AddedToken objects.
      const s = typeof v === 'string' ? v : typeof v?.content === 'string' ? v.content : undefined;
      if (s !== undefined) specials[key] = s;
    }
    let template: Template;
    try {
      template = new Template(text);
    } catch (e) {
      throw new ModelFileError(source, `${source}: the chat template does not parse: ${(e as Error).message}`);
    }
    try {
      return new ChatTemplate(template, specials, source);
    } catch (e) {
      throw new ModelFileError(source, `${source}: the chat template cannot lay out a conversation: ${(e as Error).message}`);
    }
  }

  /** The conversation as the template writes it (apply_chat_template with tokenize=False). */
  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    return this.template.render({
      ...RENDER_DEFAULTS,
      ...this.specialTokens,
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: addGenerationPrompt,
    });
  }

  /** Token strings the template's eos_token names (its end of turn where replies end with it, as Mistral's do). */
  get eosToken(): string | undefined {
    return this.specialTokens.eos_token;
  }

  /** TurnPieces from one render of user, assistant, user markers with a generation prompt. */
  private cut(): TurnPieces {
    const [u1, a1, u2] = MARKERS;
    const text = this.render([{ role: 'user', content: u1 }, { role: 'assistant', content: a1 }, { role: 'user', content: u2 }], true);
    const at = MARKERS.map((m) => text.indexOf(m));
    if (at.some((i, k) => i < 0 || (k > 0 && i < at[k - 1]!)) || MARKERS.some((m) => text.split(m).length !== 2)) {
      throw new Error(`message contents do not appear once each, in order, in the rendered text: ${JSON.stringify(text.slice(0, 300))}`);
    }
    const after = (k: number) => at[k]! + MARKERS[k]!.length;
    return {
      start: text.slice(0, at[0]),
      userToAssistant: text.slice(after(0), at[1]),
      assistantToUser: text.slice(after(1), at[2]),
      generation: text.slice(after(2)),
    };
  }
}
