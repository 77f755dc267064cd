/**
 * How a file is cut into chunks for search, and the text each chunk is searched by.
 *
 * - A definition of two lines or more (not a field) is a chunk from its doc comment to its last line, split
 *   into windows of ~WINDOW_LINES when longer than MAX_CHUNK_LINES.
 * - A class-like definition (class, interface, struct, trait, enum, module) with such definitions inside is cut
 *   around them: its chunk is its header (the lines before its first member, and any lines between members),
 *   searched together with its members' signature lines; each member is a chunk of its own. A function longer
 *   than MAX_CHUNK_LINES with definitions inside is cut the same way; a shorter one stays whole.
 * - Lines between top-level definitions are 'code' chunks (windows when long); pieces of blank lines, braces
 *   or a Ruby `end` are dropped. The file's first lines up to its first definition (at most HEAD_LINES: module
 *   docstring, imports) are its 'head' chunk; a file starting with a definition has its first HEAD_LINES lines
 *   as head, left out of the search (its lines are found through the definitions' chunks).
 * - A file without definitions is its head, then windows. Markdown is cut at its headings: every section
 *   is a 'head' chunk.
 */
import type { Definition, DefinitionKind, FoundDefinition } from './definitions';

export type ChunkKind = 'definition' | 'code' | 'head';

export interface Chunk {
  /** Unique within one WorkspaceIndex (not kept by serialize/deserialize). */
  id: number;
  path: string;
  /** 1-based, inclusive. */
  startLine: number;
  endLine: number;
  kind: ChunkKind;
  /** The qualified name of the definition this chunk is (part of), for 'definition' chunks. */
  definition?: string;
}

/** A chunk as cut: its definition as an index into the file's definitions (-1 for none). */
export interface ChunkPiece {
  startLine: number;
  endLine: number;
  kind: ChunkKind;
  owner: number;
}

const HEAD_LINES = 30;
const MAX_CHUNK_LINES = 60;
const WINDOW_LINES = 40;
/** What of a chunk is indexed for search: a 3 MB minified line costs no more than a normal chunk. */
const MAX_LINE_CHARS = 400;
const MAX_CHUNK_CHARS = 8000;
const MAX_SIGNATURE_CHARS = 200;

const CONTAINER_KINDS = new Set<DefinitionKind>(['class', 'interface', 'struct', 'trait', 'enum', 'module']);
const HAS_WORD = /[\p{L}\p{N}]/u;
/** A line that only closes a block (Ruby `end`, shell `fi`, `done`, `esac`): no content, like a lone `}`. */
const CLOSER = /^\s*(?:end|fi|done|esac)\b[\s;)}\]]*$/;
const MARKDOWN_HEADING = /^ {0,3}#{1,6}(?:\s+(.*))?$/;
const MARKDOWN_FENCE = /^ {0,3}(```|~~~)/;

/** The lines of a text as an editor numbers them: split at '\n' (a '\r' before it dropped), none after a final newline. */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/** A chunk-worthy definition and the region it covers, with the chunk-worthy definitions inside it. */
interface Region {
  def: FoundDefinition;
  /** Its index in the file's definitions. */
  index: number;
  first: number;
  last: number;
  children: Region[];
}

/** The chunks of one file, in line order. */
export function chunkFile(lines: string[], definitions: FoundDefinition[], markdown: boolean): ChunkPiece[] {
  const out: ChunkPiece[] = [];
  if (lines.length === 0) return out;
  const windows = (first: number, last: number, kind: ChunkKind, owner = -1): void => {
    const count = last - first + 1 <= MAX_CHUNK_LINES ? 1 : Math.ceil((last - first + 1) / WINDOW_LINES);
    const size = Math.ceil((last - first + 1) / count);
    for (let a = first; a <= last; a += size) out.push({ startLine: a, endLine: Math.min(last, a + size - 1), kind, owner });
  };
  const content = (first: number, last: number): [number, number] | null => {
    while (first <= last && lines[first - 1]!.trim() === '') first++;
    while (last >= first && lines[last - 1]!.trim() === '') last--;
    for (let i = first; i <= last; i++) if (HAS_WORD.test(lines[i - 1]!) && !CLOSER.test(lines[i - 1]!)) return [first, last];
    return null;
  };

  if (markdown) {
    for (const [first, last] of markdownSections(lines)) {
      const piece = content(first, last);
      if (piece) windows(piece[0], piece[1], 'head');
    }
    return out;
  }

  const emit = (r: Region): void => {
    const cut = r.children.length > 0 && (CONTAINER_KINDS.has(r.def.kind) || r.last - r.first + 1 > MAX_CHUNK_LINES);
    if (!cut) return windows(r.first, r.last, 'definition', r.index);
    for (const [a, b] of between(r.first, r.last, r.children)) {
      const piece = content(a, b);
      if (piece) windows(piece[0], piece[1], 'definition', r.index);
    }
    r.children.forEach(emit);
  };

  const roots = regions(definitions);
  const gaps = between(1, lines.length, roots);
  // The lines before the first definition are the head; without any, the first lines are.
  const top = gaps[0]?.[0] === 1 ? content(1, gaps[0][1]) : null;
  if (top) {
    const headEnd = Math.min(top[1], top[0] - 1 + HEAD_LINES);
    out.push({ startLine: 1, endLine: content(1, headEnd)?.[1] ?? headEnd, kind: 'head', owner: -1 });
    gaps[0] = [headEnd + 1, gaps[0]![1]];
  } else {
    out.push({ startLine: 1, endLine: Math.min(lines.length, HEAD_LINES), kind: 'head', owner: -1 });
  }
  for (const [a, b] of gaps) {
    const piece = a <= b ? content(a, b) : null;
    if (piece) windows(piece[0], piece[1], 'code');
  }
  roots.forEach(emit);
  // Line order; on the same line the head first, then the larger chunk.
  return out.sort((a, b) => a.startLine - b.startLine || Number(b.kind === 'head') - Number(a.kind === 'head') || b.endLine - a.endLine);
}

const chunkWorthy = (d: Definition): boolean => d.endLine > d.startLine && d.kind !== 'field';

/** The chunk-worthy definitions as a forest by containment; one that overlaps another without nesting is dropped. */
function regions(definitions: FoundDefinition[]): Region[] {
  const sorted = definitions
    .map((def, index): Region => ({ def, index, first: def.firstLine, last: def.endLine, children: [] }))
    .filter((r) => chunkWorthy(r.def))
    .sort((a, b) => a.first - b.first || b.last - a.last);
  const roots: Region[] = [];
  const open: Region[] = [];
  for (const r of sorted) {
    while (open.length > 0 && open[open.length - 1]!.last < r.first) open.pop();
    const parent = open[open.length - 1];
    if (parent && r.last > parent.last) continue;
    (parent ? parent.children : roots).push(r);
    open.push(r);
  }
  return roots;
}

/** The line ranges of [first, last] outside the given (sorted, disjoint) regions. */
function between(first: number, last: number, inside: Region[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let at = first;
  for (const r of inside) {
    if (r.first > at) out.push([at, r.first - 1]);
    at = Math.max(at, r.last + 1);
  }
  if (at <= last) out.push([at, last]);
  return out;
}

/** Markdown sections: from each heading (outside code fences) to the next; the text before the first is one too. */
function markdownSections(lines: string[]): Array<[number, number]> {
  const starts = [1];
  let fenced = false;
  lines.forEach((line, i) => {
    if (MARKDOWN_FENCE.test(line)) fenced = !fenced;
    else if (!fenced && i > 0 && MARKDOWN_HEADING.test(line)) starts.push(i + 1);
  });
  return starts.map((s, i): [number, number] => [s, (starts[i + 1] ?? lines.length + 1) - 1]);
}

/** What one chunk is searched by. */
export interface SearchFields {
  /** Names defined in the chunk (boosted): its own definition's, and those of definitions without a chunk of their own. */
  name: string;
  /** Its lines (capped), and for the first chunk of a definition with members, the members' signature lines. */
  text: string;
}

/**
 * The search fields of a file's chunks, computed the same way when a file is added and when an index is read;
 * null for a head chunk that overlaps other chunks (a file starting with a definition): its lines are found
 * through those, and would otherwise be found twice.
 */
export function searchFields(chunks: ChunkPiece[], lines: string[], definitions: Definition[], markdown: boolean): (SearchFields | null)[] {
  const byStart = definitions.map((_, i) => i).sort((a, b) => definitions[a]!.startLine - definitions[b]!.startLine);
  const owners = new Set(chunks.map((c) => c.owner));
  const members = membersOf(definitions, byStart.filter((i) => owners.has(i)));
  const starts = byStart.map((i) => definitions[i]!.startLine);
  const head = markdown ? undefined : chunks.find((c) => c.kind === 'head');
  const headOverlaps = head !== undefined && chunks.some((c) => c !== head && c.startLine <= head.endLine);
  return chunks.map((c) => {
    if (c === head && headOverlaps) return null;
    const names: string[] = [];
    let text = linesText(lines, c.startLine, c.endLine);
    for (let k = firstAtOrAfter(starts, c.startLine); k < byStart.length && definitions[byStart[k]!]!.startLine <= c.endLine; k++) {
      const i = byStart[k]!;
      if (owners.has(i) && i !== c.owner) continue;
      const d = definitions[i]!;
      names.push(d.name === d.qualifiedName ? d.name : `${d.name} ${d.qualifiedName}`);
      for (const m of i === c.owner ? members.get(i) ?? [] : []) {
        const line = definitions[m]!.startLine;
        if (line > c.endLine && text.length < MAX_CHUNK_CHARS) text += `\n${lines[line - 1]!.trim().slice(0, MAX_SIGNATURE_CHARS)}`;
      }
    }
    if (markdown && c.kind === 'head') names.push(MARKDOWN_HEADING.exec(lines[c.startLine - 1]!)?.[1] ?? '');
    return { name: names.join(' '), text };
  });
}

/** The lines first..last joined, each cut at MAX_LINE_CHARS, all at MAX_CHUNK_CHARS. */
function linesText(lines: string[], first: number, last: number): string {
  const parts: string[] = [];
  let size = 0;
  for (let i = first; i <= last && size < MAX_CHUNK_CHARS; i++) {
    const line = lines[i - 1]!.slice(0, Math.min(MAX_LINE_CHARS, MAX_CHUNK_CHARS - size));
    parts.push(line);
    size += line.length + 1;
  }
  return parts.join('\n');
}

/** Index of the first of the sorted numbers that is at or after `line`. */
function firstAtOrAfter(sorted: number[], line: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < line) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The direct members of each of the given definitions (indices sorted by startLine) among them, by span containment. */
function membersOf(definitions: Definition[], sorted: number[]): Map<number, number[]> {
  const members = new Map<number, number[]>();
  const open: number[] = [];
  const span = (i: number): Definition => definitions[i]!;
  for (const i of [...sorted].sort((a, b) => span(a).startLine - span(b).startLine || span(b).endLine - span(a).endLine)) {
    while (open.length > 0 && span(open[open.length - 1]!).endLine < span(i).startLine) open.pop();
    const parent = open[open.length - 1];
    if (parent !== undefined && span(i).endLine > span(parent).endLine) continue; // overlaps without nesting
    if (parent !== undefined) members.set(parent, [...(members.get(parent) ?? []), i]);
    open.push(i);
  }
  return members;
}
