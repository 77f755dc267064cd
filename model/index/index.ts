/**
 * The workspace index (design: docs/grounded-answers.md, part 1): per file, its definitions from tree-sitter and its
 * chunks for BM25 search; saved beside the FAM state in a file of its own. Node only, no `vscode`.
 */
export { WorkspaceIndex, readIndexFile, writeIndexFile, type IndexedFile, type SearchHit } from './workspace-index';
export { FORMAT_VERSION, IndexFileError, decodeIndexFile, type IndexBody, type IndexFileErrorReason, type IndexMeta } from './format';
export type { Definition, DefinitionKind } from './definitions';
export type { Chunk, ChunkKind } from './chunks';
export { codeTerms } from './terms';
