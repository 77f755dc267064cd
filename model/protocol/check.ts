/**
 * Runtime checks for messages that cross a boundary: the engine's JSON-RPC params (model/engine/protocol.ts)
 * and the messages between the extension and its webviews (webview/protocol.ts). A check returns the value
 * typed, or throws a ValidationError whose message names the bad field by its path (`params.options.topP`).
 *
 * Both the engine and the webview bundle import this module: it uses no node built-ins, no DOM and no vscode.
 */

/** Returns `value` typed, or throws a ValidationError naming `at` (the path of the value in its message). */
export type Check<T> = (value: unknown, at: string) => T;
/** A check that also accepts a missing field; `v.object` makes such fields optional in its type. */
export type OptionalCheck<T> = Check<T | undefined> & { readonly optional: true };
type Infer<C> = C extends Check<infer T> ? T : never;
type OptionalKeys<S> = { [K in keyof S]: S[K] extends { optional: true } ? K : never }[keyof S];
type ObjectOf<S> = { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> };

export class ValidationError extends Error {
  override readonly name = 'ValidationError';
}

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A short description of a refused value: its kind, or a string's (cut) text. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

export const fail = (at: string, expected: string, value: unknown): never => {
  throw new ValidationError(`${at}: expected ${expected}, got ${describe(value)}`);
};

/** "in [0, 1]", "≥ 1", "≤ 9", or nothing. */
function range(min: number, max: number): string {
  if (min > -Infinity && max < Infinity) return ` in [${min}, ${max}]`;
  if (min > -Infinity) return ` ≥ ${min}`;
  return max < Infinity ? ` ≤ ${max}` : '';
}

export const v = {
  /** `nonEmpty` refuses '' and whitespace only; `max` bounds the length (a flood guard for the webviews). */
  string(opts: { nonEmpty?: boolean; max?: number } = {}): Check<string> {
    const { nonEmpty = false, max = Infinity } = opts;
    const what = `a ${nonEmpty ? 'non-empty ' : ''}string${max < Infinity ? ` of at most ${max} characters` : ''}`;
    return (value, at) =>
      typeof value === 'string' && value.length <= max && (!nonEmpty || value.trim().length > 0) ? value : fail(at, what, value);
  },
  /** A finite number (NaN and ±Infinity are refused), optionally an integer, within [min, max]. */
  number(opts: { integer?: boolean; min?: number; max?: number } = {}): Check<number> {
    const { integer = false, min = -Infinity, max = Infinity } = opts;
    const what = `${integer ? 'an integer' : 'a finite number'}${range(min, max)}`;
    return (value, at) =>
      typeof value === 'number' && Number.isFinite(value) && (!integer || Number.isInteger(value)) && value >= min && value <= max
        ? value
        : fail(at, what, value);
  },
  boolean(): Check<boolean> {
    return (value, at) => (typeof value === 'boolean' ? value : fail(at, 'a boolean', value));
  },
  literal<const L extends readonly string[]>(...values: L): Check<L[number]> {
    return (value, at) =>
      typeof value === 'string' && values.includes(value) ? (value as L[number]) : fail(at, `one of ${values.join(' | ')}`, value);
  },
  array<T>(item: Check<T>, opts: { max?: number } = {}): Check<T[]> {
    const { max = Infinity } = opts;
    const what = max < Infinity ? `an array of at most ${max}` : 'an array';
    return (value, at) => (Array.isArray(value) && value.length <= max ? value.map((x, i) => item(x, `${at}[${i}]`)) : fail(at, what, value));
  },
  optional<T>(check: Check<T>): OptionalCheck<T> {
    return Object.assign((value: unknown, at: string) => (value === undefined ? undefined : check(value, at)), {
      optional: true as const,
    });
  },
  nullable<T>(check: Check<T>): Check<T | null> {
    return (value, at) => (value === null ? null : check(value, at));
  },
  /**
   * An object with exactly these fields: unknown fields are refused, so a misspelt option is not silently
   * ignored. Its type is inferred from the checks (a field with an optional() check is optional).
   */
  object<S extends Record<string, Check<unknown>>>(shape: S): Check<ObjectOf<S>> {
    return objectCheck(shape) as Check<ObjectOf<S>>;
  },
  /** `object` for a declared type T: a field of T that has no check, optional or not, does not compile. */
  objectOf<T>(shape: { [K in keyof T]-?: Check<T[K]> }): Check<T> {
    return objectCheck(shape as Record<string, Check<unknown>>) as Check<T>;
  },
};

function objectCheck(shape: Record<string, Check<unknown>>): Check<Record<string, unknown>> {
  return (value, at) => {
    if (!isPlainObject(value)) return fail(at, 'an object', value);
    for (const key of Object.keys(value)) {
      if (!Object.prototype.hasOwnProperty.call(shape, key)) throw new ValidationError(`${at}.${key}: unknown field`);
    }
    const out: Record<string, unknown> = {};
    for (const [key, check] of Object.entries(shape)) {
      const field = check(value[key], `${at}.${key}`);
      if (field !== undefined) out[key] = field;
    }
    return out;
  };
}
