/**
 * The cost bound on gitignore rules, applied before any rule reaches the `ignore` package.
 *
 * `ignore` turns each rule into a regular expression, and a `**` segment becomes a group that takes any number
 * of folders. On a path that does not match, k such groups over d folders are tried in about d^(k+1) ways:
 * `**\/a/` fourteen times then `b`, over a 50-level `a/a/…` tree, took 15-100 s for one test of one path, and
 * a single test cannot be interrupted. So a rule with more than two `**` segments, or longer than 1,024
 * characters, is not applied; nor are the rules of a file past the 20,000th, nor a rule file over 1 MiB. With the
 * walker's depth limit (walker.ts, MAX_DEPTH) one applied rule costs at most about 2 ms per path on a 2-core
 * machine, and a file's rules together well under a second (docs/reliability.md has the figures). Whatever is
 * not applied is reported, with the line and the reason.
 */

export const RULE_LIMITS = {
  /** `**` segments in one rule (a trailing `/**` is cheap and not counted). */
  maxGlobstars: 2,
  /** Characters in one rule. */
  maxRuleChars: 1024,
  /** Rules in one file; git users rarely pass a few hundred. */
  maxRules: 20_000,
  /** Bytes of one rule file. */
  maxFileBytes: 1024 * 1024,
} as const;

export interface RejectedRule {
  /** 1-based line of the rule in its file (or position in a list of patterns). */
  line: number;
  why: string;
}

export interface VettedRules {
  /** The rules to apply, in their order. */
  rules: string[];
  /** Rules (blank lines and comments are none) that are not applied. */
  rejected: RejectedRule[];
  /** Rules in the text, applied or not. */
  total: number;
}

/**
 * Splits gitignore text (or a list of patterns) into the rules that may be applied and those that may not, with
 * why. Lines are split as git splits them: one CR before each LF and a BOM before the first line are dropped.
 */
export function vetRules(text: string | readonly string[]): VettedRules {
  const all = typeof text === 'string' ? text.replace(/^\uFEFF/, '').replace(/\r$/, '').split(/\r?\n/) : text;
  const rules: string[] = [];
  const rejected: RejectedRule[] = [];
  let total = 0;
  all.forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    total++;
    const why = ruleProblem(line);
    if (why) rejected.push({ line: i + 1, why });
    else if (rules.length >= RULE_LIMITS.maxRules) rejected.push({ line: i + 1, why: `beyond the first ${RULE_LIMITS.maxRules.toLocaleString('en-US')} rules` });
    else rules.push(line);
  });
  return { rules, rejected, total };
}

/** Why one rule is too costly to apply, or null. */
function ruleProblem(rule: string): string | null {
  if (rule.length > RULE_LIMITS.maxRuleChars) {
    return `${rule.length.toLocaleString('en-US')} characters (at most ${RULE_LIMITS.maxRuleChars.toLocaleString('en-US')})`;
  }
  const globstars = countGlobstars(rule);
  return globstars > RULE_LIMITS.maxGlobstars ? `${globstars} \`**\` segments (at most ${RULE_LIMITS.maxGlobstars})` : null;
}

/** Segments of two or more stars alone (as `ignore` folds them into `**`), but a last one. */
function countGlobstars(rule: string): number {
  const body = rule.replace(/^!/, '').trimEnd().replace(/^\/+|\/+$/g, '');
  const segments = body.split('/');
  const counted = segments.length > 1 ? segments.slice(0, -1) : segments;
  return counted.filter((s) => /^\*{2,}$/.test(s)).length;
}

/** One line for a report: how many rules are not applied and why, with the first few lines. */
export function describeRejected(vetted: VettedRules): string {
  const shown = vetted.rejected.slice(0, 3).map((r) => `line ${r.line}: ${r.why}`);
  const more = vetted.rejected.length - shown.length;
  const count = (n: number) => n.toLocaleString('en-US');
  return `${count(vetted.rejected.length)} of ${count(vetted.total)} rules not applied, too costly to match: ${shown.join('; ')}${more > 0 ? `; and ${count(more)} more` : ''}`;
}
