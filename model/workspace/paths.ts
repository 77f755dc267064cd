/** Path rules every part of Famulus shares (the walker, the engine's session, the extension's citation check). */
import * as path from 'node:path';

/** True when `p` lies below `root` (both absolute and resolved): not `root` itself, not `..`, not elsewhere. */
export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '' && rel.split(path.sep)[0] !== '..' && !path.isAbsolute(rel);
}
