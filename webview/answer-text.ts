/**
 * The model's text as markdown that shows what it wrote, and the code blocks in it.
 *
 * Two things the model writes are not markdown and rendered wrongly as such:
 * - a file, written the way it read them (docs/prompt-format.md): `<|file|>PATH`, a newline, the file's text.
 *   Its lines would run together as paragraphs; `<|file|>` is a special token, not text.
 * - a doc comment (`/**`, ` * text`, ` * @param x`, `*\/`): its ` * ` lines would become a bullet list.
 * Both become fenced code blocks, a file's with its path as the block's caption.
 *
 * The chat renders this markdown and the extension finds an answer's code blocks (Copy, Insert at cursor) in
 * it, both through `lexAnswer`, so block n is the same block on both sides. No DOM, node or vscode API.
 */
import { Lexer, walkTokens, type Token, type TokensList } from 'marked';

/** The options every answer is lexed with (the renderer's too). */
export const MARKDOWN_OPTIONS = { gfm: true, breaks: true } as const;

const FILE_TOKEN = '<|file|>';
/** The special tokens that end a file the model writes (docs/prompt-format.md). */
const SPECIAL = /<\|(?:file|question|answer|endoftext)\|>/;

/** A fence opening a code block the model wrote itself (CommonMark: up to 3 spaces, then ``` or ~~~). */
const FENCE = /^ {0,3}(`{3,}|~{3,})/;
/** A line of a doc or block comment: its opening, an indented ` * ` line, its end, or a `@tag` line. */
const COMMENT_LINE = /^\s*(?:\/\*|\*\/|@[a-z]\w*\b)|^\s+\*(?:\s|\/|$)/;

/** The answer as markdown: files and doc comments the model wrote become fenced code blocks. */
export function answerMarkdown(text: string): string {
  const [prose, ...files] = text.split(FILE_TOKEN);
  const out = [commentsAsCode(prose!)];
  for (const file of files) {
    const newline = file.indexOf('\n');
    const path = (newline < 0 ? file : file.slice(0, newline)).trim();
    const rest = newline < 0 ? '' : file.slice(newline + 1);
    // The file goes on until the model writes another special token; what follows is prose again.
    const end = rest.search(SPECIAL);
    const body = end < 0 ? rest : rest.slice(0, end);
    out.push(fenced(body.replace(/\n+$/, ''), `${languageOf(path)} ${path}`.trim()));
    if (end >= 0) out.push(commentsAsCode(rest.slice(end)));
  }
  return out.filter((part) => part !== '').join('\n\n');
}

/** Lexes an answer as the chat renders it. */
export function lexAnswer(text: string): TokensList {
  return new Lexer(MARKDOWN_OPTIONS).lex(answerMarkdown(text));
}

/** The text of each code block of an answer, in the order they are shown. */
export function codeBlocks(text: string): string[] {
  const blocks: string[] = [];
  walkTokens(lexAnswer(text), (token: Token) => {
    if (token.type === 'code') blocks.push(token.text);
  });
  return blocks;
}

/**
 * Wraps each run of doc-comment lines in a code fence, outside the code blocks the model fenced itself. A run
 * opened by `/*` goes on to the line that closes it, whatever lines lie between.
 */
function commentsAsCode(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let fence: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (fence !== null) {
      out.push(line);
      if (line.trim().startsWith(fence) && line.trim().replace(/[`~]/g, '') === '') fence = null;
      continue;
    }
    const open = FENCE.exec(line);
    if (open) {
      fence = open[1]!;
      out.push(line);
      continue;
    }
    if (!COMMENT_LINE.test(line)) {
      out.push(line);
      continue;
    }
    const run: string[] = [];
    let inBlock = false;
    for (; i < lines.length && (inBlock || COMMENT_LINE.test(lines[i]!)); i++) {
      const l = lines[i]!;
      run.push(l);
      const opens = l.lastIndexOf('/*');
      const closes = l.lastIndexOf('*/');
      if (opens >= 0 && opens > closes) inBlock = true;
      else if (closes >= 0) inBlock = false;
    }
    i--;
    out.push('', fenced(run.join('\n'), ''), '');
  }
  return out.join('\n').replace(/^\n+|\n+$/g, '');
}

/** A fenced code block that its own text cannot close: tildes, one more than the longest run of them. */
function fenced(body: string, info: string): string {
  const longest = Math.max(0, ...[...body.matchAll(/~+/g)].map((m) => m[0].length));
  const fence = '~'.repeat(Math.max(3, longest + 1));
  return `${fence}${info}\n${body}\n${fence}`;
}

/** The language of a path for highlighting: its extension (`src/queue.ts:14-21` → `ts`), or `text`. */
function languageOf(path: string): string {
  const ext = /\.([A-Za-z][A-Za-z0-9]{0,9})(?::\d+(?:-\d+)?)?$/.exec(path);
  return ext ? ext[1]!.toLowerCase() : path === '' ? '' : 'text';
}
