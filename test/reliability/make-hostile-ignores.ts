/**
 * Generates the hostile-.gitignore corpus of issue 22 (item 2) into a folder, one sub-folder per case: rules
 * whose regular expressions backtrack for minutes (`**\/a/` fourteen times then `b` over a 50-level `a/a/…`
 * tree, the issue's own case), rules that are costly only in numbers, oversized rule files, a very long rule,
 * trees deeper than the walker enters. Each case says which paths must still be read, which must be ignored by
 * the rules that do apply, and which .gitignore must be reported with rules not applied, so a test can check the
 * walk's outcome as well as its time. Nothing of it is committed.
 *
 *   npx tsx test/reliability/make-hostile-ignores.ts <dir>    (prints the case list as JSON)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface HostileCase {
  id: string;
  description: string;
  /** The case's folder: open it as a workspace. */
  root: string;
  /** Root-relative files that must be read. */
  read: string[];
  /** Root-relative paths that the applied rules must skip as gitignored. */
  ignored: string[];
  /** Root-relative .gitignore files that must be reported with rules not applied. */
  rulesNotApplied: string[];
  /** A folder that must be reported too deep to enter, if any. */
  tooDeep?: string;
}

/** `a/a/…/` of `levels` folders. */
const chain = (levels: number, name = 'a') => `${Array.from({ length: levels }, () => name).join('/')}/`;

export function makeHostileIgnores(dir: string): HostileCase[] {
  fs.mkdirSync(dir, { recursive: true });
  const cases: HostileCase[] = [];
  const add = (id: string, description: string, files: Record<string, string>, expect: Omit<HostileCase, 'id' | 'description' | 'root'>) => {
    const root = path.join(dir, id);
    for (const [rel, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), text);
    }
    cases.push({ id, description, root, ...expect });
  };

  const deep50 = chain(50);
  add('issue-14-globstars', "the issue's case: `**/a/` 14 times then `b`, over a 50-level a/a/… tree", {
    '.gitignore': `${'**/a/'.repeat(14)}b\nplain.log\n`,
    [`${deep50}b`]: 'b\n',
    [`${deep50}keep.txt`]: 'kept\n',
    [`${deep50}plain.log`]: 'ignored by the rule that does apply\n',
  }, { read: [`${deep50}b`, `${deep50}keep.txt`], ignored: [`${deep50}plain.log`], rulesNotApplied: ['.gitignore'] });

  const deep120 = chain(120);
  add('three-globstars-deep', '`**/a/**/a/**/a/b` (three globstars) over a 120-level tree', {
    '.gitignore': '**/a/**/a/**/a/b\n',
    [`${deep120}b`]: 'b\n',
  }, { read: [`${deep120}b`], ignored: [], rulesNotApplied: ['.gitignore'] });

  const deep128 = chain(127);
  add('many-two-globstar-rules', '2,000 rules of two globstars each (all applied) over a 127-level tree', {
    '.gitignore': `${Array.from({ length: 2000 }, (_, i) => `**/a/**/a/x${i}`).join('\n')}\n`,
    [`${deep128}x1999`]: 'ignored by the last rule\n',
    [`${deep128}y.txt`]: 'read\n',
  }, { read: [`${deep128}y.txt`], ignored: [`${deep128}x1999`], rulesNotApplied: [] });

  const nested: Record<string, string> = {};
  for (let level = 0; level < 8; level++) {
    const folder = level === 0 ? '' : chain(level, 'n');
    nested[`${folder}.gitignore`] = `${Array.from({ length: 20_000 }, (_, i) => `gen-${level}-${i}.txt`).join('\n')}\n`;
    nested[`${folder}file-${level}.txt`] = `level ${level}\n`;
  }
  nested[`${chain(7, 'n')}gen-0-19999.txt`] = 'ignored by the root rules, seven folders up\n';
  add('nested-20k-rules', 'eight nested .gitignore files of 20,000 rules each (all applied)', nested, {
    read: [`${chain(7, 'n')}file-7.txt`, 'file-0.txt'],
    ignored: [`${chain(7, 'n')}gen-0-19999.txt`],
    rulesNotApplied: [],
  });

  add('oversized-rule-file', 'a .gitignore of 200,000 rules, 1.5 MB (not applied), beside a small one that is', {
    '.gitignore': `${Array.from({ length: 200_000 }, (_, i) => `x${i}`).join('\n')}\n`,
    'x1.txt': 'x1.txt is no rule of the big file anyway\n',
    'x1': 'x1 would be ignored if the big file applied\n',
    'sub/.gitignore': 'small.log\n',
    'sub/small.log': 'ignored by the small file\n',
  }, { read: ['x1', 'x1.txt'], ignored: ['sub/small.log'], rulesNotApplied: ['.gitignore'] });

  add('long-rule', 'one rule of 200,000 characters (`*a` repeated), then an ordinary one', {
    '.gitignore': `${'*a'.repeat(100_000)}\n*.tmp\n`,
    'aaaa.txt': 'read\n',
    'x.tmp': 'ignored\n',
  }, { read: ['aaaa.txt'], ignored: ['x.tmp'], rulesNotApplied: ['.gitignore'] });

  const deep200 = chain(200);
  add('beyond-depth', '`**/a/**/b` over a 200-level tree: the walker does not enter below its depth limit', {
    '.gitignore': '**/a/**/b\n',
    [`${chain(20)}b`]: 'ignored\n',
    [`${chain(20)}c.txt`]: 'read\n',
    [`${deep200}c.txt`]: 'too deep\n',
  }, { read: [`${chain(20)}c.txt`], ignored: [`${chain(20)}b`], rulesNotApplied: [], tooDeep: chain(129) });

  const wide: Record<string, string> = { '.gitignore': `${Array.from({ length: 500 }, (_, i) => `**/w/**/z${i}`).join('\n')}\n` };
  for (let i = 0; i < 3000; i++) wide[`w/f${String(i).padStart(4, '0')}.txt`] = `${i}\n`;
  wide['w/q/z499'] = 'ignored by the last rule\n';
  add('wide-folder', '3,000 files in one folder under 500 two-globstar rules (all applied)', wide, {
    read: ['w/f0000.txt', 'w/f2999.txt'],
    ignored: ['w/q/z499'],
    rulesNotApplied: [],
  });

  const longName = 'a'.repeat(200);
  const classes = `${Array.from({ length: 30 }, () => `${longName.slice(0, 30)}/`).join('')}`;
  add('bracket-classes', 'character classes and wildcards inside two globstars, over 30 levels of 30-character names', {
    '.gitignore': '**/[a-z]*[!b]*[[:alpha:]]*a/**/[a-z]*[a-z]*c\n',
    [`${classes}abc`]: 'ignored\n',
    [`${classes}abd.txt`]: 'read\n',
  }, { read: [`${classes}abd.txt`], ignored: [`${classes}abc`], rulesNotApplied: [] });

  add('negation-ping-pong', '10,000 rules that ignore and re-include in turn, two globstars each', {
    '.gitignore': `${Array.from({ length: 10_000 }, (_, i) => (i % 2 === 0 ? `**/p/**/q${i >> 1}` : `!**/p/**/q${i >> 1}`)).join('\n')}\nlast.log\n`,
    [`${chain(40, 'p')}q4999`]: 'ignored, then re-included\n',
    [`${chain(40, 'p')}last.log`]: 'ignored\n',
  }, { read: [`${chain(40, 'p')}q4999`], ignored: [`${chain(40, 'p')}last.log`], rulesNotApplied: [] });

  add('crlf-globstars', 'CRLF line ends and trailing spaces around four globstars', {
    '.gitignore': '**/a/**/a/**/a/**/b   \r\n*.bak \r\n',
    [`${chain(60)}b`]: 'read: its rule is not applied\n',
    [`${chain(60)}x.bak`]: 'ignored\n',
  }, { read: [`${chain(60)}b`], ignored: [`${chain(60)}x.bak`], rulesNotApplied: ['.gitignore'] });

  add('escaped-stars', 'escaped stars (`\\*\\*`: literal, no globstar) ten times, and backslash runs', {
    '.gitignore': `${'\\*\\*/a/'.repeat(10)}b\n${'\\\\'.repeat(500)}x\n`,
    [`${chain(30)}b`]: 'read\n',
  }, { read: [`${chain(30)}b`], ignored: [], rulesNotApplied: [] });

  add('star-soup', 'a 1,001-character rule of `*a` pairs (under the length limit) against 200-character names', {
    '.gitignore': `${'*a'.repeat(500)}b\n`,
    [`${chain(15, longName)}${longName}.txt`]: 'read\n',
  }, { read: [`${chain(15, longName)}${longName}.txt`], ignored: [], rulesNotApplied: [] });

  return cases;
}

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: make-hostile-ignores.ts <dir>\n');
    process.exit(1);
  }
  const cases = makeHostileIgnores(path.resolve(dir));
  process.stdout.write(`${JSON.stringify(cases.map(({ id, description }) => ({ id, description })), null, 2)}\n`);
}
