import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

/** The repository's markdown: every relative link in it must name a file or folder that exists, so that pruning
 *  docs/results or model/train (issue 20, item 5) cannot leave a dangling link behind. */
const ROOT = resolve(__dirname, '..', '..');
const SKIP_DIRS = new Set(['node_modules', '.tools', '.git', 'dist', 'out']);

/** The markdown git would commit (tracked, or new and not ignored: no caches, no downloaded packages); without git,
 *  every .md file outside SKIP_DIRS. */
function markdownFiles(): string[] {
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', '*.md'],
      { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return out.split('\0').filter((f) => f && !f.split('/').some((part) => SKIP_DIRS.has(part)))
      .map((f) => join(ROOT, f)).filter((f) => existsSync(f));
  } catch {
    return walk(ROOT);
  }
}

function walk(dir: string, found: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) walk(join(dir, entry.name), found);
    } else if (entry.isFile() && entry.name.endsWith('.md')) {
      found.push(join(dir, entry.name));
    }
  }
  return found;
}

/** Link targets of `[text](target)`, `![alt](target)` and `[label]: target`, outside code spans and fences. */
export function linkTargets(markdown: string): string[] {
  const prose = markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/(`+)[\s\S]*?\1/g, '');
  const targets: string[] = [];
  for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1]!);
  for (const m of prose.matchAll(/^ {0,3}\[[^\]]+\]:\s+(<[^>]*>|\S+)/gm)) targets.push(m[1]!);
  return targets.map((t) => t.replace(/^<|>$/g, ''));
}

/** A target this check can resolve on disk: not a URL, not an anchor of the same file. */
function localPath(target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#') || target.startsWith('/')) return undefined;
  const path = decodeURIComponent(target.split('#')[0]!.split('?')[0]!);
  return path || undefined;
}

/** Repository paths under docs/results/ that markdown names in prose or code (`docs/results/x.json`), not as a link:
 *  the results most often cited that way. A line that says the file is in git history is skipped, as are globs and
 *  output prefixes (`--out docs/results/qa` for qa.json and qa.md). */
export function resultsMentions(markdown: string): string[] {
  const paths: string[] = [];
  for (const line of markdown.split('\n')) {
    if (/git (history|show)/.test(line)) continue;
    for (const m of line.matchAll(/docs\/results\/[^\s`'"()\[\],;]*/g)) {
      const path = m[0].replace(/[.:]+$/, '');
      if (!/[*{}<>$]/.test(path)) paths.push(path);
    }
  }
  return paths;
}

describe('markdown links', () => {
  it('finds inline, image and reference links, but not code', () => {
    const md = 'See [a](docs/a.md#x), ![p](p.png "t") and `[c](code.md)`.\n```\n[d](fenced.md)\n```\n[e]: <e f.md>\n[u](https://x.y/z)';
    assert.deepEqual(linkTargets(md), ['docs/a.md#x', 'p.png', 'https://x.y/z', 'e f.md']);
    assert.deepEqual(linkTargets(md).map(localPath), ['docs/a.md', 'p.png', undefined, 'e f.md']);
  });

  it('every relative link in the repository\'s markdown resolves to a file or folder', () => {
    const files = markdownFiles();
    assert.ok(files.some((f) => relative(ROOT, f) === 'README.md'), 'README.md is scanned');
    const broken: string[] = [];
    for (const file of files) {
      for (const target of linkTargets(readFileSync(file, 'utf8'))) {
        const path = localPath(target);
        if (path !== undefined && !existsSync(resolve(dirname(file), path))) broken.push(`${relative(ROOT, file)}: ${target}`);
      }
    }
    assert.deepEqual(broken, []);
  });

  it('every docs/results/ path named in the repository\'s markdown exists, unless the line points to git history', () => {
    assert.deepEqual(resultsMentions('See `docs/results/a.md`: and docs/results/b/.\nIn git history: docs/results/c.json'),
      ['docs/results/a.md', 'docs/results/b/']);
    const missing: string[] = [];
    for (const file of markdownFiles()) {
      for (const path of resultsMentions(readFileSync(file, 'utf8'))) {
        const abs = join(ROOT, path);
        if (!['', '.md', '.json'].some((ext) => existsSync(abs + ext))) missing.push(`${relative(ROOT, file)}: ${path}`);
      }
    }
    assert.deepEqual(missing, []);
  });
});
