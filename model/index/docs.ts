/** Doc comments and docstrings as plain text: comment markers and common indentation removed. */

/** Comment text without its markers: `/** … *\/`, leading ` * `, `///`, `//!`, `//`, `#`; blank edges dropped. */
export function cleanComments(comments: string[], language: string): string {
  const lines: string[] = [];
  for (const comment of comments) {
    const block = comment.startsWith('/*');
    const body = block ? comment.replace(/^\/\*+!?/, '').replace(/\*+\/$/, '') : comment;
    for (const line of body.split('\n')) {
      lines.push(block ? line.replace(/^\s*\*(?!\/) ?/, '') : line.replace(/^\s*(\/\/[/!]?|#+) ?/, ''));
    }
  }
  let doc = lines.join('\n');
  // C# doc comments are XML: keep the text, drop the tags.
  if (language === 'csharp') doc = doc.replace(/<\/?[A-Za-z][^>]*>/g, '');
  return dedent(doc);
}

/** A Python docstring's text: the string literal without its prefix and quotes, dedented. */
export function docstringText(literal: string): string {
  const m = /^[rRuUbBfF]{0,2}("""|'''|"|')([\s\S]*?)\1$/.exec(literal);
  return dedent(m ? m[2]! : literal);
}

/** Drops blank lines at both ends, trailing spaces, and the indentation the lines after the first share. */
function dedent(text: string): string {
  const lines = text.replace(/\r/g, '').split('\n').map((l) => l.trimEnd());
  while (lines.length > 0 && lines[0] === '') lines.shift();
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) return '';
  let indent = Infinity;
  for (const l of lines.slice(1)) if (l !== '') indent = Math.min(indent, l.length - l.trimStart().length);
  if (indent === Infinity) indent = 0;
  return [lines[0]!.trim(), ...lines.slice(1).map((l) => l.slice(indent))].join('\n');
}
