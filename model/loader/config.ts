/**
 * config.json of a Famulus model: a Llama-family decoder config (Hugging Face field names; the families of
 * MODEL_FAMILIES) plus the three FAM fields of docs/fam.md (fam_length F, block_size B, memory_segments m). The
 * Python twin is `FamConfig` in model/train/fam.py; both read and write the same snake_case names.
 */
import { ModelFileError } from './errors';

export interface FamConfig {
  /** V: rows of the embedding and of lm_head. The tokenizer may use fewer ids, never more. */
  vocab_size: number;
  /** D: model width. */
  hidden_size: number;
  /** L: decoder layers. */
  num_hidden_layers: number;
  /** H: query heads. */
  num_attention_heads: number;
  /** G: key/value heads (GQA); H is a multiple of G. */
  num_key_value_heads: number;
  /** I: SwiGLU width. */
  intermediate_size: number;
  rms_norm_eps: number;
  /** RoPE base. */
  rope_theta: number;
  /** lm_head shares the embedding matrix (no lm_head.weight in the files). */
  tie_word_embeddings: boolean;
  /** F: FAM rows per layer; 0 turns the model into block sliding-window attention (BSWA). */
  fam_length: number;
  /** B: tokens per block step. */
  block_size: number;
  /** m: past blocks whose K/V each layer keeps in its memory ring. */
  memory_segments: number;
  /** Where the previous FAM sits in a block step (famPositions). */
  fam_positions: FamPositions;
  /** Whether the previous FAM is added back to a FAM update (famResidualScale). */
  fam_residual: FamResidual;
  /** d: head size, when the file states it; otherwise hidden_size / num_attention_heads. Use headDim(). */
  head_dim?: number;
  /** The decoder family (config.json's model_type): which extra tensors the layers have (MODEL_FAMILIES). */
  model_type: ModelFamily;
  /** q_proj, k_proj and v_proj add a bias (Qwen2 always; Llama and Qwen3 when attention_bias is true). */
  qkv_bias: boolean;
  /** o_proj adds a bias (Llama and Qwen3 when attention_bias is true). */
  o_bias: boolean;
  /** Q and K are RMS-normed per head (weights [d]) before RoPE (Qwen3). */
  qk_norm: boolean;
  /** Llama 3's RoPE frequency scaling; absent means the plain frequencies of rope_theta. */
  rope_scaling?: Llama3RopeScaling;
  /** Token ids that end generation; config.json may hold one id or a list. */
  eos_token_id?: number | number[];
  bos_token_id?: number;
}

/**
 * Where the previous FAM sits in a block step: 'block_end', the positions of the last F tokens of the block
 * (App. B.2, docs/fam.md), or 'before_block', the F positions just before it (ours: it keeps the FAM apart from the
 * block's own last F tokens; docs/results/fig3a/README.md, "Positions"). fam.py's FAM_POSITIONS is the twin.
 */
export const FAM_POSITIONS = ['block_end', 'before_block'] as const;
export type FamPositions = (typeof FAM_POSITIONS)[number];

/** Positions of the FAM rows in the block step of the block that starts at position p0. */
export function famPositions(cfg: FamConfig, p0: number): number[] {
  const F = cfg.fam_length;
  const first = cfg.fam_positions === 'before_block' ? p0 - F : p0 + cfg.block_size - F;
  return Array.from({ length: F }, (_, i) => first + i);
}

/**
 * Whether the previous FAM is added back to a FAM update (the FAM rows' residual): 'after_first', on every update
 * but the first (App. B.1, docs/fam.md), or 'none', never (ours: the previous FAM reaches the new one only through the
 * FAM rows' attention, so the FAM stays bounded however many blocks it has read; docs/results/toy-recall.md).
 * fam.py's FAM_RESIDUALS is the twin.
 */
export const FAM_RESIDUALS = ['after_first', 'none'] as const;
export type FamResidual = (typeof FAM_RESIDUALS)[number];

/** What the previous FAM is multiplied by before it is added to the FAM rows' update, after `blocks` blocks. */
export function famResidualScale(cfg: FamConfig, blocks: number): number {
  return blocks === 0 || cfg.fam_residual === 'none' ? 0 : 1;
}

/**
 * What a config.json that omits a field means: the one place defaults live.
 *
 * The Llama fields take Hugging Face `LlamaConfig`'s defaults, because that is what a config.json without them
 * means to transformers (and the parity test compares against transformers). model/train/fam.py writes every
 * field, so these never apply to the project's own models. num_key_value_heads has no constant default: when
 * absent it equals num_attention_heads (plain multi-head attention), as in LlamaConfig.
 *
 * The FAM fields make a plain Llama checkpoint loadable as it is:
 * - fam_length 0: such a checkpoint has no `model.fam_embeddings` tensor, and F = 0 is exactly BSWA.
 * - memory_segments 0: no K/V ring, so a block sees only itself. The first block then computes the same logits
 *   as the plain model (what the transformers parity test checks), and memory stays independent of input length.
 * - block_size 1024: the paper's B (docs/fam.md "Shapes and names"); long enough that a question and its answer fit
 *   in one block of a plain model. Put the three fields in config.json to choose otherwise.
 */
export const CONFIG_DEFAULTS = {
  rms_norm_eps: 1e-6,
  rope_theta: 10000,
  tie_word_embeddings: false,
  fam_length: 0,
  block_size: 1024,
  memory_segments: 0,
  fam_positions: 'block_end',
  fam_residual: 'after_first',
} as const;

/**
 * The decoder families the engine runs, as data: what a family's layers hold beyond the plain Llama decoder
 * (RMSNorm, RoPE, GQA, SwiGLU), read from Hugging Face's modeling code for each model_type. SmolLM2 is model_type
 * "llama". fam.py's MODEL_FAMILIES is the twin.
 * - qkvBias / oBias: 'attention_bias' follows that config field (default false); 'always' / 'never' are fixed by
 *   the family, whatever the field says.
 * - slidingWindow: the config field of a sliding attention window, and the switch that turns it on where the
 *   family has one. This engine's block/memory layout (block_size, memory_segments) replaces the window, so it is
 *   noted, not used: within one block (shorter than any real window) the math is the same.
 */
export interface FamilyTraits {
  qkvBias: 'attention_bias' | 'always' | 'never';
  oBias: 'attention_bias' | 'never';
  qkNorm: boolean;
  slidingWindow?: { field: string; switch?: string };
}
export const MODEL_FAMILIES = {
  llama: { qkvBias: 'attention_bias', oBias: 'attention_bias', qkNorm: false },
  mistral: { qkvBias: 'never', oBias: 'never', qkNorm: false, slidingWindow: { field: 'sliding_window' } },
  qwen2: { qkvBias: 'always', oBias: 'never', qkNorm: false, slidingWindow: { field: 'sliding_window', switch: 'use_sliding_window' } },
  qwen3: { qkvBias: 'attention_bias', oBias: 'attention_bias', qkNorm: true, slidingWindow: { field: 'sliding_window', switch: 'use_sliding_window' } },
} as const satisfies Record<string, FamilyTraits>;
export type ModelFamily = keyof typeof MODEL_FAMILIES;

/** What people call each family (model cards, hubs): SmolLM2 is a Llama, Qwen2.5 is model_type qwen2. */
const FAMILY_NAMES: Record<ModelFamily, string> = {
  llama: 'Llama',
  mistral: 'Mistral',
  qwen2: 'Qwen2/Qwen2.5',
  qwen3: 'Qwen3',
};

/**
 * The family in words and as config.json names it: "Qwen2/Qwen2.5 (qwen2)", or "Llama 3 (llama)" where the config
 * has Llama 3's RoPE scaling. What the picker and the status tooltip show.
 */
export function familyLabel(cfg: FamConfig): string {
  const name = cfg.model_type === 'llama' && cfg.rope_scaling?.rope_type === 'llama3' ? 'Llama 3' : FAMILY_NAMES[cfg.model_type];
  return `${name} (${cfg.model_type})`;
}

/** The family fields of a plain Llama config (what parseFamConfig makes of one without attention_bias). */
export const PLAIN_LLAMA = { model_type: 'llama', qkv_bias: false, o_bias: false, qk_norm: false } as const;

/**
 * Llama 3.x RoPE scaling (rope_scaling.rope_type "llama3"): low frequencies are divided by `factor`, high ones
 * kept, the band between blended (rope.ts ropeInvFreq). The only scaling this engine runs; others are refused.
 */
export interface Llama3RopeScaling {
  rope_type: 'llama3';
  factor: number;
  low_freq_factor: number;
  high_freq_factor: number;
  original_max_position_embeddings: number;
}

/** d: the head size. */
export function headDim(cfg: FamConfig): number {
  return cfg.head_dim ?? cfg.hidden_size / cfg.num_attention_heads;
}

/**
 * What the model remembers of what it read, in words for the CLI and the status view: a trained FAM, or, with
 * fam_length 0 (a checkpoint never fine-tuned with FAM), only its attention window, the paper's BSWA.
 */
export function memoryModeText(cfg: FamConfig): string {
  const B = cfg.block_size;
  const m = cfg.memory_segments;
  if (cfg.fam_length > 0) {
    return `FAM: ${cfg.fam_length} rows of trained working memory per layer, plus exact attention to the current ` +
      `block of ${B} tokens${m > 0 ? ` and the ${m} before it` : ''}`;
  }
  return `no trained working memory (FAM length 0, block sliding-window attention): answers use the last ` +
    `${B}${m > 0 ? ` to ${(m + 1) * B}` : ' or fewer'} tokens read and the re-read`;
}

/** memoryModeText in a few words, for a list: "FAM, 64 rows" or "BSWA: no trained working memory". */
export function memoryModeShort(cfg: FamConfig): string {
  return cfg.fam_length > 0 ? `FAM, ${cfg.fam_length} rows` : 'BSWA: no trained working memory';
}

/** A list of ids from eos_token_id (empty when the config names none). */
export function eosTokenIds(cfg: FamConfig): number[] {
  if (cfg.eos_token_id === undefined) return [];
  return Array.isArray(cfg.eos_token_id) ? [...cfg.eos_token_id] : [cfg.eos_token_id];
}

type Json = Record<string, unknown>;

/**
 * Checks a parsed config.json and fills in CONFIG_DEFAULTS. Every problem found is reported in one
 * ModelFileError that names `source` (the file), each field and the value seen.
 */
export function parseFamConfig(json: unknown, source: string): FamConfig {
  return readFamConfig(json, source).config;
}

/** parseFamConfig, plus notes on fields that were read but not used (a sliding window the blocks replace). */
export function readFamConfig(json: unknown, source: string): { config: FamConfig; notes: string[] } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelFileError(source, `${source}: config must be a JSON object, got ${describe(json)}`);
  }
  const raw = json as Json;
  const problems: string[] = [];
  const notes: string[] = [];
  const fail = (field: string, want: string): void => {
    problems.push(`"${field}" must be ${want}, got ${describe(raw[field])}`);
  };

  const positiveInt = (field: string): number => {
    const v = raw[field];
    if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return v;
    fail(field, 'a positive integer');
    return NaN;
  };
  const nonNegativeInt = (field: string, dflt: number): number => {
    const v = raw[field];
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
    fail(field, 'a non-negative integer');
    return NaN;
  };
  const positiveFloat = (field: string, dflt: number): number => {
    const v = raw[field];
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
    fail(field, 'a positive finite number');
    return NaN;
  };
  const oneOf = <T extends string>(field: string, allowed: readonly T[], dflt: T): T => {
    const v = raw[field];
    if (v === undefined || v === null) return dflt;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    fail(field, allowed.map((a) => `"${a}"`).join(' or '));
    return dflt;
  };

  const vocab_size = positiveInt('vocab_size');
  const hidden_size = positiveInt('hidden_size');
  const num_hidden_layers = positiveInt('num_hidden_layers');
  const num_attention_heads = positiveInt('num_attention_heads');
  const num_key_value_heads =
    raw.num_key_value_heads === undefined || raw.num_key_value_heads === null
      ? num_attention_heads
      : positiveInt('num_key_value_heads');
  const intermediate_size = positiveInt('intermediate_size');
  const rms_norm_eps = positiveFloat('rms_norm_eps', CONFIG_DEFAULTS.rms_norm_eps);
  // transformers 5 keeps rope_theta inside rope_parameters.
  const ropeParameters = raw.rope_parameters as Json | null | undefined;
  const rope_theta = raw.rope_theta === undefined && typeof ropeParameters?.rope_theta === 'number'
    ? ropeParameters.rope_theta
    : positiveFloat('rope_theta', CONFIG_DEFAULTS.rope_theta);
  let tie_word_embeddings: boolean = CONFIG_DEFAULTS.tie_word_embeddings;
  if (raw.tie_word_embeddings !== undefined && raw.tie_word_embeddings !== null) {
    if (typeof raw.tie_word_embeddings === 'boolean') tie_word_embeddings = raw.tie_word_embeddings;
    else fail('tie_word_embeddings', 'true or false');
  }
  const fam_length = nonNegativeInt('fam_length', CONFIG_DEFAULTS.fam_length);
  const block_size =
    raw.block_size === undefined || raw.block_size === null ? CONFIG_DEFAULTS.block_size : positiveInt('block_size');
  const memory_segments = nonNegativeInt('memory_segments', CONFIG_DEFAULTS.memory_segments);
  const fam_positions = oneOf('fam_positions', FAM_POSITIONS, CONFIG_DEFAULTS.fam_positions);
  const fam_residual = oneOf('fam_residual', FAM_RESIDUALS, CONFIG_DEFAULTS.fam_residual);

  let head_dim: number | undefined;
  if (raw.head_dim !== undefined && raw.head_dim !== null) head_dim = positiveInt('head_dim');

  // Cross-field checks (fam.py __post_init__ makes the same ones).
  if (num_attention_heads > 0 && num_key_value_heads > 0 && num_attention_heads % num_key_value_heads !== 0) {
    problems.push(
      `"num_attention_heads" ${num_attention_heads} is not divisible by "num_key_value_heads" ${num_key_value_heads}`,
    );
  }
  if (head_dim === undefined && hidden_size > 0 && num_attention_heads > 0) {
    if (hidden_size % num_attention_heads !== 0) {
      problems.push(
        `"hidden_size" ${hidden_size} is not divisible by "num_attention_heads" ${num_attention_heads} ` +
          `(and no "head_dim" is given)`,
      );
    } else if ((hidden_size / num_attention_heads) % 2 !== 0) {
      problems.push(
        `head size hidden_size/num_attention_heads = ${hidden_size / num_attention_heads} must be even for RoPE`,
      );
    }
  }
  if (head_dim !== undefined && head_dim % 2 !== 0) problems.push(`"head_dim" ${head_dim} must be even for RoPE`);
  if (fam_length > block_size) {
    problems.push(
      `"fam_length" ${fam_length} > "block_size" ${block_size}: the FAM may not be longer than the block it ` +
        `compresses (with fam_positions "block_end" it takes the positions of the block's last F tokens)`,
    );
  }

  let eos_token_id: number | number[] | undefined;
  const eos = raw.eos_token_id;
  const isTokenId = (v: unknown): v is number =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && !(v >= vocab_size);
  if (eos !== undefined && eos !== null) {
    if (isTokenId(eos)) eos_token_id = eos;
    else if (Array.isArray(eos) && eos.length > 0 && eos.every(isTokenId)) eos_token_id = [...eos];
    else fail('eos_token_id', `a token id in [0, vocab_size ${vocab_size}) or a non-empty list of them`);
  }
  let bos_token_id: number | undefined;
  if (raw.bos_token_id !== undefined && raw.bos_token_id !== null) {
    if (isTokenId(raw.bos_token_id)) bos_token_id = raw.bos_token_id;
    else fail('bos_token_id', `a token id in [0, vocab_size ${vocab_size})`);
  }

  // Fields that change the math this engine implements: refuse rather than compute something else.
  const families = Object.keys(MODEL_FAMILIES) as ModelFamily[];
  const model_type = oneOf('model_type', families, 'llama');
  const family: FamilyTraits = MODEL_FAMILIES[model_type];
  let attentionBias = false;
  if (raw.attention_bias !== undefined && raw.attention_bias !== null) {
    if (typeof raw.attention_bias === 'boolean') attentionBias = raw.attention_bias;
    else fail('attention_bias', 'true or false');
  }
  const bias = (rule: FamilyTraits['qkvBias']): boolean => (rule === 'attention_bias' ? attentionBias : rule === 'always');
  if (attentionBias && family.qkvBias !== 'attention_bias') {
    notes.push(`attention_bias ignored: ${model_type} fixes its biases (q/k/v ${family.qkvBias}, o_proj ${family.oBias})`);
  }
  const window = family.slidingWindow;
  if (window && raw[window.field] !== undefined && raw[window.field] !== null && (!window.switch || raw[window.switch] === true)) {
    notes.push(`${window.field} ${JSON.stringify(raw[window.field])} not used: blocks of block_size ${block_size} ` +
      `tokens with memory_segments ${memory_segments} past blocks replace the sliding window`);
  }
  if (raw.hidden_act !== undefined && raw.hidden_act !== 'silu') fail('hidden_act', '"silu" (SwiGLU)');
  if (raw.mlp_bias !== undefined && raw.mlp_bias !== false) fail('mlp_bias', 'false');
  const rope_scaling = parseRopeScaling(raw, problems);
  if (raw.layer_types !== undefined && raw.layer_types !== null) {
    const types = raw.layer_types;
    if (!Array.isArray(types) || types.some((t) => t !== 'full_attention')) {
      fail('layer_types', 'a list of "full_attention" (per-layer sliding windows are not run)');
    }
  }

  if (problems.length > 0) {
    throw new ModelFileError(source, `${source}: invalid config:\n  - ${problems.join('\n  - ')}`);
  }
  const cfg: FamConfig = {
    vocab_size,
    hidden_size,
    num_hidden_layers,
    num_attention_heads,
    num_key_value_heads,
    intermediate_size,
    rms_norm_eps,
    rope_theta,
    tie_word_embeddings,
    fam_length,
    block_size,
    memory_segments,
    fam_positions,
    fam_residual,
    model_type,
    qkv_bias: bias(family.qkvBias),
    o_bias: bias(family.oBias),
    qk_norm: family.qkNorm,
  };
  if (rope_scaling) cfg.rope_scaling = rope_scaling;
  if (head_dim !== undefined) cfg.head_dim = head_dim;
  if (eos_token_id !== undefined) cfg.eos_token_id = eos_token_id;
  if (bos_token_id !== undefined) cfg.bos_token_id = bos_token_id;
  return { config: cfg, notes };
}

/**
 * rope_scaling (or transformers 5's rope_parameters): null, rope_type "default", or "llama3" with its four numbers.
 * Any other scaling (linear, dynamic, yarn, longrope) is refused by name: it would change every position's angle.
 */
function parseRopeScaling(raw: Json, problems: string[]): Llama3RopeScaling | undefined {
  const field = raw.rope_parameters !== undefined && raw.rope_parameters !== null ? 'rope_parameters' : 'rope_scaling';
  const v = raw[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) {
    problems.push(`"${field}" must be null or an object, got ${describe(v)}`);
    return undefined;
  }
  const r = v as Json;
  const type = r.rope_type ?? r.type;
  if (type === 'default' || type === undefined) return undefined;
  if (type !== 'llama3') {
    problems.push(`"${field}" type ${describe(type)} is not run by this engine (only "llama3" or "default")`);
    return undefined;
  }
  const num = (k: string): number => {
    const x = r[k];
    if (typeof x === 'number' && Number.isFinite(x) && x > 0) return x;
    problems.push(`"${field}.${k}" must be a positive number, got ${describe(x)}`);
    return NaN;
  };
  const scaling: Llama3RopeScaling = {
    rope_type: 'llama3',
    factor: num('factor'),
    low_freq_factor: num('low_freq_factor'),
    high_freq_factor: num('high_freq_factor'),
    original_max_position_embeddings: num('original_max_position_embeddings'),
  };
  if (!(scaling.high_freq_factor > scaling.low_freq_factor)) {
    problems.push(`"${field}.high_freq_factor" ${scaling.high_freq_factor} must exceed low_freq_factor ${scaling.low_freq_factor}`);
  }
  return scaling;
}

/** A value as it appeared in the JSON, for error messages. */
function describe(v: unknown): string {
  if (v === undefined) return 'nothing (field missing)';
  const s = JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
