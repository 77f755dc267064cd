/**
 * Search terms of code: identifier-shaped words, kept whole and split into the words people type.
 *
 *   queue.retryWithBackoff → queue.retrywithbackoff, queue, retrywithbackoff, retry, with, backoff
 *   MAX_RETRY_COUNT        → max_retry_count, max, retry, count
 *   tree-sitter            → tree-sitter, tree, sitter
 *   XMLHttpRequest2        → xmlhttprequest2, xml, http, request
 *
 * Words are runs of letters, marks, digits, `_` and `$`, joined by `.`, `-` or `::` into one compound; the
 * parts are the compound's segments, then each segment split at `_`, `$`, case changes and digit runs. All
 * terms are lower-cased; one-character terms are dropped (they match everything).
 */

const COMPOUND = /[\p{L}\p{M}\p{N}_$]+(?:(?:\.|-|::)[\p{L}\p{M}\p{N}_$]+)*/gu;
const SEGMENT_SEPARATOR = /\.|-|::/;
/** An upper-case run not followed by lower case (XML in XMLHttp), a capitalised or lower-case word, digits, other letters. */
const WORD_PART = /\p{Lu}+(?![\p{Ll}\p{M}])|\p{Lu}?[\p{Ll}\p{M}]+|\p{N}+|[\p{L}\p{M}]+/gu;

/** Identifier-shaped words of a text split the way the index splits them, in text order, repeats kept. */
export function codeTerms(text: string): string[] {
  const terms: string[] = [];
  for (const [compound] of text.matchAll(COMPOUND)) addTerms(compound, terms);
  return terms;
}

/** A word with nothing to split: one lower-case, capitalised or upper-case ASCII word, or digits. */
const SIMPLE = /^(?:[a-z]+|[A-Z][a-z]*|[A-Z]+|[0-9]+)$/;

function addTerms(compound: string, out: string[]): void {
  const whole = compound.toLowerCase();
  if (whole.length > 1) out.push(whole);
  if (SIMPLE.test(compound)) return;
  const seen = new Set([whole]);
  const segments = compound.split(SEGMENT_SEPARATOR);
  for (const segment of segments) {
    if (segments.length > 1) addPart(segment, seen, out);
    for (const piece of segment.split(/[_$]+/)) {
      const parts = piece.match(WORD_PART) ?? [];
      if (parts.length > 1 || piece !== segment) addPart(piece, seen, out);
      if (parts.length > 1) for (const part of parts) addPart(part, seen, out);
    }
  }
}

/** Adds a part once per word, lower-cased, when longer than one character. */
function addPart(part: string, seen: Set<string>, out: string[]): void {
  const term = part.toLowerCase();
  if (term.length > 1 && !seen.has(term)) {
    seen.add(term);
    out.push(term);
  }
}
