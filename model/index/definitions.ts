/**
 * Definitions of one file, from its tree-sitter tree: what each language's rules (languages.ts) recognise,
 * qualified by the classes, structs, impls, modules and namespaces around them, with their doc comments.
 *
 * The walk goes over the whole tree in one of two modes: at module and class level every rule applies; inside a function body (or a variable's value) only
 * declarations of functions and types do (in JavaScript also functions set on an object or on `this`, and methods of
 * objects a function returns or hands to a call: languages.ts), and their qualification starts over (a helper declared inside
 * `Router.handle` is `helper`, not `Router.helper`), so local variables never become definitions. The body of a
 * function that wraps a whole module (a JS IIFE, as in lodash and UMD builds) is module level.
 * ERROR subtrees are skipped: a definition is only reported where the parser understood the code.
 */
import { performance } from 'node:perf_hooks';
import type { Node } from '@vscode/tree-sitter-wasm';
import type { Grammars, ParsedLanguage } from './grammars';
import { cleanComments } from './docs';
import { RULES, type Match } from './languages';

export type DefinitionKind =
  | 'function'
  | 'method'
  | 'class'
  | 'interface'
  | 'type'
  | 'enum'
  | 'variable'
  | 'constant'
  | 'module'
  | 'struct'
  | 'trait'
  | 'field'
  | 'rule'
  | 'macro';

export interface Definition {
  name: string;
  /** The name behind the enclosing classes, structs, impls, modules and namespaces, joined by '.'. */
  qualifiedName: string;
  kind: DefinitionKind;
  path: string;
  /** 1-based line of the definition's name (not of its doc comment or decorators). */
  startLine: number;
  /** 1-based, inclusive. */
  endLine: number;
  /** Its doc comment or docstring, comment markers stripped; '' when none. */
  doc: string;
}

/** A definition and the first line that belongs with it (doc comment, decorators, `export`): where its chunk starts. */
export interface FoundDefinition extends Definition {
  firstLine: number;
}

/**
 * Files longer than this are chunked but not parsed: the tree of a huge file costs seconds, and memory that
 * WebAssembly never gives back.
 */
const MAX_PARSE_CHARS = 1024 * 1024;
/** A parse taking longer than this is given up. */
const PARSE_TIME_LIMIT_MS = 5000;
/** Files above this size with lines this long on average are minified or generated: their names mean nothing. */
const MINIFIED_MIN_CHARS = 20_000;
const MINIFIED_MEAN_LINE = 300;

/** Kinds whose members are methods and fields (a module's members are functions). */
const CLASS_KINDS = new Set<DefinitionKind>(['class', 'interface', 'struct', 'trait', 'enum']);
/** Kinds that are not declarations of their own inside a function body (locals, members of anonymous classes). */
const MEMBER_KINDS = new Set<DefinitionKind>(['method', 'field', 'variable', 'constant']);

export interface ParsedDefinitions {
  definitions: FoundDefinition[];
  /** Why some or all definitions are missing: a syntax error, a parse given up, a file not parsed. */
  parseError?: string;
}

/** The definitions of one file in line order. Never throws: what goes wrong is told in parseError. */
export function parseDefinitions(grammars: Grammars, language: ParsedLanguage, path: string, text: string, lines: string[]): ParsedDefinitions {
  const parser = grammars.parser(language);
  if (parser instanceof Error) return { definitions: [], parseError: `no parser: ${parser.message}` };
  if (text.length > MAX_PARSE_CHARS) return { definitions: [], parseError: `not parsed: ${text.length} characters, more than ${MAX_PARSE_CHARS}` };
  const meanLine = text.length / Math.max(1, lines.length);
  if (text.length > MINIFIED_MIN_CHARS && meanLine > MINIFIED_MEAN_LINE) {
    return { definitions: [], parseError: `not parsed: minified or generated (${Math.round(meanLine)} characters per line)` };
  }
  const deadline = performance.now() + PARSE_TIME_LIMIT_MS;
  let tree;
  try {
    tree = parser.parse(text, null, { progressCallback: () => performance.now() > deadline });
  } catch (e) {
    parser.reset();
    return { definitions: [], parseError: `tree-sitter failed: ${(e as Error).message}` };
  }
  if (!tree) {
    parser.reset(); // else the next parse would resume this one
    return { definitions: [], parseError: `parse given up after ${PARSE_TIME_LIMIT_MS} ms` };
  }
  try {
    const definitions = walk(tree.rootNode, language, path, lines);
    definitions.sort((a, b) => a.startLine - b.startLine || b.endLine - a.endLine);
    return tree.rootNode.hasError ? { definitions, parseError: `syntax error at line ${firstErrorLine(tree.rootNode)}` } : { definitions };
  } catch (e) {
    return { definitions: [], parseError: `definitions could not be read: ${(e as Error).message}` };
  } finally {
    tree.delete();
  }
}

/** Where the walk is: the names qualifying what is found, and the mode (see the file comment). */
interface Place {
  scope: string[];
  inClass: boolean;
  inFunction: boolean;
}

const FUNCTION_BODY: Place = { scope: [], inClass: false, inFunction: true };

const isModuleLevel = (place: Place) => !place.inFunction && !place.inClass && place.scope.length === 0;

function walk(root: Node, language: ParsedLanguage, path: string, lines: string[]): FoundDefinition[] {
  const rules = RULES[language];
  const found: FoundDefinition[] = [];
  const cursor = root.walk();
  // places[d]: where the node at depth d (and its later siblings) stands. A loop, not recursion: generated
  // code nests expressions deeper than the call stack goes.
  const places: Place[] = [{ scope: [], inClass: false, inFunction: false }];
  let depth = 0;
  try {
    for (;;) {
      const place = places[depth]!;
      const type = cursor.nodeType;
      // Where the children stand; null: not walked.
      let inner: Place | null = rules.functions.has(type) ? (isModuleLevel(place) && rules.moduleWrapper?.(cursor.currentNode) ? place : FUNCTION_BODY) : place;
      const result = type === 'ERROR' ? undefined : rules.byType.get(type)?.(cursor.currentNode, place);
      if (type === 'ERROR') {
        inner = null;
      } else if (result && 'scope' in result) {
        const scoped: Place = { scope: [...place.scope, ...result.scope], inClass: true, inFunction: false };
        // A namespace declared for the rest of the file (C#, PHP `namespace A;`) qualifies its later siblings.
        if (result.siblings) places[depth] = { ...scoped, inClass: false };
        else inner = scoped;
      } else if (result) {
        const all = Array.isArray(result) ? result : [result];
        const matches = all.filter((m) => !(place.inFunction && MEMBER_KINDS.has(m.kind) && !m.explicitMember));
        for (const m of matches) found.push(definitionOf(m, place, language, path, lines));
        const only = matches.length === 1 ? matches[0]! : undefined;
        if (only?.members) {
          const scope = [...place.scope, ...(only.qualifier ?? []), only.name];
          inner = { scope, inClass: CLASS_KINDS.has(only.kind), inFunction: false };
        } else if (matches.length > 0) {
          inner = FUNCTION_BODY;
        }
      }
      if (inner && cursor.gotoFirstChild()) {
        places[++depth] = inner;
        continue;
      }
      while (!cursor.gotoNextSibling()) {
        if (depth === 0 || !cursor.gotoParent()) return found;
        depth--;
      }
    }
  } finally {
    cursor.delete();
  }
}

function definitionOf(m: Match, place: Place, language: ParsedLanguage, path: string, lines: string[]): FoundDefinition {
  const kind = m.kind === 'function' && place.inClass ? 'method' : m.kind;
  const { doc, firstRow } = docOf(m.node, language, lines);
  const borrowed = doc === '' && m.docFrom ? docOf(m.docFrom, language, lines).doc : doc;
  return {
    name: m.name,
    qualifiedName: [...place.scope, ...(m.qualifier ?? []), m.name].join('.'),
    kind,
    path,
    startLine: m.nameNode.startPosition.row + 1,
    endLine: Math.max(endRow(m.node), m.nameNode.startPosition.row) + 1,
    doc: m.doc ?? borrowed,
    firstLine: Math.min(firstRow, m.nameNode.startPosition.row) + 1,
  };
}

/** The last row a node has text on (a node ending at column 0 ends with the newline of the row before). */
function endRow(node: Node): number {
  const end = node.endPosition;
  return end.column === 0 && end.row > node.startPosition.row ? end.row - 1 : end.row;
}

/** Statements that wrap a definition: its doc comment is above the wrapper (`/** … *\/ export function f`). */
const WRAPPERS = new Set([
  'export_statement', 'ambient_declaration', 'decorated_definition', 'template_declaration', 'lexical_declaration',
  'variable_declaration', 'expression_statement', 'assignment', 'type_declaration', 'const_declaration',
  'var_declaration', 'property_declaration',
]);
/** What may come before a definition inside its wrapper, or above it, and still belongs with it. */
const DECORATIONS = new Set(['decorator', 'attribute_item', 'attribute_list', 'annotation', 'marker_annotation']);
const COMMENTS = new Set(['comment', 'line_comment', 'block_comment']);

/**
 * Languages whose doc comments are `/** … *\/` blocks (JSDoc, TSDoc, Javadoc, phpDoc, Doxygen, Rust's outer block doc
 * comment): there such a block documents what follows it even across one blank line (http-errors' `index.js`
 * writes every JSDoc block so). Not where documentation is line comments (`#`, `//`, Go) or in CSS.
 */
const BLOCK_DOC_LANGUAGES = new Set<ParsedLanguage>(['javascript', 'typescript', 'tsx', 'java', 'c', 'cpp', 'csharp', 'php', 'rust']);
/** A doc block opens with exactly two stars: `/*` is a plain comment, `/**\/` empty, `/***` and longer a banner. */
const DOC_BLOCK = /^\/\*\*(?![*/])/;
/**
 * A comment that speaks to a tool, not to a reader: coverage (`istanbul ignore next`, `c8 ignore`), linters
 * (`eslint-disable-next-line`, `noqa`, `pylint:`), type checkers (`@ts-ignore`, `type: ignore`), formatters.
 */
const TOOL_DIRECTIVE =
  /^(?:\/\/|\/\*+|#)\s*(?:istanbul\s+ignore|c8\s+ignore|v8\s+ignore|eslint(?:-disable|-enable)?\b|jshint\b|tslint:|@ts-(?:ignore|expect-error|nocheck)|prettier-ignore|biome-ignore|noqa\b|pylint:|type:\s*ignore|pragma\b|NOSONAR|noinspection)/i;
/** Tags that make a doc block the file's (or a license's), not the next definition's. */
const FILE_TAGS = /@(?:module|file|fileoverview|overview|license|copyright|preserve|packageDocumentation)\b/;
/** A line that may come before a file's header: blank, `#!`, `<?php`. */
const FILE_START = /^\s*(?:#!.*|<\?php\s*)?$/;

/**
 * The doc comment of a definition (the comments right above it, or above its wrapper and decorators, with no
 * blank line between; failing those, in BLOCK_DOC_LANGUAGES, a doc block ending one blank line above, unless it
 * is the file's header) and the first row that belongs with the definition: the comment's first row.
 */
function docOf(node: Node, language: ParsedLanguage, lines: string[]): { doc: string; firstRow: number } {
  let anchor = node;
  for (let p = anchor.parent; p && WRAPPERS.has(p.type); p = anchor.parent) {
    let decorated = false;
    let s = anchor.previousNamedSibling;
    for (; s && DECORATIONS.has(s.type); s = s.previousNamedSibling) decorated = true;
    if (s || (!decorated && p.startPosition.row !== anchor.startPosition.row)) break;
    anchor = p;
  }
  let firstRow = anchor.startPosition.row;
  // A comment before the first statement of a block can sit outside the block node (Ruby, Python).
  let prev = anchor.previousNamedSibling ?? anchor.parent?.previousNamedSibling ?? null;
  for (; prev && DECORATIONS.has(prev.type) && endRow(prev) >= firstRow - 1; prev = prev.previousNamedSibling) firstRow = prev.startPosition.row;
  const comments: string[] = [];
  for (; prev && COMMENTS.has(prev.type) && endRow(prev) >= firstRow - 1; prev = prev.previousNamedSibling) {
    const text = prev.text;
    const row = prev.startPosition.row;
    // Not documentation: a comment after code on its line (`x = 1; // note`), a `#!` line, a Rust inner doc
    // comment (`//!`, `/*!`: it documents the enclosing module).
    if (/^(#!|\/\/!|\/\*!)/.test(text) || !lines[row]!.trimStart().startsWith(text.slice(0, 2))) break;
    firstRow = row;
    // A directive to a tool belongs with the definition but says nothing about it; the doc may be above it.
    if (!TOOL_DIRECTIVE.test(text)) comments.unshift(text);
  }
  if (comments.length === 0 && prev && detachedDoc(prev, firstRow, language, lines)) {
    comments.push(prev.text);
    firstRow = prev.startPosition.row;
  }
  return { doc: cleanComments(comments, language), firstRow };
}

/**
 * Whether a comment ending one blank line above `firstRow` documents what starts there: a doc block on lines of
 * its own, in a language where blocks document (BLOCK_DOC_LANGUAGES), that is not the file's header (nothing but
 * blank lines, a `#!` line or `<?php` above it, or a file or license tag in it). Only this one block is taken,
 * never comments above it.
 */
function detachedDoc(comment: Node, firstRow: number, language: ParsedLanguage, lines: string[]): boolean {
  const row = comment.startPosition.row;
  if (!BLOCK_DOC_LANGUAGES.has(language) || !COMMENTS.has(comment.type) || endRow(comment) !== firstRow - 2) return false;
  const text = comment.text;
  if (!DOC_BLOCK.test(text) || !text.endsWith('*/') || lines[firstRow - 1]?.trim() !== '') return false;
  if (!lines[row]!.trimStart().startsWith('/**') || !lines[endRow(comment)]!.trimEnd().endsWith('*/')) return false;
  if (FILE_TAGS.test(text)) return false;
  for (let i = 0; i < row; i++) if (!FILE_START.test(lines[i]!)) return true;
  return false;
}

/** 1-based line of the first syntax error (an ERROR or MISSING node) below a root that has one. */
function firstErrorLine(root: Node): number {
  let node = root;
  for (;;) {
    if (node.isError || node.isMissing) return node.startPosition.row + 1;
    const next = node.children.find((c) => c !== null && (c.hasError || c.isMissing));
    if (!next) return node.startPosition.row + 1;
    node = next;
  }
}
