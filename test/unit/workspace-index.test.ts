/**
 * The workspace index's definitions and chunks: for each language with a grammar, a small real-looking file
 * and exactly the definitions expected from it; then what must never go wrong (bad source, huge lines,
 * unicode names, same names in several places).
 */
import { strict as assert } from 'node:assert';
import { performance } from 'node:perf_hooks';
import { before, describe, it } from 'node:test';
import { WorkspaceIndex, type Definition } from '../../model/index';

/** A file's text from a template: the first newline dropped, so line 1 is the line after the backtick. */
const code = (s: TemplateStringsArray, ...values: unknown[]): string => String.raw({ raw: s.raw.map((r) => r.replace(/\\`/g, '`')) }, ...values).replace(/^\n/, '');

/** [kind, name, qualifiedName, startLine, endLine, doc] of each definition, in outline order. */
type Row = [string, string, string, number, number, string];
const rows = (defs: Definition[]): Row[] => defs.map((d) => [d.kind, d.name, d.qualifiedName, d.startLine, d.endLine, d.doc]);
/** [kind, startLine, endLine, definition] of each chunk. */
const chunkRows = (index: WorkspaceIndex, path: string) => index.chunksOf(path).map((c) => [c.kind, c.startLine, c.endLine, c.definition ?? '']);

let index: WorkspaceIndex;
before(async () => {
  index = await WorkspaceIndex.create();
});

/** Adds one file and checks its language, that it parsed cleanly, and its definitions. */
function expectDefinitions(path: string, text: string, language: string, expected: Row[]): void {
  const file = index.addFile(path, text, 'sha');
  assert.equal(file.language, language);
  assert.equal(file.parseError, undefined, `${path} should parse`);
  assert.deepEqual(rows(index.outline(path)), expected);
  for (const d of index.outline(path)) assert.equal(d.path, path);
}

describe('workspace index: definitions per language', () => {
  it('JavaScript: CommonJS property assignments, prototype methods, classes, arrow functions', () => {
    const js = code`
'use strict';

/**
 * Module dependencies.
 */
var http = require('http');

var app = exports = module.exports = {};

/**
 * Initialize the server.
 *
 * @private
 */
app.init = function init() {
  this.cache = {};
};

/**
 * Listen for connections.
 */
app.listen = function listen() {
  var server = http.createServer(this);
  return server.listen.apply(server, arguments);
};

exports.version = '5.0.0';

function Router(options) {
  this.stack = [];
}

/** Dispatch a req, res into the router. */
Router.prototype.handle = function handle(req, res, out) {
  function next() {}
  next();
};

class Layer {
  /** Match a path. */
  match(path) {
    return path === this.path;
  }
}

const compose = (f, g) => (x) => f(g(x));
`;
    expectDefinitions('lib/application.js', js, 'javascript', [
      ['variable', 'app', 'app', 8, 8, ''],
      ['function', 'init', 'app.init', 15, 17, 'Initialize the server.\n\n@private'],
      ['function', 'listen', 'app.listen', 22, 25, 'Listen for connections.'],
      ['variable', 'version', 'exports.version', 27, 27, ''],
      ['function', 'Router', 'Router', 29, 31, ''],
      ['method', 'handle', 'Router.handle', 34, 37, 'Dispatch a req, res into the router.'],
      ['function', 'next', 'next', 35, 35, ''],
      ['class', 'Layer', 'Layer', 39, 44, ''],
      ['method', 'match', 'Layer.match', 41, 43, 'Match a path.'],
      ['function', 'compose', 'compose', 46, 46, ''],
    ]);
    // The doc comment belongs to the definition's chunk; the class chunk is its header only.
    assert.deepEqual(chunkRows(index, 'lib/application.js'), [
      ['head', 1, 8, ''],
      ['definition', 10, 17, 'app.init'],
      ['definition', 19, 25, 'app.listen'],
      ['code', 27, 27, ''],
      ['definition', 29, 31, 'Router'],
      ['definition', 33, 37, 'Router.handle'],
      ['definition', 39, 39, 'Layer'],
      ['definition', 40, 43, 'Layer.match'],
      ['code', 46, 46, ''],
    ]);
  });

  it('JavaScript as packages ship it: named object literals, nested function values, transpiled methods, re-exports', () => {
    index.addFile('shipped.js', [
      'class A {}',
      'exports.A = A;',
      'const EventTarget = {',
      '  addEventListener(type, handler) {',
      '    return 1;',
      '  },',
      '  other: function () {},',
      '  value: 3,',
      '};',
      'function p() { var t = function t() {}; }',
      'var D = function () { var _proto = D.prototype; _proto.a = function a() {}; return D; }();',
      'function q() { obj.onload = function () {}; obj.count = 1; }',
      'Foo.prototype = { bar: function () {} };',
      'module.exports = { baz() {} };',
      'call({ notDef: () => 1, alsoNot: 2 });',
    ].join('\n'), 'sha-shipped');
    const at = (name: string) => index.definitions(name).filter((d) => d.path === 'shipped.js').map((d) => [d.qualifiedName, d.kind, d.startLine]);
    assert.deepEqual(at('A'), [['A', 'class', 1]], 'exports.A = A re-exports, it defines nothing');
    assert.deepEqual(at('addEventListener'), [['EventTarget.addEventListener', 'method', 4]]);
    assert.deepEqual(at('other'), [['EventTarget.other', 'method', 7]]);
    assert.deepEqual(at('value'), [], 'a property holding a value is no definition');
    assert.deepEqual(at('t'), [['t', 'function', 10]], 'a function value inside a function, as a nested function declaration');
    assert.deepEqual(at('a'), [['a', 'method', 11]], "Babel's _proto.a = function inside the class's IIFE");
    assert.deepEqual(at('onload'), [['obj.onload', 'function', 12]], 'a function assigned to an object inside a function');
    assert.deepEqual(at('count'), [], 'any other assignment inside a function sets a value');
    assert.deepEqual(at('bar'), [['Foo.bar', 'method', 13]]);
    assert.deepEqual(at('baz'), [['baz', 'method', 14]]);
    assert.deepEqual([...at('notDef'), ...at('alsoNot')], [], 'an arrow or a value in an object passed to a call is no definition');
    index.removeFile('shipped.js');
  });

  it('JavaScript factories and module-level values: returned and named objects inside a function, plain consts', () => {
    index.addFile('factory.js', [
      "const path = require('node:path');",                     // 1
      "const kRegistered = Symbol.for('registered-plugin');",   // 2
      'let closing = false;',                                    // 3
      'const { a, b } = settings;',                              // 4
      'for (let i = 0; i < 2; i++) {}',                          // 5
      'function buildRouting () {',                              // 6
      '  const local = 1;',                                      // 7
      '  const handlers = { onData: function () {} };',          // 8
      '  track({ onEnd () {} });',                               // 9
      '  return {',                                              // 10
      '    setup (options) {},',                                 // 11
      '    route: function (opts) {},',                          // 12
      '    limit: 3,',                                           // 13
      '  };',                                                    // 14
      '}',                                                       // 15
    ].join('\n'), 'sha-factory');
    const at = (name: string) => index.definitions(name).filter((d) => d.path === 'factory.js').map((d) => [d.qualifiedName, d.kind, d.startLine]);
    assert.deepEqual(at('kRegistered'), [['kRegistered', 'constant', 2]], 'a module-level const, exported or not');
    assert.deepEqual(at('closing'), [['closing', 'variable', 3]]);
    assert.deepEqual(at('path'), [], 'a require names another module');
    assert.deepEqual([...at('a'), ...at('i'), ...at('local')], [], 'destructuring, loop variables and locals are no definitions');
    assert.deepEqual(at('setup'), [['setup', 'method', 11]], 'a method of the object a factory returns');
    assert.deepEqual(at('route'), [['route', 'method', 12]]);
    assert.deepEqual(at('onData'), [['handlers.onData', 'method', 8]], 'a method of a named object inside a function');
    assert.deepEqual(at('onEnd'), [['onEnd', 'method', 9]], 'a method of an object passed to a call');
    assert.deepEqual(at('limit'), [], 'a value is no definition');
    index.removeFile('factory.js');
  });

  it('JavaScript modules wrapped in an IIFE (UMD, sax, lodash) are module level; private methods keep their #', () => {
    index.addFile('umd.js', [
      ';(function (sax) {',                                     // 1
      "  sax.parser = function (strict) { return 1 }",          // 2
      "  var XMLNS = 'http://www.w3.org/2000/xmlns/'",          // 3
      '  function SAXParser () {}',                             // 4
      '  SAXParser.prototype = {',                              // 5
      '    flush: function () { flushBuffers(this) },',         // 6
      '    write: write,',                                      // 7
      '  }',                                                    // 8
      '  function helper () { var inner = 1 }',                 // 9
      "})(typeof exports === 'undefined' ? this.sax = {} : exports)", // 10
      '!function () { var bang = 1 }()',                        // 11
      'setTimeout(function () { var later = 1 })',              // 12
      'class Queue {',                                          // 13
      '  #next () {}',                                          // 14
      '}',                                                      // 15
    ].join('\n'), 'sha-umd');
    const at = (name: string) => index.definitions(name).filter((d) => d.path === 'umd.js').map((d) => [d.qualifiedName, d.kind, d.startLine]);
    assert.deepEqual(at('parser'), [['sax.parser', 'function', 2]]);
    assert.deepEqual(at('XMLNS'), [['XMLNS', 'variable', 3]], "a module-level var inside the module's IIFE");
    assert.deepEqual(at('flush'), [['SAXParser.flush', 'method', 6]]);
    assert.deepEqual(at('write'), [], 'a property naming a function defined elsewhere');
    assert.deepEqual(at('bang'), [['bang', 'variable', 11]], '!function () { … }() wraps a module too');
    assert.deepEqual([...at('inner'), ...at('later')], [], 'a function called with arguments or defined inside one is no module');
    assert.deepEqual(at('#next'), [['Queue.#next', 'method', 14]]);
    index.removeFile('umd.js');
  });

  it('JavaScript defined by an expression: module.exports = function name, members set inside functions, objects handed to calls, chains', () => {
    index.addFile('assigned.js', [
      'module.exports = function build (opts) {',                          // 1
      '  const api = function () {}',                                      // 2
      '  api.use = function (plugin) { return api }',                      // 3
      '  api.size = 0',                                                    // 4
      '  registry.register(api, {',                                        // 5
      '    parse (text) {},',                                              // 6
      '    stringify: function (value) {},',                               // 7
      '    onError: (err) => {},',                                         // 8
      '    retries: 3,',                                                   // 9
      '  })',                                                              // 10
      '  return api',                                                      // 11
      '}',                                                                 // 12
      'function Tokenizer (input) {',                                      // 13
      '  this.reader.onchunk = function (chunk) {}',                       // 14
      '  this.reset = () => {}',                                           // 15
      '  this.position = 0',                                               // 16
      '}',                                                                 // 17
      'class Pool {',                                                      // 18
      '  constructor () {',                                                // 19
      '    this.timer.onfire = function () {}',                            // 20
      '    setTimeout(function () { this.late = function () {} })',       // 21
      '  }',                                                               // 22
      '}',                                                                 // 23
      'Alt.prototype.width =',                                             // 24
      '  Seq.prototype.width = function () { return 1 }',                  // 25
      'exports.first = exports.second = void 0',                           // 26
      'exports.third = exports.Third = Third',                             // 27
      "defineGetter(Request.prototype, 'secure', function () {})",         // 28
      "Object.defineProperty(Request.prototype, 'ip', { get () { return 1 } })", // 29
      "listen(emitter, 'data', function () {})",                           // 30
      'Object.assign(Widget.prototype, { render () {} })',                 // 31
      "Object.defineProperty(exports, 'helper', { get () { return lib.helper } })", // 32
      '__export(target, { shared: function () { return shared } })',       // 33
    ].join('\n'), 'sha-assigned');
    index.addFile('store.js', 'module.exports = class Store {\n  get (key) {}\n}\n', 'sha-store');
    const at = (name: string) => index.definitions(name).filter((d) => d.path === 'assigned.js' || d.path === 'store.js').map((d) => [d.qualifiedName, d.kind, d.startLine]);
    assert.deepEqual(at('build'), [['build', 'function', 1]], 'module.exports = function build: the function by its own name');
    assert.deepEqual(index.definitions('build')[0]!.endLine, 12);
    assert.deepEqual(at('Store'), [['Store', 'class', 1]], 'module.exports = class Store');
    assert.deepEqual(at('get'), [['Store.get', 'method', 2]], "the class's methods are its members; a descriptor's get is none");
    assert.deepEqual(at('use'), [['api.use', 'function', 3]], 'a function set on a local object inside a function');
    assert.deepEqual(at('size'), [], 'a value set inside a function is none');
    assert.deepEqual(at('parse'), [['parse', 'method', 6]], 'a method of an object handed to a call');
    assert.deepEqual(at('stringify'), [['stringify', 'method', 7]]);
    assert.deepEqual([...at('onError'), ...at('retries')], [], 'an arrow handed over is a callback, a number a value');
    assert.deepEqual(at('onchunk'), [['Tokenizer.reader.onchunk', 'method', 14]], 'this.x.m = function inside a constructor function');
    assert.deepEqual(at('reset'), [['Tokenizer.reset', 'method', 15]]);
    assert.deepEqual(at('position'), []);
    assert.deepEqual(at('onfire'), [['Pool.timer.onfire', 'method', 20]], "this in a class's method is the class");
    assert.deepEqual(at('late'), [['late', 'method', 21]], 'this in an anonymous function names nothing');
    assert.deepEqual(at('width'), [['Alt.width', 'method', 24], ['Seq.width', 'method', 25]], 'each link of a chain defines');
    assert.deepEqual([...at('first'), ...at('second'), ...at('third'), ...at('Third')], [], 'exports set to void 0, or to a name not declared beside them, define nothing');
    assert.deepEqual(at('secure'), [['Request.secure', 'method', 28]], 'a call that hands a prototype, a name and a function');
    assert.deepEqual(at('ip'), [['Request.ip', 'method', 29]], 'Object.defineProperty on a prototype');
    assert.deepEqual(at('data'), [], 'a name handed with a function, but to no prototype');
    assert.deepEqual(at('render'), [['Widget.render', 'method', 31]], 'Object.assign(X.prototype, { … })');
    assert.deepEqual([...at('helper'), ...at('shared')], [], 'getters that hand out a name defined elsewhere re-export it');
    index.removeFile('assigned.js');
    index.removeFile('store.js');
  });

  it('JavaScript namespaces: an entry of a named object that holds methods, and those methods, qualified by it', () => {
    const js = code`
'use strict'
const formats = {
  // Comma-separated values, with a header row.
  csv: {
    extension: '.csv',
    parse: function (text) { return text.split('\n') },
    writer: {
      open (path) {},
    },
    options: { quote: '"' },
  },
  json: 'application/json',
  plain: { extension: '.txt' },
}
module.exports = {
  metrics: {
    kind: 'counter',
    metrics: function () { return [] },
  },
}
function track () {
  const events = { click: { handle () {} } }
  register({ hooks: { start () {} } })
  return { stats: { reset () {} }, total: 0 }
}
`;
    expectDefinitions('lib/formats.js', js, 'javascript', [
      ['constant', 'formats', 'formats', 2, 14, ''],
      ['variable', 'csv', 'formats.csv', 4, 11, 'Comma-separated values, with a header row.'],
      ['method', 'parse', 'formats.csv.parse', 6, 6, ''],
      // An entry holding only an entry that holds methods is a namespace too; one holding data (options, plain) is none.
      ['variable', 'writer', 'formats.csv.writer', 7, 9, ''],
      ['method', 'open', 'formats.csv.writer.open', 8, 8, ''],
      ['variable', 'metrics', 'metrics', 16, 19, ''],
      ['method', 'metrics', 'metrics.metrics', 18, 18, ''],
      ['function', 'track', 'track', 21, 25, ''],
      // Inside a function: a named object's and a returned object's; not those of an object handed to a call (hooks).
      ['variable', 'click', 'events.click', 22, 22, ''],
      ['method', 'handle', 'events.click.handle', 22, 22, ''],
      ['variable', 'stats', 'stats', 24, 24, ''],
      ['method', 'reset', 'stats.reset', 24, 24, ''],
    ]);
    index.removeFile('lib/formats.js');
  });

  it('JavaScript exports under another name are aliases of the local definition; prototype values are fields', () => {
    const js = code`
'use strict'
exports._lru = LruCache

/** A cache that forgets the least recently used entry first. */
function LruCache (size) {
  this.size = size
}
LruCache.prototype.evicts = true
LruCache.prototype.capacity = LruCache.prototype.limit = 64
LruCache.prototype.get = get
function get (key) {}
exports.LruCache = LruCache
exports.Store = exports.MemoryStore = MemoryStore
class MemoryStore {}
const encode = (value) => JSON.stringify(value)
module.exports.serialize = encode
exports.fetch = fetchRemote
function clear (cache) {
  exports.cleared = LruCache
  Cache.prototype.hits = 0
}
`;
    expectDefinitions('lib/cache.js', js, 'javascript', [
      // Where the exported name is written, of the kind of what it names, with its doc comment.
      ['function', '_lru', 'exports._lru', 2, 2, 'A cache that forgets the least recently used entry first.'],
      ['function', 'LruCache', 'LruCache', 5, 7, 'A cache that forgets the least recently used entry first.'],
      ['field', 'evicts', 'LruCache.evicts', 8, 8, ''],
      ['field', 'capacity', 'LruCache.capacity', 9, 9, ''],
      ['field', 'limit', 'LruCache.limit', 9, 9, ''],
      // `prototype.get = get` and `exports.MemoryStore = MemoryStore` hand over a definition of the same name.
      ['function', 'get', 'get', 11, 11, ''],
      ['class', 'Store', 'exports.Store', 13, 13, ''],
      ['class', 'MemoryStore', 'MemoryStore', 14, 14, ''],
      ['function', 'encode', 'encode', 15, 15, ''],
      ['function', 'serialize', 'module.exports.serialize', 16, 16, ''],
      // fetchRemote is not declared here; inside a function, exports and prototype values are set, not defined.
      ['function', 'clear', 'clear', 18, 21, ''],
    ]);
    index.removeFile('lib/cache.js');
  });

  it('JavaScript: a JSDoc block one blank line above a definition documents it (http-errors); a file header, two blank lines or a // comment do not', () => {
    const js = code`
/**
 * Errors of the package (the file's header: it starts the file).
 */

function header (x) {
  return x
}

/**
 * Get the code class of a status code.
 * @private
 */

function codeClass (status) {
  return String(status).charAt(0) + '00'
}

/** @module errors */

function moduleTagged () {}

/**
 * Two blank lines away.
 */


function tooFar () {}

// A line comment one blank line away.

function lineCommented () {}

/**
 * Get a class name from a name identifier.
 * @private
 */

function toClassName (name) {
  return name.substr(-5) !== 'Error' ? name + 'Error' : name
}

/** Above a blank line above the contiguous doc: not chained. */

/** Right above. */
function stacked () {}

/** A section's comment. */

setup()
function afterCode () {}
`;
    expectDefinitions('lib/errors.js', js, 'javascript', [
      ['function', 'header', 'header', 5, 7, ''],
      ['function', 'codeClass', 'codeClass', 14, 16, 'Get the code class of a status code.\n@private'],
      ['function', 'moduleTagged', 'moduleTagged', 20, 20, ''],
      ['function', 'tooFar', 'tooFar', 27, 27, ''],
      ['function', 'lineCommented', 'lineCommented', 31, 31, ''],
      ['function', 'toClassName', 'toClassName', 38, 40, 'Get a class name from a name identifier.\n@private'],
      ['function', 'stacked', 'stacked', 45, 45, 'Right above.'],
      ['function', 'afterCode', 'afterCode', 50, 50, ''],
    ]);
    // The chunk of a documented definition starts at its doc block, the blank line inside it.
    assert.deepEqual(chunkRows(index, 'lib/errors.js'), [
      ['head', 1, 3, ''],
      ['definition', 5, 7, 'header'],
      ['definition', 9, 16, 'codeClass'],
      ['code', 18, 31, ''],
      ['definition', 33, 40, 'toClassName'],
      ['code', 42, 50, ''],
    ]);
    // Behind a #! line (or PHP's <?php) a doc block is the file's header too.
    index.addFile('bin/errors.js', '#!/usr/bin/env node\n\n/**\n * The command line.\n */\n\nfunction main () {}\n', 'sha-bin');
    assert.deepEqual(rows(index.outline('bin/errors.js')), [['function', 'main', 'main', 7, 7, '']]);
    index.removeFile('bin/errors.js');
    index.removeFile('lib/errors.js');
  });

  it("a comment to a tool (istanbul, eslint, noqa) is not a doc comment: the doc above it is (on-finished's patchAssignSocket)", () => {
    const js = code`
'use strict'

/**
 * Patch ServerResponse.prototype.assignSocket for node.js 0.8.
 * @private
 */

// istanbul ignore next: node.js 0.8 patch
function patchAssignSocket (res) {
  return res
}

/** Bind a method. */
// eslint-disable-next-line no-unused-vars
function bind (fn) {
  return fn
}

// eslint-disable-next-line no-unused-vars
function undocumented () {}
`;
    expectDefinitions('lib/patch.js', js, 'javascript', [
      ['function', 'patchAssignSocket', 'patchAssignSocket', 9, 11, 'Patch ServerResponse.prototype.assignSocket for node.js 0.8.\n@private'],
      ['function', 'bind', 'bind', 15, 17, 'Bind a method.'],
      ['function', 'undocumented', 'undocumented', 20, 20, ''],
    ]);
    const py = code`
def helper(x):  # noqa: E501
    return x


# noqa: C901
def complex_one(x):
    # pylint: disable=too-many-branches
    return x
`;
    expectDefinitions('lib/tool.py', py, 'python', [
      ['function', 'helper', 'helper', 1, 2, ''],
      ['function', 'complex_one', 'complex_one', 6, 8, ''],
    ]);
    index.removeFile('lib/patch.js');
    index.removeFile('lib/tool.py');
  });

  it('TypeScript: interfaces, types, enums, exported consts, classes, namespaces, overloads', () => {
    const ts = code`
import { sleep } from './time';

/** Options of a queue. */
export interface QueueOptions {
  retries: number;
  onError?(error: Error): void;
}

export type JobId = string | number;

export enum State {
  Idle,
  Running,
}

export const DEFAULT_RETRIES = 3;

export class Queue<T> {
  private readonly jobs: T[] = [];

  /**
   * Runs \`fn\`, retrying with exponential backoff.
   * @param fn the job
   */
  async retryWithBackoff(fn: () => Promise<T>, retries = DEFAULT_RETRIES): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (attempt >= retries) throw e;
        await sleep(2 ** attempt * 100);
      }
    }
  }
}

export namespace Jobs {
  export function id(job: { id: JobId }): JobId {
    return job.id;
  }
}

export function parse(input: string): number;
export function parse(input: number): number;
export function parse(input: string | number): number {
  return Number(input);
}
`;
    expectDefinitions('src/queue.ts', ts, 'typescript', [
      ['interface', 'QueueOptions', 'QueueOptions', 4, 7, 'Options of a queue.'],
      ['field', 'retries', 'QueueOptions.retries', 5, 5, ''],
      ['method', 'onError', 'QueueOptions.onError', 6, 6, ''],
      ['type', 'JobId', 'JobId', 9, 9, ''],
      ['enum', 'State', 'State', 11, 14, ''],
      ['constant', 'DEFAULT_RETRIES', 'DEFAULT_RETRIES', 16, 16, ''],
      ['class', 'Queue', 'Queue', 18, 35, ''],
      ['field', 'jobs', 'Queue.jobs', 19, 19, ''],
      ['method', 'retryWithBackoff', 'Queue.retryWithBackoff', 25, 34, 'Runs `fn`, retrying with exponential backoff.\n@param fn the job'],
      ['module', 'Jobs', 'Jobs', 37, 41, ''],
      ['function', 'id', 'Jobs.id', 38, 40, ''],
      ['function', 'parse', 'parse', 43, 43, ''],
      ['function', 'parse', 'parse', 44, 44, ''],
      ['function', 'parse', 'parse', 45, 47, ''],
    ]);
  });

  it('TypeScript: a doc block one blank line above an export or its decorators documents it', () => {
    const ts = code`
import { injectable } from './di';

/**
 * Parses a duration such as \`5m\`.
 */

export function parseDuration(text: string): number {
  return Number(text);
}

/** A clock that can be replaced in tests. */

@injectable()
export class Clock {
  now(): number {
    return Date.now();
  }
}
`;
    expectDefinitions('src/duration.ts', ts, 'typescript', [
      ['function', 'parseDuration', 'parseDuration', 7, 9, 'Parses a duration such as `5m`.'],
      ['class', 'Clock', 'Clock', 14, 18, 'A clock that can be replaced in tests.'],
      ['method', 'now', 'Clock.now', 15, 17, ''],
    ]);
    index.removeFile('src/duration.ts');
  });

  it('TSX: components as functions and arrow functions', () => {
    const tsx = code`
import React from 'react';

interface ButtonProps {
  label: string;
}

/** A clickable button. */
export function Button({ label }: ButtonProps) {
  return <button className="btn">{label}</button>;
}

export const Card = ({ title }: { title: string }) => (
  <div className="card">{title}</div>
);
`;
    expectDefinitions('src/button.tsx', tsx, 'tsx', [
      ['interface', 'ButtonProps', 'ButtonProps', 3, 5, ''],
      ['field', 'label', 'ButtonProps.label', 4, 4, ''],
      ['function', 'Button', 'Button', 8, 10, 'A clickable button.'],
      ['function', 'Card', 'Card', 12, 14, ''],
    ]);
  });

  it('Python: classes, decorated methods, docstrings, module constants, nested functions', () => {
    const py = code`
"""A tiny HTTP server."""
import asyncio

DEFAULT_PORT = 8080


class Handler(Base):
    """Handles one request."""

    timeout = 30

    @staticmethod
    def handle(request):
        """Answer \`request\`.

        Returns the response.
        """
        def render(body):
            return body
        return render(request)


async def serve(port=DEFAULT_PORT):
    # Serve forever.
    await asyncio.sleep(port)
`;
    expectDefinitions('server.py', py, 'python', [
      ['constant', 'DEFAULT_PORT', 'DEFAULT_PORT', 4, 4, ''],
      ['class', 'Handler', 'Handler', 7, 20, 'Handles one request.'],
      ['field', 'timeout', 'Handler.timeout', 10, 10, ''],
      ['method', 'handle', 'Handler.handle', 13, 20, 'Answer `request`.\n\nReturns the response.'],
      ['function', 'render', 'render', 18, 19, ''],
      ['function', 'serve', 'serve', 23, 25, ''],
    ]);
    // The decorator belongs to the method's chunk; the module docstring and imports are the head.
    assert.deepEqual(chunkRows(index, 'server.py'), [
      ['head', 1, 4, ''],
      ['definition', 7, 10, 'Handler'],
      ['definition', 12, 20, 'Handler.handle'],
      ['definition', 23, 25, 'serve'],
    ]);
  });

  it('Go: structs, interfaces, methods qualified by their receiver, grouped constants', () => {
    const go = code`
// Package web routes requests.
package web

import "net/http"

// Router dispatches requests to handlers.
type Router struct {
	// Routes maps paths to handlers.
	Routes map[string]http.Handler
}

// Handler serves one path.
type Handler interface {
	Serve(w http.ResponseWriter) error
}

const (
	// MaxRoutes bounds the table.
	MaxRoutes = 64
)

// Handle registers h for path.
func (r *Router) Handle(path string, h http.Handler) {
	r.Routes[path] = h
}

func New() *Router {
	return &Router{Routes: map[string]http.Handler{}}
}
`;
    expectDefinitions('web/router.go', go, 'go', [
      ['struct', 'Router', 'Router', 7, 10, 'Router dispatches requests to handlers.'],
      ['field', 'Routes', 'Router.Routes', 9, 9, 'Routes maps paths to handlers.'],
      ['interface', 'Handler', 'Handler', 13, 15, 'Handler serves one path.'],
      ['method', 'Serve', 'Handler.Serve', 14, 14, ''],
      ['constant', 'MaxRoutes', 'MaxRoutes', 19, 19, 'MaxRoutes bounds the table.'],
      ['method', 'Handle', 'Router.Handle', 23, 25, 'Handle registers h for path.'],
      ['function', 'New', 'New', 27, 29, ''],
    ]);
  });

  it('Rust: structs with attributes, enums, traits, impl methods, modules', () => {
    const rs = code`
//! A job queue.

/// A queue of jobs.
#[derive(Debug, Default)]
pub struct Queue {
    pub jobs: Vec<Job>,
}

pub enum Job {
    Run,
    Stop,
}

pub trait Runner {
    /// Runs one job.
    fn run(&self, job: &Job) -> bool;
}

impl Queue {
    /// Retries with backoff.
    pub fn retry_with_backoff(&mut self) -> u32 {
        self.jobs.len() as u32
    }
}

pub mod net {
    pub fn connect() {}
}

pub const MAX: usize = 8;
`;
    expectDefinitions('src/lib.rs', rs, 'rust', [
      ['struct', 'Queue', 'Queue', 5, 7, 'A queue of jobs.'],
      ['field', 'jobs', 'Queue.jobs', 6, 6, ''],
      ['enum', 'Job', 'Job', 9, 12, ''],
      ['trait', 'Runner', 'Runner', 14, 17, ''],
      ['method', 'run', 'Runner.run', 16, 16, 'Runs one job.'],
      ['method', 'retry_with_backoff', 'Queue.retry_with_backoff', 21, 23, 'Retries with backoff.'],
      ['module', 'net', 'net', 26, 28, ''],
      ['function', 'connect', 'net.connect', 27, 27, ''],
      ['constant', 'MAX', 'MAX', 30, 30, ''],
    ]);
    // The attribute and the doc comment open the struct's chunk.
    assert.deepEqual(chunkRows(index, 'src/lib.rs')[1], ['definition', 3, 7, 'Queue']);
  });

  it('Java: classes, constructors, overloaded methods, annotations, nested interfaces', () => {
    const java = code`
package web;

import java.util.List;

/**
 * Routes requests.
 */
public class Router {
    private final List<String> routes;

    public Router(List<String> routes) {
        this.routes = routes;
    }

    /** Handles a path. */
    @Override
    public void handle(String path) {
        routes.add(path);
    }

    /** Handles a numbered route. */
    public void handle(int index) {
        routes.remove(index);
    }

    interface Listener {
        void onRoute(String path);
    }
}
`;
    expectDefinitions('src/web/Router.java', java, 'java', [
      ['class', 'Router', 'Router', 8, 29, 'Routes requests.'],
      ['field', 'routes', 'Router.routes', 9, 9, ''],
      ['method', 'Router', 'Router.Router', 11, 13, ''],
      ['method', 'handle', 'Router.handle', 17, 19, 'Handles a path.'],
      ['method', 'handle', 'Router.handle', 22, 24, 'Handles a numbered route.'],
      ['interface', 'Listener', 'Router.Listener', 26, 28, ''],
      ['method', 'onRoute', 'Router.Listener.onRoute', 27, 27, ''],
    ]);
  });

  it('C: macros, structs, typedefs, functions and prototypes (parsed by the C++ grammar)', () => {
    const c = code`
#include <stdlib.h>

#define LIST_MAX 128

/* A node of the list. */
struct node {
    int value;
    struct node *next;
};

typedef struct node node_t;

/**
 * Appends value to the list.
 */
node_t *list_append(node_t *head, int value)
{
    node_t *n = malloc(sizeof *n);
    n->value = value;
    n->next = head;
    return n;
}

int list_length(const node_t *head);
`;
    expectDefinitions('src/list.c', c, 'c', [
      ['constant', 'LIST_MAX', 'LIST_MAX', 3, 3, ''],
      ['struct', 'node', 'node', 6, 9, 'A node of the list.'],
      ['field', 'value', 'node.value', 7, 7, ''],
      ['field', 'next', 'node.next', 8, 8, ''],
      ['type', 'node_t', 'node_t', 11, 11, ''],
      ['function', 'list_append', 'list_append', 16, 22, 'Appends value to the list.'],
      ['function', 'list_length', 'list_length', 24, 24, ''],
    ]);
  });

  it('C++: namespaces, classes, out-of-line methods, templates', () => {
    const cpp = code`
#include <string>

namespace web {

// Routes requests.
class Router {
 public:
  // Handles one path.
  void handle(const std::string &path);
  int count = 0;
};

void Router::handle(const std::string &path) {
  count++;
}

template <typename T>
T maxOf(T a, T b) {
  return a > b ? a : b;
}

}  // namespace web
`;
    expectDefinitions('src/router.cpp', cpp, 'cpp', [
      ['module', 'web', 'web', 3, 22, ''],
      ['class', 'Router', 'web.Router', 6, 11, 'Routes requests.'],
      ['method', 'handle', 'web.Router.handle', 9, 9, 'Handles one path.'],
      ['field', 'count', 'web.Router.count', 10, 10, ''],
      ['method', 'handle', 'web.Router.handle', 13, 15, ''],
      ['function', 'maxOf', 'web.maxOf', 18, 20, ''],
    ]);
  });

  it('C#: namespaces, classes, properties, methods with XML doc comments, interfaces', () => {
    const cs = code`
using System;

namespace Acme.Web
{
    /// <summary>Routes requests.</summary>
    public class Router
    {
        public string Name { get; set; }

        /// <summary>Handles a path.</summary>
        public void Handle(string path)
        {
            Console.WriteLine(path);
        }
    }

    public interface IHandler
    {
        void Serve();
    }
}
`;
    expectDefinitions('src/Router.cs', cs, 'csharp', [
      ['module', 'Acme.Web', 'Acme.Web', 3, 21, ''],
      ['class', 'Router', 'Acme.Web.Router', 6, 15, 'Routes requests.'],
      ['field', 'Name', 'Acme.Web.Router.Name', 8, 8, ''],
      ['method', 'Handle', 'Acme.Web.Router.Handle', 11, 14, 'Handles a path.'],
      ['interface', 'IHandler', 'Acme.Web.IHandler', 17, 20, ''],
      ['method', 'Serve', 'Acme.Web.IHandler.Serve', 19, 19, ''],
    ]);
  });

  it('Ruby: modules, classes, methods, singleton methods, constants', () => {
    const rb = code`
# Web routing.
module Web
  # Routes requests.
  class Router
    LIMIT = 10

    # Handles a path.
    def handle(path)
      puts path
    end

    def self.build
      new
    end
  end
end
`;
    expectDefinitions('lib/web/router.rb', rb, 'ruby', [
      ['module', 'Web', 'Web', 2, 16, 'Web routing.'],
      ['class', 'Router', 'Web.Router', 4, 15, 'Routes requests.'],
      ['constant', 'LIMIT', 'Web.Router.LIMIT', 5, 5, ''],
      ['method', 'handle', 'Web.Router.handle', 8, 10, 'Handles a path.'],
      ['method', 'build', 'Web.Router.build', 12, 14, ''],
    ]);
  });

  it('PHP: a file-level namespace qualifies the classes and functions after it', () => {
    const php = code`
<?php
namespace App\Http;

/**
 * Routes requests.
 */
class Router
{
    /** Handles a path. */
    public function handle(string $path): void
    {
        echo $path;
    }
}

function helper(): int
{
    return 1;
}
`;
    expectDefinitions('src/Router.php', php, 'php', [
      ['class', 'Router', 'App.Http.Router', 7, 14, 'Routes requests.'],
      ['method', 'handle', 'App.Http.Router.handle', 10, 13, 'Handles a path.'],
      ['function', 'helper', 'App.Http.helper', 16, 19, ''],
    ]);
  });

  it('Bash: both function forms; the #! line is not a doc comment', () => {
    const sh = code`
#!/usr/bin/env bash
# Deploys the site.
build() {
  npm run build
}

function deploy {
  build
  rsync -a dist/ host:/srv
}

deploy
`;
    expectDefinitions('deploy.sh', sh, 'bash', [
      ['function', 'build', 'build', 3, 5, 'Deploys the site.'],
      ['function', 'deploy', 'deploy', 7, 10, ''],
    ]);
  });

  it('CSS: rule sets named by their selectors, @keyframes by their name', () => {
    const css = code`
/* Buttons. */
.btn,
.btn-primary {
  color: white;
}

@keyframes spin {
  from { transform: rotate(0deg); }
}
`;
    expectDefinitions('site.css', css, 'css', [
      ['rule', '.btn, .btn-primary', '.btn, .btn-primary', 2, 5, 'Buttons.'],
      ['rule', 'spin', 'spin', 7, 9, ''],
    ]);
  });

  it('a script without an extension is recognised by its #! line', () => {
    const file = index.addFile('bin/serve', '#!/usr/bin/env python3\ndef main():\n    pass\n', 'sha');
    assert.equal(file.language, 'python');
    assert.deepEqual(rows(index.outline('bin/serve')), [['function', 'main', 'main', 2, 3, '']]);
  });
});

describe('workspace index: files without definitions', () => {
  it('Markdown: every section is a head chunk', () => {
    const md = '# Famulus\n\nReads a workspace.\n\n## Install\n\n```sh\n# not a heading\nnpm ci\n```\n\n## Use\n\nAsk.\n';
    const file = index.addFile('README.md', md, 'sha');
    assert.equal(file.language, 'markdown');
    assert.deepEqual(index.outline('README.md'), []);
    assert.deepEqual(chunkRows(index, 'README.md'), [
      ['head', 1, 3, ''],
      ['head', 5, 10, ''],
      ['head', 12, 14, ''],
    ]);
    assert.equal(index.search('install')[0]?.chunk.startLine, 5);
  });

  it('a file in a language without a grammar: its head, then windows of ~40 lines', () => {
    const text = Array.from({ length: 130 }, (_, i) => `key${i}: value`).join('\n');
    const file = index.addFile('config.yaml', text, 'sha');
    assert.equal(file.language, null);
    assert.equal(file.lines, 130);
    assert.deepEqual(chunkRows(index, 'config.yaml'), [
      ['head', 1, 30, ''],
      ['code', 31, 64, ''],
      ['code', 65, 98, ''],
      ['code', 99, 130, ''],
    ]);
  });

  it('a body longer than 60 lines is cut into windows of about 40 lines', () => {
    const body = Array.from({ length: 100 }, (_, i) => `  total += ${i};`).join('\n');
    index.addFile('long.js', `function sum() {\n  let total = 0;\n${body}\n  return total;\n}\n`, 'sha');
    const chunks = chunkRows(index, 'long.js');
    assert.deepEqual(chunks, [
      ['head', 1, 30, ''],
      ['definition', 1, 35, 'sum'],
      ['definition', 36, 70, 'sum'],
      ['definition', 71, 104, 'sum'],
    ]);
  });
});

describe('workspace index: what must not go wrong', () => {
  it('a file that does not parse is still chunked, with a parseError, and no throw', () => {
    const broken = 'function ok() {\n  return 1;\n}\n\nfunction broken( {\n  return [;\n}}}\n' + 'let x = 1;\n'.repeat(70);
    const file = index.addFile('broken.js', broken, 'sha');
    assert.match(file.parseError ?? '', /^syntax error at line \d+$/);
    // What did parse is kept; the rest is still searchable text.
    assert.deepEqual(index.definitions('ok').map((d) => [d.path, d.startLine]), [['broken.js', 1]]);
    const chunks = index.chunksOf('broken.js');
    assert.ok(chunks.length >= 2);
    assert.equal(chunks[chunks.length - 1]!.endLine, file.lines);
  });

  it('binary-looking garbage in a source file does not throw either', () => {
    const garbage = Array.from({ length: 2000 }, (_, i) => String.fromCharCode(1 + ((i * 7919) % 0xd7ff))).join('');
    for (const p of ['garbage.ts', 'garbage.py', 'garbage.rs', 'garbage.css']) {
      const file = index.addFile(p, garbage, 'sha');
      assert.ok(file.lines > 0 && index.chunksOf(p).length >= 1, p);
    }
  });

  it('unicode names are found as written, and by case-insensitive look-up', () => {
    index.addFile('i18n.js', '/** Saluda. */\nfunction función(nombre) {\n  return nombre;\n}\n', 'sha');
    index.addFile('i18n.py', 'def 名前():\n    """名前を返す。"""\n    return "x"\n\nclass Ünïcode:\n    pass\n', 'sha');
    assert.deepEqual(rows(index.definitions('función')), [['function', 'función', 'función', 2, 4, 'Saluda.']]);
    assert.deepEqual(rows(index.definitions('名前')), [['function', '名前', '名前', 1, 3, '名前を返す。']]);
    assert.deepEqual(rows(index.definitions('üNÏCODE')), [['class', 'Ünïcode', 'Ünïcode', 5, 6, '']]);
  });

  it('the same name in several places: every definition is found, in path and line order', () => {
    const local = new Map<string, string>([
      ['a/router.js', 'class Router {\n  handle(req) {\n    return req;\n  }\n}\n'],
      ['b/layer.js', 'class Layer {\n  handle(req) {\n    return req;\n  }\n}\n'],
    ]);
    for (const [p, text] of local) index.addFile(p, text, 'sha');
    const handles = index.definitions('handle').map((d) => `${d.path}:${d.startLine} ${d.qualifiedName}`);
    // The two JS methods, the Java overloads, the out-of-line C++ definition and its declaration, the rest.
    for (const expected of ['a/router.js:2 Router.handle', 'b/layer.js:2 Layer.handle', 'src/web/Router.java:17 Router.handle', 'src/web/Router.java:22 Router.handle']) {
      assert.ok(handles.includes(expected), `${expected} in ${handles.join(', ')}`);
    }
    const paths = index.definitions('handle').map((d) => d.path);
    assert.deepEqual(paths, [...paths].sort(), 'in path order');
    // A qualified name finds only its own; case-insensitive only when nothing matches exactly.
    assert.deepEqual(index.definitions('Layer.handle').map((d) => d.path), ['b/layer.js']);
    assert.deepEqual(index.definitions('layer.HANDLE').map((d) => d.path), ['b/layer.js']);
    assert.deepEqual(index.definitions('nothing-like-this'), []);
  });

  it('a 3 MB single-line file is indexed fast and bounded', () => {
    const line = 'var a=' + JSON.stringify('x'.repeat(100)) + ';' + 'function f(){return 1+2};'.repeat(120_000);
    assert.ok(line.length > 3_000_000);
    const started = performance.now();
    const file = index.addFile('dist/bundle.min.js', line, 'sha');
    const ms = performance.now() - started;
    assert.ok(ms < 2000, `${ms} ms`);
    assert.match(file.parseError ?? '', /^not parsed: \d+ characters/);
    assert.deepEqual(chunkRows(index, 'dist/bundle.min.js'), [['head', 1, 1, '']]);
    const searchStarted = performance.now();
    assert.equal(index.search('bundle')[0]?.chunk.path, 'dist/bundle.min.js');
    assert.ok(performance.now() - searchStarted < 500);
  });

  it('a minified file under the size limit is not parsed either: its names mean nothing', () => {
    const min = '!function(e,t){' + 'var n=e.a(t),r=n.b;'.repeat(3000) + '}(this);';
    const file = index.addFile('vendor.min.js', min, 'sha');
    assert.match(file.parseError ?? '', /^not parsed: minified/);
    assert.deepEqual(index.outline('vendor.min.js'), []);
  });

  it('adding a file again replaces it; removing it removes its definitions, chunks and search hits', () => {
    index.addFile('swap.ts', 'export function firstVersionOnly() {\n  return 1;\n}\n', 'v1');
    index.addFile('swap.ts', 'export function secondVersion() {\n  return 2;\n}\n', 'v2');
    assert.equal(index.file('swap.ts')?.sha256, 'v2');
    assert.deepEqual(index.definitions('firstVersionOnly'), []);
    assert.ok(index.search('firstVersionOnly').every((h) => h.chunk.definition !== 'firstVersionOnly'));
    assert.equal(index.search('secondVersion')[0]?.chunk.definition, 'secondVersion');
    const before = index.size;
    const chunks = index.chunksOf('swap.ts').length;
    index.removeFile('swap.ts');
    assert.equal(index.file('swap.ts'), undefined);
    assert.deepEqual(index.definitions('secondVersion'), []);
    assert.ok(index.search('secondVersion').every((h) => h.chunk.path !== 'swap.ts'));
    assert.deepEqual(index.size, { files: before.files - 1, definitions: before.definitions - 1, chunks: before.chunks - chunks });
  });
});
