/**
 * Example questions about a workspace, from its index: "Where is `createApplication` defined?" for express.
 * A client shows one where a user is about to ask (the palette's placeholder), so the example names something
 * that is really there, and that the engine answers well (a "where is X defined" question is answered from the
 * index: model/engine/engine.ts, ask).
 *
 * A definition makes a good example when it is what a newcomer would look for: a top-level function, class or
 * type with a name of a few words, in the package's own code near the root (not a test, an example, a fixture
 * or vendored code), best in the file named like the workspace (lib/express.js in express) or its entry point.
 */
import * as path from 'node:path';
import type { Definition, DefinitionKind, WorkspaceIndex } from '../index';
import { questions } from './prompt';
import type { Suggestion } from './protocol';

/** Kinds a newcomer asks about by name. */
const WORTH_ASKING = new Set<DefinitionKind>(['function', 'class', 'interface', 'type', 'struct', 'trait', 'enum']);
/** Folders and files that are not the package's own code. */
const NOT_OWN_CODE = /(^|\/)(tests?|spec|__tests__|__mocks__|examples?|samples?|fixtures?|bench(marks?)?|docs?|vendor|third[_-]?party|scripts?)\/|\.(test|spec|d)\.[a-z]+$|(^|\/)test_[^/]*$/i;
/** File names of an entry point. */
const ENTRY_STEMS = new Set(['index', 'main', 'app', 'lib', 'mod', '__init__', 'init']);

/** The best `limit` example questions, best first; the same index gives the same questions. */
export function suggestQuestions(index: WorkspaceIndex, root: string, limit: number): Suggestion[] {
  const workspaceName = path.basename(root).toLowerCase();
  const scored: Array<{ definition: Definition; score: number }> = [];
  for (const file of index.files()) {
    if (NOT_OWN_CODE.test(file.path)) continue;
    for (const definition of index.outline(file.path)) {
      const score = exampleScore(definition, workspaceName);
      if (score !== null) scored.push({ definition, score });
    }
  }
  scored.sort((a, b) => b.score - a.score || compare(a.definition.path, b.definition.path) || a.definition.startLine - b.definition.startLine);
  const seen = new Set<string>();
  const best: Suggestion[] = [];
  for (const { definition } of scored) {
    if (best.length >= limit) break;
    if (seen.has(definition.name)) continue;
    seen.add(definition.name);
    best.push({ question: questions.whereDefined(definition.name), definition });
  }
  return best;
}

/** How good an example `d` is (higher is better), or null when it is none. */
function exampleScore(d: Definition, workspaceName: string): number | null {
  if (!WORTH_ASKING.has(d.kind) || d.qualifiedName !== d.name) return null;
  if (d.name.length < 4 || d.name.length > 40 || d.name.startsWith('_') || /^test/i.test(d.name)) return null;
  const depth = d.path.split('/').length - 1;
  const stem = path.basename(d.path).replace(/\.[^.]+$/, '').toLowerCase();
  let score = 3 - 0.5 * depth;
  // Several words (createApplication, parse_args, HttpServer) say what the code does; one word rarely does.
  if (/[a-z][A-Z]|[a-z]_[a-z]/.test(d.name)) score += 2;
  if (d.doc !== '') score += 1;
  if (stem.length >= 3 && workspaceName.startsWith(stem)) score += 2;
  else if (ENTRY_STEMS.has(stem) && depth <= 1) score += 1;
  return score;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
