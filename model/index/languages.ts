/**
 * What a definition looks like in each grammar: per node type, a rule saying whether a node defines something,
 * its name, its kind, and whether what is inside it are members (qualified by its name: classes, structs,
 * traits, modules, namespaces) or a function body. The node types are those of the grammars that
 * @vscode/tree-sitter-wasm ships; the walk itself is in definitions.ts.
 */
import type { Node } from '@vscode/tree-sitter-wasm';
import type { DefinitionKind } from './definitions';
import { docstringText } from './docs';
import type { ParsedLanguage } from './grammars';

/** A definition a rule found. */
export interface Match {
  name: string;
  /** Its line is the definition's startLine. */
  nameNode: Node;
  /** The whole definition: its last line is the endLine; its doc comment is looked for above it. */
  node: Node;
  /** `function` becomes `method` directly inside a class-like scope. */
  kind: DefinitionKind;
  /** Qualification written in the definition itself: a Go receiver, C++ `Router::`, JS `app.` or `Router.prototype.`. */
  qualifier?: string[];
  /** What is inside are members, qualified by this name (else a function body or a value). */
  members?: boolean;
  /** The doc when it is not a comment above (a Python docstring). */
  doc?: string;
  /** Where the doc comment is when the definition has none of its own: an alias `exports.X = Y` documents as Y. */
  docFrom?: Node;
  /** It says itself what it belongs to (`X.prototype.m = function`): a member even inside a function body. */
  explicitMember?: boolean;
}

/** A node that only qualifies what is inside it (a Rust impl block), or, with siblings, what follows it (C# `namespace A;`). */
export interface Scope {
  scope: string[];
  siblings?: boolean;
}

export interface Place {
  inFunction: boolean;
  inClass: boolean;
}

export type Rule = (node: Node, place: Place) => Match | Match[] | Scope | undefined;

export interface RuleSet {
  byType: Map<string, Rule>;
  /** Node types of anonymous functions: their bodies are walked as function bodies. */
  functions: Set<string>;
  /** Whether a function at module level wraps the module itself (JS's IIFE): its body is walked as module level. */
  moduleWrapper?: (node: Node) => boolean;
}

const present = <T>(x: T | null | undefined): x is T => x !== null && x !== undefined;

/** A match named by the node's `name` field (or `field`), undefined when it has none. */
function named(node: Node, kind: DefinitionKind, options: { members?: boolean; field?: string } = {}): Match | undefined {
  const nameNode = node.childForFieldName(options.field ?? 'name');
  if (!nameNode || nameNode.isMissing) return undefined;
  const name = nameNode.text.replace(/^(['"`])([\s\S]*)\1$/, '$2');
  return { name, nameNode, node, kind, ...(options.members ? { members: true } : {}) };
}

const def =
  (kind: DefinitionKind, members = false): Rule =>
  (node) =>
    named(node, kind, { members });

/** One match per name node, all spanning `node` (Go `var a, b int`, Java `int x, y;`). */
const each = (node: Node, names: (Node | null | undefined)[], kind: DefinitionKind): Match[] =>
  names.filter(present).filter((n) => !n.isMissing).map((nameNode) => ({ name: nameNode.text, nameNode, node, kind }));

/** The type's own name in a receiver or impl target: `*Router` → Router, `Queue<T>` → Queue, `fmt::Display` → Display. */
function typeName(text: string): string {
  const m = /([\p{L}_][\p{L}\p{N}_]*)\s*$/u.exec(text.replace(/[<[][\s\S]*$/, ''));
  return m ? m[1]! : text.trim();
}

const moduleName = (text: string): string => text.replace(/::|\\/g, '.');

// JavaScript, TypeScript, TSX -------------------------------------------------------------------------------

const JS_FUNCTIONS = new Set(['arrow_function', 'function_expression', 'function', 'generator_function']);

/** `(function f() {…})` is the function inside. */
function unwrap(node: Node | null): Node | null {
  let n = node;
  while (n?.type === 'parenthesized_expression') n = n.namedChild(0);
  return n;
}

/** `require('x')` or `await import('x')`: a variable that names another module, not a definition. */
function isModuleLoad(value: Node | null): boolean {
  const call = value?.type === 'await_expression' ? value.namedChild(0) : value;
  if (call?.type !== 'call_expression') return false;
  const callee = call.childForFieldName('function');
  return callee?.type === 'import' || callee?.text === 'require';
}

/**
 * `const f = () => …`, `const f = function …`, `const C = class …` (also inside a function, as a nested
 * `function f` is: transpiled code defines that way); a variable of another value only at module level
 * (`const kRegisteredPlugins = Symbol.for(…)`, exported or not), and never a `require`, a loop variable or a
 * destructuring.
 */
const jsVariable: Rule = (node, place) => {
  const nameNode = node.childForFieldName('name');
  if (nameNode?.type !== 'identifier') return undefined;
  const value = unwrap(node.childForFieldName('value'));
  const base = { name: nameNode.text, nameNode, node };
  if (value && JS_FUNCTIONS.has(value.type)) return { ...base, kind: 'function' };
  if (value?.type === 'class') return { ...base, kind: 'class', members: true };
  if (place.inFunction || isModuleLoad(value)) return undefined;
  const declaration = node.parent;
  if (declaration?.parent?.type.startsWith('for_')) return undefined;
  return { ...base, kind: declaration?.firstChild?.type === 'const' ? 'constant' : 'variable' };
};

const IDENTIFIER_PATH = /^[\p{L}_$][\p{L}\p{N}_$]*(?:\.[\p{L}_$][\p{L}\p{N}_$]*)*$/u;

/** Babel's name for a class's prototype in its transpiled methods (`var _proto = Duration.prototype;`). */
const PROTOTYPE_ALIAS = /^_proto\d*$/;

/**
 * What `this` stands for where `node` is: the class of the method around it, the constructor function around it
 * (`function SAXStream () { this.x = … }`: SAXStream), X for a function assigned to `X.prototype.m` or to
 * `var X`; arrow functions see through. Undefined when no name says it (an anonymous callback, module level).
 */
function thisOwner(node: Node): string[] | undefined {
  for (let p = node.parent; p; p = p.parent) {
    switch (p.type) {
      case 'arrow_function':
        continue;
      case 'function_declaration':
      case 'generator_function_declaration': {
        const name = p.childForFieldName('name');
        return name ? [name.text] : undefined;
      }
      case 'method_definition': {
        const body = p.parent;
        if (body?.type !== 'class_body') return undefined;
        const cls = body.parent;
        const name = cls?.childForFieldName('name') ?? (cls?.parent?.type === 'variable_declarator' ? cls.parent.childForFieldName('name') : null);
        return name ? [name.text] : undefined;
      }
      case 'function_expression':
      case 'function':
      case 'generator_function': {
        let up = p.parent;
        while (up?.type === 'parenthesized_expression') up = up.parent;
        if (up?.type === 'variable_declarator' && up.childForFieldName('name')?.type === 'identifier') return [up.childForFieldName('name')!.text];
        const left = up?.type === 'assignment_expression' ? up.childForFieldName('left')?.text ?? '' : '';
        if (IDENTIFIER_PATH.test(left) && left.includes('.prototype.')) return left.slice(0, left.indexOf('.prototype.')).split('.');
        const name = p.childForFieldName('name');
        return name ? [name.text] : undefined;
      }
      case 'class_body':
      case 'program':
        return undefined;
    }
  }
  return undefined;
}

/**
 * Property assignments, the CommonJS way of defining: `app.listen = function …` (app.listen),
 * `Router.prototype.handle = function …` (the method Router.handle), `exports.x = …` / `module.exports.x = …`;
 * each link of a chain (`A.prototype.m = B.prototype.m = function …`) defines. `module.exports = function pack …`
 * defines the function by its own name (pack), as `module.exports = class Pack …` does the class.
 * Inside a function only functions and classes count, and they do on any object: `proxy.m = function …` on a
 * local object (proxy.m), `this.m = function …` and `this.parser.onend = function …` (qualified by what `this`
 * is: Parser.m, Parser.parser.onend); any other assignment there sets a value. Outside one, a prototype's
 * property holding a value is a field (`Codec.prototype.bomAware = true`: Codec.bomAware), as in a class.
 * `exports.X = X` re-exports a definition made elsewhere, and is none itself; nor is TypeScript's
 * `exports.X = void 0` that declares it. `exports.X = Y`, Y a function or class declared beside it, exports Y
 * under another name: an alias of Y's kind, where X is written, documented as Y.
 */
const jsAssignment: Rule = (node, place) => {
  if (node.parent?.type !== 'expression_statement') return undefined;
  const links: Node[] = [];
  let value: Node | null = node;
  for (; value?.type === 'assignment_expression'; value = unwrap(value.childForFieldName('right'))) links.push(value);
  const matches = links.map((link) => assignmentLink(link, value, node, place)).filter(present);
  return matches.length > 1 ? matches : matches[0];
};

/** `void 0` or `undefined`: what TypeScript's CommonJS output first sets every export to (`exports.a = exports.b = void 0;`). */
const isPlaceholder = (value: Node | null): boolean => value?.text === 'undefined' || /^void\s+0$/.test(value?.text ?? '');

/** One `left = …` of an assignment statement (a chain has several) whose final value is `value`. */
function assignmentLink(link: Node, value: Node | null, statement: Node, place: Place): Match | undefined {
  const left = link.childForFieldName('left');
  if (left?.type !== 'member_expression') return undefined;
  const property = left.childForFieldName('property');
  const object = left.childForFieldName('object');
  if (property?.type !== 'property_identifier' || !object || !IDENTIFIER_PATH.test(object.text)) return undefined;
  const isFunction = !!value && JS_FUNCTIONS.has(value.type);
  const isClass = value?.type === 'class';
  if (object.text === 'module' && property.text === 'exports') {
    const own = isFunction || isClass ? value!.childForFieldName('name') : null;
    if (!own) return undefined;
    return { name: own.text, nameNode: own, node: statement, kind: isClass ? 'class' : 'function', qualifier: [], ...(isClass ? { members: true } : {}) };
  }
  const path = object.text.split('.');
  const base = { name: property.text, nameNode: property, node: statement };
  if (path[0] === 'this') {
    if (!isFunction && !isClass) return undefined;
    const qualifier = [...(thisOwner(link) ?? []), ...path.slice(1).filter((p) => p !== 'prototype')];
    return isClass ? { ...base, qualifier, kind: 'class', members: true } : { ...base, qualifier, kind: 'method', explicitMember: true };
  }
  const isMethod = path.includes('prototype') || PROTOTYPE_ALIAS.test(path[0]!);
  const qualified = { ...base, qualifier: path.filter((p) => p !== 'prototype' && !PROTOTYPE_ALIAS.test(p)) };
  if (isFunction) return isMethod ? { ...qualified, kind: 'method', explicitMember: true } : { ...qualified, kind: 'function' };
  if (isClass) return { ...qualified, kind: 'class', members: true };
  if (place.inFunction || !value) return undefined;
  // `X.prototype.write = write` only hands a function defined elsewhere to the prototype, as `exports.X = X` does.
  const sameName = value.type === 'identifier' && value.text === property.text;
  if (isMethod) return sameName ? undefined : { ...qualified, kind: 'field' };
  if (path[0] !== 'exports' && object.text !== 'module.exports') return undefined;
  if (value.type !== 'identifier') return isPlaceholder(value) ? undefined : { ...qualified, kind: 'variable' };
  const aliased = sameName ? undefined : declaredBeside(statement, value.text);
  return aliased && { ...qualified, kind: aliased.kind, docFrom: aliased.node };
}

/**
 * The function or class `name` declared in the block that holds `statement` (before or after it: declarations
 * are hoisted, and CommonJS often exports first), by `function`, `class` or a variable holding one.
 */
function declaredBeside(statement: Node, name: string): { kind: 'function' | 'class'; node: Node } | undefined {
  for (const s of statement.parent?.parent?.namedChildren ?? []) {
    if (!s) continue;
    if (s.type === 'function_declaration' || s.type === 'generator_function_declaration' || s.type === 'class_declaration') {
      if (s.childForFieldName('name')?.text === name) return { kind: s.type === 'class_declaration' ? 'class' : 'function', node: s };
    } else if (s.type === 'lexical_declaration' || s.type === 'variable_declaration') {
      for (const d of s.namedChildren) {
        if (d?.type !== 'variable_declarator' || d.childForFieldName('name')?.text !== name) continue;
        const value = unwrap(d.childForFieldName('value'));
        if (value && JS_FUNCTIONS.has(value.type)) return { kind: 'function', node: d };
        if (value?.type === 'class') return { kind: 'class', node: d };
      }
    }
  }
  return undefined;
}

/** Calls whose object argument describes a property (`get`, `set`, `value`), not methods of their own. */
const DESCRIPTOR_CALLS = /^(?:Object\.(?:defineProperty|defineProperties|create)|Reflect\.defineProperty)$/;

/** `X.prototype` (or Babel's `_proto`): the prototype of X, as the qualifier X; else null. */
function prototypeOwner(node: Node | null | undefined): string[] | null {
  const text = node?.text ?? '';
  if (!IDENTIFIER_PATH.test(text)) return null;
  const path = text.split('.');
  if (path.at(-1) === 'prototype') return path.slice(0, -1);
  return path.length === 1 && PROTOTYPE_ALIAS.test(path[0]!) ? [] : null;
}

/**
 * A function that only hands out a binding of the same name (`foo: () => foo`, `get foo() { return m.foo }`):
 * how bundlers (esbuild's `__export`, webpack's `__webpack_require__.d`) re-export, no definition.
 */
function isForwarder(fn: Node, name: string): boolean {
  let body = fn.childForFieldName('body');
  if (body?.type === 'statement_block') {
    const statements = body.namedChildren.filter((c) => c?.type !== 'comment');
    body = statements.length === 1 && statements[0]!.type === 'return_statement' ? statements[0]!.namedChild(0) : null;
  }
  body = unwrap(body);
  const last = body?.type === 'member_expression' ? body.childForFieldName('property') : body;
  return (last?.type === 'identifier' || last?.type === 'property_identifier') && last.text === name;
}

/**
 * `Object.defineProperty(X.prototype, 'name', { get () {…} })`, and helpers called the same way
 * (`patchProto(X.prototype, 'name', function …)`): a statement call that hands a prototype, a name and a function
 * (or a descriptor holding one) defines the method X.name.
 */
const jsDefiningCall: Rule = (node) => {
  if (node.parent?.type !== 'expression_statement') return undefined;
  const args = node.childForFieldName('arguments')?.namedChildren.filter(present).filter((a) => a.type !== 'comment') ?? [];
  const owner = prototypeOwner(args[0]);
  const nameNode = args[1];
  if (!owner || nameNode?.type !== 'string' || args.length < 3) return undefined;
  const name = nameNode.text.slice(1, -1);
  if (!/^[\p{L}_$][\p{L}\p{N}_$]*$/u.test(name)) return undefined;
  const value = unwrap(args[2]!);
  const accessor = (c: Node | null): boolean =>
    (c?.type === 'method_definition' && /^(get|set|value)$/.test(c.childForFieldName('name')?.text ?? '')) ||
    (c?.type === 'pair' && /^(get|set|value)$/.test(c.childForFieldName('key')?.text ?? '') && JS_FUNCTIONS.has(unwrap(c.childForFieldName('value'))?.type ?? ''));
  const described = value?.type === 'object' && value.namedChildren.some(accessor);
  if (!value || (!JS_FUNCTIONS.has(value.type) && !described)) return undefined;
  return { name, nameNode, node, kind: 'method', qualifier: owner, explicitMember: true };
};

/**
 * A method of an object literal that is named where it stands: `const EventTarget = { addEventListener() {…} }`
 * (EventTarget.addEventListener), `Foo.prototype = { bar: function () {…} }` (Foo.bar), `module.exports = {…}`.
 * Inside a function, the object of a factory counts too: `const fastify = { hasPlugin: function … }` and
 * `return { setup (options) {…} }` define the methods of what the function makes. So do the methods of an
 * object handed to a call, at any depth: `semantics.addOperation('visit', { Lex_lex (_, x) {…} })`,
 * `Object.assign(Foo.prototype, { bar () {…} })` (Foo.bar), when written as methods (`name () {}` or
 * `name: function`): an arrow there is a callback handed over (`result.match({ Ok: (v) => … })`). Nor are a
 * property descriptor's `get`/`set`/`value` (`Object.defineProperty`, `Object.create`), nor a re-export getter
 * (`get foo () { return m.foo }`, `foo: function () { return foo }`). An entry of a named object that is an
 * object holding methods is a namespace of them (objectEntry).
 */
const jsObjectMethod: Rule = (node, place) => {
  const key = objectKey(node);
  if (!key) return undefined;
  const fn = node.type === 'pair' ? unwrap(node.childForFieldName('value')) : node;
  if (fn?.type === 'object') return objectEntry(node, key, fn, place);
  if (!fn || (node.type === 'pair' && !JS_FUNCTIONS.has(fn.type))) return undefined;
  const object = node.parent!;
  const owner = object.parent;
  const method = { name: key.text, nameNode: key, node, kind: 'method' as const, explicitMember: true };
  if (owner?.type === 'arguments') {
    const call = owner.parent;
    const callee = call?.childForFieldName('function') ?? call?.childForFieldName('constructor');
    if (fn.type === 'arrow_function' || DESCRIPTOR_CALLS.test(callee?.text ?? '') || isForwarder(fn, key.text)) return undefined;
    const first = owner.namedChildren.find((c) => c !== null && c.type !== 'comment');
    const target = first && first.id !== object.id ? prototypeOwner(first) : null;
    return { ...method, qualifier: target ?? [] };
  }
  const qualifier = namedObjectQualifier(object, place);
  return qualifier && { ...method, qualifier };
};

/** The key of an entry (`name: …`) or method (`name () {}`) of an object literal, when it is a plain name. */
function objectKey(node: Node): Node | undefined {
  if (node.parent?.type !== 'object') return undefined;
  const key = node.type === 'pair' ? node.childForFieldName('key') : node.childForFieldName('name');
  return key && (key.type === 'property_identifier' || key.type === 'identifier') ? key : undefined;
}

/**
 * How the methods of an object literal are qualified when it is named where it stands: `const X = {…}` (X),
 * `return {…}` (nothing: what a factory makes), at module level `Foo.prototype = {…}` (Foo) and
 * `module.exports = {…}` (nothing); an entry of such an object that is a namespace (objectEntry) qualifies
 * its methods itself. Undefined when the object is not named (a value, an object handed to a call).
 */
function namedObjectQualifier(object: Node, place: Place): string[] | undefined {
  const owner = object.parent;
  if (owner?.type === 'variable_declarator' && owner.childForFieldName('name')?.type === 'identifier') return [owner.childForFieldName('name')!.text];
  // What a factory makes; a return is always inside a function, whatever mode the walk is in there.
  if (owner?.type === 'return_statement') return [];
  if (owner?.type === 'pair') {
    const key = objectKey(owner);
    return key && objectEntry(owner, key, object, place) ? [] : undefined;
  }
  const left = owner?.type === 'assignment_expression' && !place.inFunction ? owner.childForFieldName('left')!.text : '';
  if (!IDENTIFIER_PATH.test(left)) return undefined;
  return left === 'module.exports' || left === 'exports' ? [] : left.split('.').filter((p) => p !== 'prototype');
}

/**
 * An entry of a named object whose value is an object holding methods (`module.exports = { gb18030: { table:
 * function … } }`): a namespace, the variable gb18030, and its methods are gb18030.table. An entry holding data
 * (`encodeAdd: { '€': 0xA2E3 }`) is a value, as `limit: 3` is.
 */
function objectEntry(entry: Node, key: Node, value: Node, place: Place): Match | undefined {
  const qualifier = holdsMethods(value) ? namedObjectQualifier(entry.parent!, place) : undefined;
  // The walk qualifies what is inside by the entry, and reads it as members, not as a value's body.
  return qualifier && { name: key.text, nameNode: key, node: entry, kind: 'variable', qualifier, members: true, explicitMember: true };
}

/** An object literal with a method (`m () {}`, `m: function`, `m: () =>`) among its entries, or in an entry that is an object. */
function holdsMethods(object: Node): boolean {
  return object.namedChildren.some((c) => {
    if (!c || !objectKey(c)) return false;
    if (c.type === 'method_definition') return true;
    const value = unwrap(c.childForFieldName('value'));
    return !!value && (JS_FUNCTIONS.has(value.type) || (value.type === 'object' && holdsMethods(value)));
  });
}

/** A class field; one holding a function is a method. */
const jsField =
  (field: string): Rule =>
  (node) => {
    const value = unwrap(node.childForFieldName('value'));
    return named(node, value && JS_FUNCTIONS.has(value.type) ? 'method' : 'field', { field });
  };

/**
 * `(function (sax) { … })(exports)`, `!function () { … }()`, `(function () { … }).call(this)`: a statement that
 * only calls a function expression is how UMD builds and older libraries (lodash, sax) scope a whole module.
 */
function isModuleIife(node: Node): boolean {
  if (node.type !== 'function_expression' && node.type !== 'function' && node.type !== 'arrow_function') return false;
  const up = (n: Node): Node | null => {
    let p = n.parent;
    while (p?.type === 'parenthesized_expression') p = p.parent;
    return p;
  };
  let call = up(node);
  if (call?.type === 'member_expression' && /^(call|apply)$/.test(call.childForFieldName('property')?.text ?? '')) call = up(call);
  if (call?.type !== 'call_expression') return false;
  let statement = up(call);
  if (statement?.type === 'unary_expression') statement = up(statement);
  return statement?.type === 'expression_statement' && statement.parent?.type === 'program';
}

const javascript: RuleSet = {
  functions: new Set([...JS_FUNCTIONS, 'method_definition']),
  moduleWrapper: isModuleIife,
  byType: new Map<string, Rule>([
    ['function_declaration', def('function')],
    ['generator_function_declaration', def('function')],
    ['class_declaration', def('class', true)],
    // Methods of object literals count only when the object is named (jsObjectMethod).
    ['method_definition', (node, place) => (node.parent?.type === 'class_body' ? named(node, 'method') : jsObjectMethod(node, place))],
    ['pair', jsObjectMethod],
    ['field_definition', jsField('property')],
    ['variable_declarator', jsVariable],
    ['assignment_expression', jsAssignment],
    ['call_expression', jsDefiningCall],
  ]),
};

const typescript: RuleSet = {
  functions: javascript.functions,
  moduleWrapper: isModuleIife,
  byType: new Map<string, Rule>([
    ...javascript.byType,
    ['abstract_class_declaration', def('class', true)],
    ['interface_declaration', def('interface', true)],
    ['type_alias_declaration', def('type')],
    ['enum_declaration', def('enum', true)],
    ['internal_module', def('module', true)],
    ['module', def('module', true)],
    // Overload signatures and `declare function` (the only form in .d.ts files).
    ['function_signature', def('function')],
    ['method_signature', def('method')],
    ['abstract_method_signature', def('method')],
    ['property_signature', def('field')],
    ['public_field_definition', jsField('name')],
  ]),
};

// Python -----------------------------------------------------------------------------------------------------

/** A def or class, with its docstring (the first statement of its body, when that is a string). */
const pyDefinition =
  (kind: DefinitionKind, members: boolean): Rule =>
  (node) => {
    const m = named(node, kind, { members });
    const first = node.childForFieldName('body')?.namedChildren.find((c) => c !== null && c.type !== 'comment');
    const literal = first?.type === 'expression_statement' ? first.namedChild(0) : null;
    return m && literal?.type === 'string' ? { ...m, doc: docstringText(literal.text) } : m;
  };

const python: RuleSet = {
  functions: new Set(['lambda']),
  byType: new Map<string, Rule>([
    ['function_definition', pyDefinition('function', false)],
    ['class_definition', pyDefinition('class', true)],
    [
      'assignment',
      (node, place) => {
        const left = node.childForFieldName('left');
        if (node.parent?.type !== 'expression_statement' || left?.type !== 'identifier') return undefined;
        const kind = place.inClass ? 'field' : /^[A-Z][A-Z0-9_]*$/.test(left.text) ? 'constant' : 'variable';
        return { name: left.text, nameNode: left, node, kind };
      },
    ],
  ]),
};

// Go ---------------------------------------------------------------------------------------------------------

const go: RuleSet = {
  functions: new Set(['func_literal']),
  byType: new Map<string, Rule>([
    ['function_declaration', def('function')],
    [
      'method_declaration',
      (node) => {
        const m = named(node, 'method');
        const receiver = node.childForFieldName('receiver')?.namedChildren.find((c) => c?.type === 'parameter_declaration');
        const type = receiver?.childForFieldName('type');
        return m && type ? { ...m, qualifier: [typeName(type.text)] } : m;
      },
    ],
    [
      'type_spec',
      (node) => {
        const type = node.childForFieldName('type')?.type;
        const kind = type === 'struct_type' ? 'struct' : type === 'interface_type' ? 'interface' : 'type';
        return named(node, kind, { members: kind !== 'type' });
      },
    ],
    ['type_alias', def('type')],
    ['const_spec', (node) => each(node, node.childrenForFieldName('name'), 'constant')],
    ['var_spec', (node) => each(node, node.childrenForFieldName('name'), 'variable')],
    ['field_declaration', (node) => each(node, node.childrenForFieldName('name'), 'field')],
    ['method_elem', def('method')],
    ['method_spec', def('method')],
  ]),
};

// Rust -------------------------------------------------------------------------------------------------------

const rust: RuleSet = {
  functions: new Set(['closure_expression']),
  byType: new Map<string, Rule>([
    ['function_item', def('function')],
    ['function_signature_item', def('function')],
    ['struct_item', def('struct', true)],
    ['union_item', def('struct', true)],
    ['enum_item', def('enum', true)],
    ['trait_item', def('trait', true)],
    [
      'impl_item',
      (node) => {
        const type = node.childForFieldName('type');
        return type ? { scope: [typeName(type.text)] } : undefined;
      },
    ],
    ['mod_item', (node) => named(node, 'module', { members: node.childForFieldName('body') !== null })],
    ['const_item', def('constant')],
    ['static_item', def('variable')],
    ['type_item', def('type')],
    ['macro_definition', def('macro')],
    ['field_declaration', def('field')],
  ]),
};

// Java -------------------------------------------------------------------------------------------------------

const declaratorNames = (node: Node): (Node | null)[] => node.childrenForFieldName('declarator').map((d) => d?.childForFieldName('name') ?? null);

const java: RuleSet = {
  functions: new Set(['lambda_expression']),
  byType: new Map<string, Rule>([
    ['class_declaration', def('class', true)],
    ['record_declaration', def('class', true)],
    ['interface_declaration', def('interface', true)],
    ['annotation_type_declaration', def('interface', true)],
    ['enum_declaration', def('enum', true)],
    ['method_declaration', def('method')],
    ['constructor_declaration', def('method')],
    ['field_declaration', (node) => each(node, declaratorNames(node), 'field')],
    ['constant_declaration', (node) => each(node, declaratorNames(node), 'constant')],
  ]),
};

// C and C++ (one grammar) ------------------------------------------------------------------------------------

/** Declarator nodes that name a function (not `(*fp)`, a function pointer). */
const C_FUNCTION_NAMES = new Set(['identifier', 'field_identifier', 'qualified_identifier', 'destructor_name', 'operator_name', 'template_function']);

/** The declarator at the end of a chain (pointer, reference, array, parentheses, init): what is declared. */
function innermost(declarator: Node | null): Node | null {
  let d = declarator;
  for (;;) {
    const next = d?.childForFieldName('declarator') ?? (d?.type === 'parenthesized_declarator' ? d.namedChild(0) : null);
    if (!next) return d;
    d = next;
  }
}

/** A function (definition or prototype) named by its declarator; `A::b` is the method b of A. */
function cFunction(node: Node, kind: DefinitionKind): Match | undefined {
  let declarator = node.childForFieldName('declarator');
  while (declarator && declarator.type !== 'function_declarator') declarator = declarator.childForFieldName('declarator');
  const nameNode = declarator?.childForFieldName('declarator');
  if (!nameNode || !C_FUNCTION_NAMES.has(nameNode.type)) return undefined;
  let text = nameNode.text;
  for (let prev = ''; prev !== text; ) [prev, text] = [text, text.replace(/<[^<>]*>/g, '')]; // template arguments
  const parts = text.split('::').map((p) => p.trim()).filter((p) => p !== '');
  const name = parts.pop() ?? text;
  return parts.length > 0 ? { name, nameNode, node, kind: 'method', qualifier: parts } : { name, nameNode, node, kind };
}

/** Variables or fields a declaration declares (`int a, *b[3];`). */
const cNames = (node: Node, kind: DefinitionKind): Match[] =>
  each(
    node,
    node.childrenForFieldName('declarator').map((d) => innermost(d)).filter((d) => d !== null && /identifier$/.test(d.type)),
    kind,
  );

/** A class, struct, union or enum with a body (not a mere use of the type: `struct node *p`). */
const cType =
  (kind: DefinitionKind): Rule =>
  (node) =>
    node.childForFieldName('body') ? named(node, kind, { members: true }) : undefined;

const cpp: RuleSet = {
  functions: new Set(['lambda_expression']),
  byType: new Map<string, Rule>([
    ['function_definition', (node) => cFunction(node, 'function')],
    ['declaration', (node) => cFunction(node, 'function') ?? cNames(node, 'variable')],
    ['field_declaration', (node, place) => cFunction(node, 'method') ?? (place.inClass ? cNames(node, 'field') : undefined)],
    ['class_specifier', cType('class')],
    ['struct_specifier', cType('struct')],
    ['union_specifier', cType('struct')],
    ['enum_specifier', cType('enum')],
    [
      'namespace_definition',
      (node) => {
        const m = named(node, 'module', { members: true });
        return m && { ...m, name: moduleName(m.name) };
      },
    ],
    ['type_definition', (node) => cNames(node, 'type')],
    ['alias_declaration', def('type')],
    ['preproc_def', def('constant')],
    ['preproc_function_def', def('macro')],
  ]),
};

// C# ---------------------------------------------------------------------------------------------------------

const csharp: RuleSet = {
  functions: new Set(['lambda_expression', 'anonymous_method_expression']),
  byType: new Map<string, Rule>([
    ['namespace_declaration', def('module', true)],
    [
      'file_scoped_namespace_declaration',
      (node) => {
        const name = node.childForFieldName('name');
        return name ? { scope: [name.text], siblings: true } : undefined;
      },
    ],
    ['class_declaration', def('class', true)],
    ['record_declaration', def('class', true)],
    ['struct_declaration', def('struct', true)],
    ['interface_declaration', def('interface', true)],
    ['enum_declaration', def('enum', true)],
    ['method_declaration', def('method')],
    ['constructor_declaration', def('method')],
    ['destructor_declaration', def('method')],
    ['local_function_statement', def('function')],
    ['property_declaration', def('field')],
    [
      'field_declaration',
      (node) => {
        const declarators = node.namedChildren.find((c) => c?.type === 'variable_declaration')?.namedChildren ?? [];
        return each(node, declarators.filter((d) => d?.type === 'variable_declarator').map((d) => d!.childForFieldName('name')), 'field');
      },
    ],
    ['delegate_declaration', def('type')],
  ]),
};

// Ruby -------------------------------------------------------------------------------------------------------

/** `class A::B` is B, qualified by A. */
const rubyModule =
  (kind: DefinitionKind): Rule =>
  (node) => {
    const m = named(node, kind, { members: true });
    if (!m) return undefined;
    const parts = m.name.split('::');
    const name = parts.pop()!;
    return parts.length > 0 ? { ...m, name, qualifier: parts } : m;
  };

const ruby: RuleSet = {
  functions: new Set(['block', 'do_block', 'lambda']),
  byType: new Map<string, Rule>([
    ['class', rubyModule('class')],
    ['module', rubyModule('module')],
    ['method', def('function')],
    [
      'singleton_method',
      (node) => {
        const m = named(node, 'method');
        const object = node.childForFieldName('object');
        return m && object && object.type !== 'self' ? { ...m, qualifier: [object.text] } : m;
      },
    ],
    [
      'assignment',
      (node) => {
        const left = node.childForFieldName('left');
        return left?.type === 'constant' ? { name: left.text, nameNode: left, node, kind: 'constant' } : undefined;
      },
    ],
  ]),
};

// PHP --------------------------------------------------------------------------------------------------------

const php: RuleSet = {
  functions: new Set(['anonymous_function', 'anonymous_function_creation_expression', 'arrow_function']),
  byType: new Map<string, Rule>([
    [
      'namespace_definition',
      (node) => {
        const nameNode = node.childForFieldName('name');
        if (!nameNode) return undefined;
        const name = moduleName(nameNode.text);
        // `namespace A;` covers the rest of the file; `namespace A { … }` its block.
        return node.childForFieldName('body') ? { name, nameNode, node, kind: 'module', members: true } : { scope: [name], siblings: true };
      },
    ],
    ['class_declaration', def('class', true)],
    ['interface_declaration', def('interface', true)],
    ['trait_declaration', def('trait', true)],
    ['enum_declaration', def('enum', true)],
    ['function_definition', def('function')],
    ['method_declaration', def('method')],
    [
      'const_declaration',
      (node) => {
        const elements = node.namedChildren.filter((c) => c?.type === 'const_element');
        return each(node, elements.map((e) => e!.namedChildren.find((c) => c?.type === 'name')), 'constant');
      },
    ],
    [
      'property_declaration',
      (node) =>
        node.namedChildren
          .filter((c) => c?.type === 'property_element')
          .map((e) => e!.childForFieldName('name'))
          .filter(present)
          .map((nameNode): Match => ({ name: nameNode.text.replace(/^\$/, ''), nameNode, node, kind: 'field' })),
    ],
  ]),
};

// Bash, CSS --------------------------------------------------------------------------------------------------

const bash: RuleSet = {
  functions: new Set(),
  byType: new Map<string, Rule>([['function_definition', def('function')]]),
};

/** A rule set is named by its selectors (`.btn, .btn-primary:hover`), @keyframes by their name. */
const css: RuleSet = {
  functions: new Set(),
  byType: new Map<string, Rule>([
    [
      'rule_set',
      (node) => {
        const selectors = node.namedChildren.find((c) => c?.type === 'selectors');
        return selectors ? { name: selectors.text.replace(/\s+/g, ' ').trim(), nameNode: selectors, node, kind: 'rule' } : undefined;
      },
    ],
    [
      'keyframes_statement',
      (node) => {
        const name = node.namedChildren.find((c) => c?.type === 'keyframes_name');
        return name ? { name: name.text, nameNode: name, node, kind: 'rule' } : undefined;
      },
    ],
  ]),
};

export const RULES: Record<ParsedLanguage, RuleSet> = {
  javascript,
  typescript,
  tsx: typescript,
  python,
  go,
  rust,
  java,
  c: cpp,
  cpp,
  csharp,
  ruby,
  php,
  bash,
  css,
};
