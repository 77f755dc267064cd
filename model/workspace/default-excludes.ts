/**
 * The files a walk skips unless a client says otherwise (WalkOptions.defaultExcludes, reason
 * 'default-excluded'): gitignore syntax, matched without regard to case at any depth, against files only (`NEWS`
 * names a changelog, `src/news/` a folder of code). One list for the engine's walker and the extension's setting
 * `famulus.defaultExcludes` (whose default in package.json a unit test holds to this list); a module with no
 * node built-ins, so the extension can import it.
 *
 * Changelogs and lock files are long and say little about the code: express 4.21.2's History.md alone is
 * 115 KB, half of the package, and it was read first. Names are matched with their usual extensions only, so
 * `history.js` or `changes.ts` (code) are read. Build output folders (`dist/`, `build/`, `out/`, `coverage/`)
 * are not listed: a package from npm often ships only `dist/`, and `coverage/` is the source of coverage.py.
 * Minified bundles in them are found by their content (WalkOptions.skipMinified), and such folders are
 * usually in `.gitignore`.
 */
export const DEFAULT_EXCLUDES: readonly string[] = [
  // Changelogs and release notes.
  ...['CHANGELOG', 'CHANGES', 'HISTORY', 'NEWS', 'RELEASES'].flatMap((name) => [name, `${name}.md`, `${name}.txt`, `${name}.rst`]),
  // Lock files of package managers.
  'package-lock.json',
  'npm-shrinkwrap.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'bun.lock',
  'deno.lock',
  'Cargo.lock',
  'poetry.lock',
  'Pipfile.lock',
  'uv.lock',
  'pdm.lock',
  'Gemfile.lock',
  'composer.lock',
  'go.sum',
  'flake.lock',
  'Podfile.lock',
  'pubspec.lock',
  'mix.lock',
  'packages.lock.json',
  // Minified files and source maps.
  '*.min.js',
  '*.min.mjs',
  '*.min.cjs',
  '*.min.css',
  '*.map',
];
