/**
 * Which language a file is in, and the tree-sitter parsers for the languages with a grammar.
 *
 * The runtime and the grammars come from `@vscode/tree-sitter-wasm`: the WebAssembly build of web-tree-sitter
 * and of the grammars VS Code itself ships. Nothing is downloaded; the files are read from wherever Node
 * resolves the package: node_modules beside the source tree under tsx, node_modules beside dist/ in the
 * packaged extension (esbuild leaves the package external and .vscodeignore keeps these files).
 * The runtime and every grammar are loaded once per process (about 0.3 s), on the first loadGrammars().
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as TreeSitter from '@vscode/tree-sitter-wasm';

/** Language id → the grammar file that parses it (tree-sitter-<name>.wasm). No C grammar ships: C++'s parses C. */
const GRAMMARS = {
  javascript: 'javascript',
  typescript: 'typescript',
  tsx: 'tsx',
  python: 'python',
  go: 'go',
  rust: 'rust',
  java: 'java',
  c: 'cpp',
  cpp: 'cpp',
  csharp: 'c-sharp',
  ruby: 'ruby',
  php: 'php',
  bash: 'bash',
  css: 'css',
} as const;

export type ParsedLanguage = keyof typeof GRAMMARS;
/** The languages told apart: those with a grammar, and Markdown (chunked by its sections). */
export type Language = ParsedLanguage | 'markdown';

const EXTENSIONS: Record<string, Language> = {
  '.js': 'javascript', '.mjs': 'javascript', '.cjs': 'javascript', '.jsx': 'javascript',
  '.ts': 'typescript', '.mts': 'typescript', '.cts': 'typescript',
  '.tsx': 'tsx',
  '.py': 'python', '.pyi': 'python', '.pyw': 'python',
  '.go': 'go',
  '.rs': 'rust',
  '.java': 'java',
  '.c': 'c', '.h': 'c',
  '.cc': 'cpp', '.cpp': 'cpp', '.cxx': 'cpp', '.c++': 'cpp', '.hh': 'cpp', '.hpp': 'cpp', '.hxx': 'cpp', '.h++': 'cpp', '.inl': 'cpp', '.ipp': 'cpp',
  '.cs': 'csharp', '.csx': 'csharp',
  '.rb': 'ruby', '.rake': 'ruby', '.gemspec': 'ruby',
  '.php': 'php', '.phtml': 'php',
  '.sh': 'bash', '.bash': 'bash',
  '.css': 'css',
  '.md': 'markdown', '.markdown': 'markdown', '.mdx': 'markdown',
};

const FILE_NAMES: Record<string, Language> = { Rakefile: 'ruby', Gemfile: 'ruby', Podfile: 'ruby', Vagrantfile: 'ruby' };

/** Interpreter named by a `#!` line → language, for scripts without an extension. */
const SHEBANG = /^#!.*\b(bash|sh|zsh|ksh|dash|python[\d.]*|node|ruby|php)\b/;
const INTERPRETERS: Record<string, Language> = {
  bash: 'bash', sh: 'bash', zsh: 'bash', ksh: 'bash', dash: 'bash', node: 'javascript', ruby: 'ruby', php: 'php',
};

/** The language of a workspace file, from its name (then its `#!` line), or null when none is known. */
export function languageOf(filePath: string, text: string): Language | null {
  const base = filePath.slice(filePath.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  if (dot > 0) return EXTENSIONS[base.slice(dot).toLowerCase()] ?? null;
  if (Object.hasOwn(FILE_NAMES, base)) return FILE_NAMES[base]!;
  const interpreter = SHEBANG.exec(text.slice(0, 200))?.[1];
  if (!interpreter) return null;
  return interpreter.startsWith('python') ? 'python' : INTERPRETERS[interpreter] ?? null;
}

export function hasGrammar(language: Language | null): language is ParsedLanguage {
  return language !== null && language in GRAMMARS;
}

/** The loaded runtime: a parser per grammar, or why that grammar could not be loaded. */
export interface Grammars {
  parser(language: ParsedLanguage): TreeSitter.Parser | Error;
}

let loading: Promise<Grammars> | undefined;

/** Loads the runtime and all grammars once per process; a failed load is retried by the next call. */
export function loadGrammars(): Promise<Grammars> {
  loading ??= load().catch((e: unknown) => {
    loading = undefined;
    throw e;
  });
  return loading;
}

async function load(): Promise<Grammars> {
  const wasmDir = path.dirname(require.resolve('@vscode/tree-sitter-wasm'));
  await TreeSitter.Parser.init({ locateFile: (file: string) => path.join(wasmDir, file) });
  const parsers = new Map<string, TreeSitter.Parser | Error>();
  for (const grammar of new Set(Object.values(GRAMMARS))) {
    try {
      const bytes = await fsp.readFile(path.join(wasmDir, `tree-sitter-${grammar}.wasm`));
      const parser = new TreeSitter.Parser();
      parser.setLanguage(await TreeSitter.Language.load(bytes));
      parsers.set(grammar, parser);
    } catch (e) {
      // One broken grammar costs its languages their definitions, not the whole index.
      parsers.set(grammar, new Error(`tree-sitter-${grammar}.wasm: ${(e as Error).message}`));
    }
  }
  return { parser: (language) => parsers.get(GRAMMARS[language])! };
}
