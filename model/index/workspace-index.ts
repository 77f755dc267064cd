/**
 * The workspace index: per file, its definitions (definitions.ts) and its chunks (chunks.ts), with a BM25
 * search over the chunks (minisearch, with the code-aware terms of terms.ts), and its file (format.ts).
 */
import * as path from 'node:path';
import MiniSearch from 'minisearch';
import { readTextFile } from '../workspace/walker';
import { chunkFile, searchFields, splitLines, type Chunk, type ChunkPiece } from './chunks';
import { parseDefinitions, type Definition, type DefinitionKind, type ParsedDefinitions } from './definitions';
import { writeFileAtomic } from '../state/state-file';
import type { Sealer } from '../state/container';
import { decodeIndexFile, encodeIndexFile, readIndexBytes, type IndexBody, type IndexMeta } from './format';
import { hasGrammar, languageOf, loadGrammars, type Grammars } from './grammars';
import { codeTerms } from './terms';

export interface IndexedFile {
  path: string;
  sha256: string;
  lines: number;
  /** 'javascript', 'python', … 'markdown'; null when not known (the file still has chunks). */
  language: string | null;
  /**
   * Why the file has fewer definitions than it should, or none: a syntax error (what parsed is still read),
   * a file not parsed (too large, minified), a parse given up.
   */
  parseError?: string;
}

export interface SearchHit {
  chunk: Chunk;
  score: number;
}

/** Field weights: a name defined in the chunk counts most, then the file's path, then the text. */
const BOOST = { name: 4, path: 2, text: 1 };
const DEFAULT_HITS = 10;
/**
 * When MiniSearch cleans removed chunks out of its term tree: its defaults (after 20 removals making 10% of the
 * chunks), but in one go. In batches (its default), a file added or removed between two batches changes the
 * tree under the walk, which then throws from a timer and ends the process (minisearch issue 306).
 */
const VACUUM = { minDirtCount: 20, minDirtFactor: 0.1, batchSize: Number.MAX_SAFE_INTEGER, batchWait: 0 };
/** Files read at once when an index file is read. */
const READ_CONCURRENCY = 16;

interface Entry {
  file: IndexedFile;
  definitions: Definition[];
  chunks: Chunk[];
  /** The chunks as cut (with their definitions by position), parallel to chunks. */
  pieces: ChunkPiece[];
  /** Ids of its chunks in the search (none when its text on disk changed since the index was saved). */
  searched: number[];
}

interface SearchDocument {
  id: number;
  path: string;
  name: string;
  text: string;
}

/** Path order, then line order: how hits of equal score are ranked. */
function comparePlace(a: Chunk, b: Chunk): number {
  return (a.path < b.path ? -1 : a.path > b.path ? 1 : 0) || a.startLine - b.startLine || a.endLine - b.endLine;
}

export class WorkspaceIndex {
  private readonly entries = new Map<string, Entry>();
  private readonly chunkById = new Map<number, Chunk>();
  private readonly bm25 = new MiniSearch<SearchDocument>({
    fields: ['name', 'path', 'text'],
    tokenize: codeTerms,
    processTerm: (term) => term, // codeTerms has lower-cased them
    searchOptions: { boost: BOOST },
    autoVacuum: VACUUM,
  });
  private nextChunkId = 0;
  /** name and qualified name → definitions, in path and line order; built on the first look-up after a change. */
  private names: { exact: Map<string, Definition[]>; folded: Map<string, Definition[]> } | undefined;

  private constructor(private readonly grammars: Grammars) {}

  /** An empty index; loads the tree-sitter runtime and grammars the first time in a process. */
  static async create(): Promise<WorkspaceIndex> {
    return new WorkspaceIndex(await loadGrammars());
  }

  /** Parses and chunks one file; replaces what was indexed for that path. Never throws for bad source. */
  addFile(filePath: string, text: string, sha256: string): IndexedFile {
    const lines = splitLines(text);
    const language = languageOf(filePath, text);
    const parsed: ParsedDefinitions = hasGrammar(language)
      ? parseDefinitions(this.grammars, language, filePath, text, lines)
      : { definitions: [] };
    const pieces = chunkFile(lines, parsed.definitions, language === 'markdown');
    const file = indexedFile(filePath, sha256, lines.length, language, parsed.parseError);
    const definitions = parsed.definitions.map(({ firstLine: _, ...d }): Definition => d);
    this.enter(file, definitions, pieces, lines);
    return file;
  }

  removeFile(filePath: string): void {
    const entry = this.entries.get(filePath);
    if (!entry) return;
    for (const c of entry.chunks) this.chunkById.delete(c.id);
    this.bm25.discardAll(entry.searched);
    this.entries.delete(filePath);
    this.names = undefined;
  }

  file(filePath: string): IndexedFile | undefined {
    return this.entries.get(filePath)?.file;
  }

  /** All indexed files, in path order. */
  files(): IndexedFile[] {
    return this.sortedEntries().map((e) => e.file);
  }

  /** Exact look-up by name or qualified name (case-sensitive first; if nothing, case-insensitive), in path and line order. */
  definitions(name: string): Definition[] {
    this.names ??= this.nameMaps();
    return [...(this.names.exact.get(name) ?? this.names.folded.get(name.toLowerCase()) ?? [])];
  }

  /** Definitions of one file in line order: its outline. */
  outline(filePath: string): Definition[] {
    return [...(this.entries.get(filePath)?.definitions ?? [])];
  }

  /** Chunks of one file in line order. */
  chunksOf(filePath: string): Chunk[] {
    return [...(this.entries.get(filePath)?.chunks ?? [])];
  }

  /** BM25 over chunks: best first, at most `limit`. */
  search(query: string, limit = DEFAULT_HITS): SearchHit[] {
    // MiniSearch keeps running averages, so equal chunks' scores differ by rounding in the order files were added,
    // and its ties keep that order. An index built by a read, updated, or restored from its file adds files in
    // different orders; ranking on 12 significant digits, ties by place, gives all of them the same hits.
    const ranked = this.bm25.search(query).map((r) => ({ chunk: this.chunkById.get(r.id as number)!, score: r.score, rank: Number(r.score.toPrecision(12)) }));
    ranked.sort((a, b) => b.rank - a.rank || comparePlace(a.chunk, b.chunk));
    return ranked.slice(0, limit).map(({ chunk, score }) => ({ chunk, score }));
  }

  get size(): { files: number; definitions: number; chunks: number } {
    let definitions = 0;
    for (const e of this.entries.values()) definitions += e.definitions.length;
    return { files: this.entries.size, definitions, chunks: this.chunkById.size };
  }

  /** The index file's bytes: deterministic for the same content (files in path order; chunk ids are not stored). */
  serialize(meta: IndexMeta, sealer: Sealer = 'user'): Uint8Array {
    const body: IndexBody = {
      files: this.sortedEntries().map(({ file, definitions, pieces }) => ({
        ...file,
        definitions: definitions.map((d) => [d.name, d.qualifiedName, d.kind, d.startLine, d.endLine, d.doc]),
        chunks: pieces.map((c) => [c.startLine, c.endLine, c.kind, c.owner]),
      })),
    };
    return encodeIndexFile(meta, body, sealer);
  }

  /**
   * An index from the bytes of an index file (throws IndexFileError, see format.ts). The search is rebuilt
   * from the files under `expect.root`: a file whose text there is no longer what was indexed (another
   * sha256, or gone) keeps its definitions and chunks but is left out of the search until it is added again.
   */
  static async deserialize(bytes: Uint8Array, expect: IndexMeta, source?: string): Promise<WorkspaceIndex> {
    return WorkspaceIndex.fromBody(decodeIndexFile(bytes, expect, source), expect.root);
  }

  /** An index from a checked body (decodeIndexFile), its search built from the files under `root` (see deserialize). */
  static async fromBody(body: IndexBody, root: string): Promise<WorkspaceIndex> {
    const index = await WorkspaceIndex.create();
    let next = 0;
    const readNext = async (): Promise<void> => {
      for (let f = body.files[next++]; f; f = body.files[next++]) {
        const read = await readTextFile(path.join(root, f.path), Number.MAX_SAFE_INTEGER);
        const lines = 'text' in read && read.sha256 === f.sha256 ? splitLines(read.text) : null;
        const file = indexedFile(f.path, f.sha256, f.lines, f.language, f.parseError);
        const definitions = f.definitions.map(([name, qualifiedName, kind, startLine, endLine, doc]): Definition => ({
          name,
          qualifiedName,
          kind: kind as DefinitionKind,
          path: f.path,
          startLine,
          endLine,
          doc,
        }));
        const pieces = f.chunks.map(([startLine, endLine, kind, owner]): ChunkPiece => ({ startLine, endLine, kind, owner }));
        index.enter(file, definitions, pieces, lines);
      }
    };
    await Promise.all(Array.from({ length: READ_CONCURRENCY }, readNext));
    return index;
  }

  /** Stores one file's entry; with its lines, its chunks enter the search. */
  private enter(file: IndexedFile, definitions: Definition[], pieces: ChunkPiece[], lines: string[] | null): void {
    this.removeFile(file.path);
    const chunks = pieces.map(
      ({ startLine, endLine, kind, owner }): Chunk => ({
        id: this.nextChunkId++,
        path: file.path,
        startLine,
        endLine,
        kind,
        ...(owner >= 0 ? { definition: definitions[owner]!.qualifiedName } : {}),
      }),
    );
    for (const c of chunks) this.chunkById.set(c.id, c);
    const fields = lines ? searchFields(pieces, lines, definitions, file.language === 'markdown') : [];
    const documents = chunks.flatMap((c, i) => (fields[i] ? [{ id: c.id, path: file.path, ...fields[i] }] : []));
    this.bm25.addAll(documents);
    this.entries.set(file.path, { file, definitions, chunks, pieces, searched: documents.map((d) => d.id) });
    this.names = undefined;
  }

  private sortedEntries(): Entry[] {
    return [...this.entries.values()].sort((a, b) => (a.file.path < b.file.path ? -1 : a.file.path > b.file.path ? 1 : 0));
  }

  private nameMaps(): { exact: Map<string, Definition[]>; folded: Map<string, Definition[]> } {
    const exact = new Map<string, Definition[]>();
    const folded = new Map<string, Definition[]>();
    const add = (map: Map<string, Definition[]>, keys: string[], d: Definition): void => {
      for (const key of new Set(keys)) {
        const list = map.get(key);
        if (list) list.push(d);
        else map.set(key, [d]);
      }
    };
    for (const e of this.sortedEntries()) {
      for (const d of e.definitions) {
        add(exact, [d.name, d.qualifiedName], d);
        add(folded, [d.name.toLowerCase(), d.qualifiedName.toLowerCase()], d);
      }
    }
    return { exact, folded };
  }
}

function indexedFile(filePath: string, sha256: string, lines: number, language: string | null, parseError?: string): IndexedFile {
  return { path: filePath, sha256, lines, language, ...(parseError !== undefined ? { parseError } : {}) };
}

/** Writes the index atomically (temporary file beside it, then rename); returns its size in bytes. */
export async function writeIndexFile(file: string, index: WorkspaceIndex, meta: IndexMeta): Promise<number> {
  const bytes = index.serialize(meta);
  await writeFileAtomic(file, bytes);
  return bytes.length;
}

/** Reads and checks an index file (IndexFileError when it is missing, damaged or made for something else). */
export async function readIndexFile(file: string, expect: IndexMeta): Promise<WorkspaceIndex> {
  return WorkspaceIndex.deserialize(await readIndexBytes(file), expect, file);
}
