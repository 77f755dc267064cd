/**
 * The model's tokenizer: a Hugging Face tokenizer.json (+ optional tokenizer_config.json) run by
 * @huggingface/tokenizers (pure JS), with the Famulus special tokens of docs/prompt-format.md looked up by name,
 * a streaming decoder for generated tokens, and a fingerprint that identifies what the tokenizer does.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';
import { ChatTemplate } from './chat-template';
import { ModelFileError } from './errors';

/** Ids of the Famulus special tokens (docs/prompt-format.md). */
export interface FamSpecialTokens {
  endoftext: number;
  file: number;
  question: number;
  answer: number;
}

/** The token strings the special ids are looked up by. */
export const FAM_SPECIAL_TOKENS: Readonly<Record<keyof FamSpecialTokens, string>> = {
  endoftext: '<|endoftext|>',
  file: '<|file|>',
  question: '<|question|>',
  answer: '<|answer|>',
};

/**
 * The fixed text whose token ids make the fingerprint (llama.cpp's get_vocab_base_pre habit): whitespace runs,
 * digits, emoji joined by ZWJ, several scripts, apostrophe contractions, code, and the four special tokens, so
 * that pre-tokenizer, merges and special-token ids all show in the hash. Changing it changes every fingerprint.
 */
export const FINGERPRINT_TEXT =
  '\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n' +
  '🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 ' +
  '3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ' +
  "''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, " +
  "'D you like some tea? We'Ve a'lL\n" +
  'export function twice(x: number): number {\n\treturn x * 2; // doubled\n}\n' +
  '<|file|>src/app.ts\nconst a = 1;\n<|question|>Where is `a` defined?<|answer|>src/app.ts:1<|endoftext|>';

/** Turns token ids into text as they arrive; see FamTokenizer.createStreamDecoder. */
export interface StreamDecoder {
  /** Adds one token id; returns the text it completes (often '', e.g. in the middle of a UTF-8 character). */
  push(id: number): string;
  /** Returns whatever is still held back (an unfinished character comes out as U+FFFD) and starts afresh. */
  flush(): string;
}

export interface TokenizerOptions {
  /** Names the tokenizer in errors (usually the tokenizer.json path). */
  source: string;
  /**
   * The model has trained working memory (fam_length > 0): it must be one the prompt can be laid out for, with
   * the four special tokens (trained by Famulus) or a chat template (another family fine-tuned with FAM,
   * model/train/lora_fam.py).
   */
  requireSpecials: boolean;
  /** The text of a chat_template.jinja beside the tokenizer, used when tokenizer_config.json has no chat_template. */
  chatTemplateFile?: string;
}

export class FamTokenizer {
  /** Ids 0..vocabSize-1 may have tokens; the model's vocab_size must be at least this. */
  readonly vocabSize: number;
  /** The Famulus special tokens; undefined for a plain tokenizer that lacks them. */
  readonly specials: FamSpecialTokens | undefined;
  /** The model's chat template (tokenizer_config.json), if it has one. */
  readonly chatTemplate: ChatTemplate | undefined;
  /** Ids of tokenizer.json's added tokens marked special (control tokens such as <|im_end|>). */
  readonly specialIds: ReadonlySet<number>;
  /** Whether the faster BPE memo (see fastBpeCache) is in place; false means the library's own LRU is used. */
  readonly fastBpeCache: boolean;
  /** Whether encodeYielding may cut a text (the pre-tokenizer is one whose pre-tokens never span `x\n|y`). */
  readonly cutsSafely: boolean;
  #fingerprint: string | undefined;

  private constructor(
    private readonly lib: Tokenizer,
    readonly source: string,
    requireSpecials: boolean,
    json: object,
    chatTemplate: ChatTemplate | undefined,
  ) {
    this.chatTemplate = chatTemplate;
    const added = (json as { added_tokens?: { id?: unknown; special?: unknown }[] }).added_tokens;
    this.specialIds = new Set(Array.isArray(added) ? added.filter((t) => t.special === true && typeof t.id === 'number').map((t) => t.id as number) : []);
    this.cutsSafely = cutsSafely(json);
    let maxId = -1;
    for (const [token, id] of lib.get_vocab(true)) if (token !== undefined && id > maxId) maxId = id;
    this.vocabSize = maxId + 1;

    const found: Partial<FamSpecialTokens> = {};
    const missing: string[] = [];
    for (const [name, token] of Object.entries(FAM_SPECIAL_TOKENS) as [keyof FamSpecialTokens, string][]) {
      const id = lib.token_to_id(token);
      if (id === undefined) missing.push(token);
      else found[name] = id;
    }
    if (missing.length > 0 && requireSpecials && !chatTemplate) {
      throw new ModelFileError(
        source,
        `${source}: this is a Famulus model (fam_length > 0) but its tokenizer lacks the special token(s) ` +
          `${missing.join(', ')} (docs/prompt-format.md) and it has no chat template; use the tokenizer files the model was trained with`,
      );
    }
    this.specials = missing.length === 0 ? (found as FamSpecialTokens) : undefined;
    this.fastBpeCache = fastBpeCache(lib);
  }

  /** Builds a tokenizer from parsed tokenizer.json and (optional) tokenizer_config.json contents. */
  static fromJSON(tokenizerJson: unknown, tokenizerConfig: unknown, opts: TokenizerOptions): FamTokenizer {
    const model = (tokenizerJson as { model?: unknown } | null)?.model;
    if (typeof tokenizerJson !== 'object' || tokenizerJson === null || typeof model !== 'object' || model === null) {
      throw new ModelFileError(opts.source, `${opts.source}: not a Hugging Face tokenizer.json (no "model" object)`);
    }
    const config = tokenizerConfig ?? {};
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      throw new ModelFileError(opts.source, `${opts.source}: tokenizer_config.json must hold a JSON object`);
    }
    let lib: Tokenizer;
    try {
      lib = new Tokenizer(tokenizerJson, config);
    } catch (e) {
      throw new ModelFileError(opts.source, `${opts.source}: the tokenizer library refused it: ${(e as Error).message}`);
    }
    const chatTemplate = ChatTemplate.fromTokenizerConfig(config as Record<string, unknown>, opts.source, opts.chatTemplateFile);
    return new FamTokenizer(lib, opts.source, opts.requireSpecials, tokenizerJson, chatTemplate);
  }

  /** Reads tokenizer.json and, when `configPath` exists, tokenizer_config.json. */
  static fromFiles(tokenizerPath: string, requireSpecials: boolean, configPath?: string): FamTokenizer {
    const json = readJson(tokenizerPath);
    const config = configPath !== undefined && fs.existsSync(configPath) ? readJson(configPath) : undefined;
    return FamTokenizer.fromJSON(json, config, { source: tokenizerPath, requireSpecials });
  }

  /**
   * Token ids of `text`, exactly as the tokenizer splits it: no BOS/EOS or other template tokens are added.
   * Special-token strings inside the text (a file that contains "<|endoftext|>") become their ids, as in the
   * Python `tokenizers` library that model/train/prompt.py encodes the training data with.
   */
  encode(text: string): number[] {
    if (text.length === 0) return [];
    return this.lib.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * encode(text), in pieces of about `pieceChars` characters with a turn of the event loop between them, so that a
   * large file does not hold the engine (a 1 MiB file is one 2.8 s call) and engine/status still answers.
   * The ids are the same: a piece ends after a newline between two non-space characters, and no pre-token of
   * this tokenizer (byte-level BPE after single digits) or special token spans such a point (safePieces).
   */
  async encodeYielding(text: string, pieceChars = ENCODE_PIECE_CHARS): Promise<number[]> {
    if (!this.cutsSafely) return this.encode(text);
    const ids: number[] = [];
    for (const piece of safePieces(text, pieceChars)) {
      for (const id of this.encode(piece)) ids.push(id);
      if (piece.length < text.length) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return ids;
  }

  /**
   * Text of `ids`, special tokens included. Tokenization-space clean-up is off: the model reads and writes code,
   * where " ." and " ," are meaningful, and decode(encode(x)) must give x back.
   */
  decode(ids: readonly number[]): string {
    if (ids.length === 0) return '';
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.lib.id_to_token(id) === undefined) {
        throw new RangeError(`${this.source}: token id ${id} is not in the tokenizer (ids 0..${this.vocabSize - 1})`);
      }
    }
    return this.lib.decode([...ids], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  /** Id of a token string, or undefined when the vocabulary lacks it. */
  tokenToId(token: string): number | undefined {
    return this.lib.token_to_id(token);
  }

  /**
   * A decoder for a stream of generated ids. Byte-level BPE tokens can end in the middle of a UTF-8 character,
   * so text is held back while the decoded tail is an unfinished character (U+FFFD) and released once the next
   * token completes it. This is text-generation-inference's prefix/read offset scheme: each push decodes only
   * the ids since the last emitted text (plus the token before, for context), so the cost per token is constant.
   */
  createStreamDecoder(): StreamDecoder {
    let ids: number[] = [];
    let prefix = 0; // ids[prefix..read) were emitted and are kept as decoding context
    let read = 0; // ids[read..) are not emitted yet
    const emit = (final: boolean): string => {
      const before = this.decode(ids.slice(prefix, read));
      const after = this.decode(ids.slice(prefix));
      if (!final && (after.length <= before.length || after.endsWith('\uFFFD'))) return '';
      const text = after.slice(before.length);
      ids = ids.slice(read);
      prefix = 0;
      read = ids.length;
      return text;
    };
    return {
      push: (id: number): string => {
        ids.push(id);
        return emit(false);
      },
      flush: (): string => {
        const text = emit(true);
        ids = [];
        prefix = read = 0;
        return text;
      },
    };
  }

  /**
   * sha256 (hex) of the ids of FINGERPRINT_TEXT, as little-endian int32: equal fingerprints mean the tokenizers
   * split text the same way. State files and manifests store it next to the model id.
   */
  get fingerprint(): string {
    if (this.#fingerprint === undefined) {
      const ids = Int32Array.from(this.encode(FINGERPRINT_TEXT));
      this.#fingerprint = createHash('sha256').update(new Uint8Array(ids.buffer)).digest('hex');
    }
    return this.#fingerprint;
  }
}

/** Entries the BPE memo holds before it starts afresh (about 20 MB of short strings). */
const BPE_MEMO_ENTRIES = 100_000;

/**
 * Speed (test/bench/tokenizer-speed.ts): @huggingface/tokenizers 0.2.0 memoises the BPE of each pre-token in an
 * LRU of 10k entries that it re-orders on every hit (Map delete + set), and on code that costs as much as
 * everything else together. A plain Map memo, emptied when full, returns the same values about twice as fast.
 * It goes in only where the model has a cache of that shape (`get`/`put`); otherwise the library's stays.
 */
function fastBpeCache(lib: Tokenizer): boolean {
  const model = lib.model as unknown as { cache?: { get?: unknown; put?: unknown; clear?: unknown } } | null;
  const cache = model?.cache;
  if (!model || typeof cache?.get !== 'function' || typeof cache.put !== 'function') return false;
  const memo = new Map<string, unknown>();
  model.cache = {
    get: (key: string): unknown => memo.get(key),
    put: (key: string, value: unknown): void => {
      if (memo.size >= BPE_MEMO_ENTRIES) memo.clear();
      memo.set(key, value);
    },
    clear: (): void => memo.clear(),
  };
  return true;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ModelFileError(file, `${file}: cannot read: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelFileError(file, `${file}: not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * True for the tokenizers safePieces was worked out for: no normalizer, and GPT-2's byte-level split with its
 * regex, alone or after single digits (Famulus's own tokenizer). Any other is encoded whole.
 */
function cutsSafely(json: object): boolean {
  const { normalizer, pre_tokenizer: preTokenizer } = json as { normalizer?: unknown; pre_tokenizer?: unknown };
  if (normalizer !== undefined && normalizer !== null) return false;
  const isByteLevel = (p: unknown): boolean => {
    const q = p as { type?: unknown; use_regex?: unknown; add_prefix_space?: unknown } | null;
    return q?.type === 'ByteLevel' && q.use_regex !== false && q.add_prefix_space === false;
  };
  const isDigits = (p: unknown): boolean => (p as { type?: unknown } | null)?.type === 'Digits';
  if (isByteLevel(preTokenizer)) return true;
  const seq = preTokenizer as { type?: unknown; pretokenizers?: unknown } | null;
  if (seq?.type !== 'Sequence' || !Array.isArray(seq.pretokenizers)) return false;
  const parts = seq.pretokenizers as unknown[];
  return parts.length > 0 && isByteLevel(parts[parts.length - 1]) && parts.slice(0, -1).every(isDigits);
}

/** Characters per piece of encodeYielding: 25-40 ms of encoding on one core of the 2-core development machine. */
const ENCODE_PIECE_CHARS = 16 * 1024;

/**
 * `text` cut into consecutive pieces of at least `pieceChars` characters (the last may be shorter), each cut
 * right after a newline with a non-space character on both sides (`x\n|y`): a boundary no pre-token crosses
 * (around `\n\n`, `\r\n` or an indented line the byte-level split groups whitespace differently when cut).
 * A text without such a point stays whole.
 */
export function* safePieces(text: string, pieceChars: number): Generator<string> {
  let start = 0;
  while (text.length - start > pieceChars) {
    let cut = -1;
    for (let nl = text.indexOf('\n', start + pieceChars - 1); nl !== -1 && nl + 1 < text.length; nl = text.indexOf('\n', nl + 1)) {
      if (nl > 0 && !/\s/.test(text[nl - 1]!) && !/\s/.test(text[nl + 1]!)) {
        cut = nl + 1;
        break;
      }
    }
    if (cut === -1) break;
    yield text.slice(start, cut);
    start = cut;
  }
  yield text.slice(start);
}
