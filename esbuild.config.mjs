// Bundles every entry point into dist/: the CLI, the engine process, the benchmark runner, the VS Code
// extension and the webview scripts. onnxruntime-node (a native addon) and vscode stay external.
import * as esbuild from 'esbuild';
import { existsSync, readdirSync } from 'node:fs';

const watch = process.argv.includes('--watch');

/** Node-side entries: [source, output name]. An entry whose source does not exist yet is skipped. */
const nodeEntries = [
  ['model/cli.ts', 'cli'],
  ['model/engine/server.ts', 'engine'],
  ['test/bench/bench.ts', 'bench'],
  ['test/gpu/gpu-check.ts', 'gpu-check'],
  ['extension/extension.ts', 'extension'],
].filter(([src]) => existsSync(src));

/** Browser-side entries (run inside webviews). */
const webEntries = [
  ['webview/chat/main.ts', 'webview/chat'],
  ['webview/summary/main.ts', 'webview/summary'],
].filter(([src]) => existsSync(src));

const common = { bundle: true, sourcemap: true, logLevel: 'warning', legalComments: 'none' };

const builds = [
  {
    ...common,
    entryPoints: Object.fromEntries(nodeEntries.map(([src, out]) => [out, src])),
    outdir: 'dist',
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['vscode', 'onnxruntime-node'],
    banner: { js: '#!/usr/bin/env node' },
  },
];
if (webEntries.length > 0) {
  builds.push({
    ...common,
    entryPoints: Object.fromEntries(webEntries.map(([src, out]) => [out, src])),
    outdir: 'dist',
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    loader: { '.css': 'css' },
  });
}

// The extension-host test suite runs inside VS Code's extension host: each file bundled on its own into
// out/test/ext/ (mocha and vscode come from the host side), so index.js can hand the *.test.js files to mocha.
const extTestDir = 'test/ext';
if (existsSync(extTestDir)) {
  const extTests = readdirSync(extTestDir).filter((f) => f === 'index.ts' || f.endsWith('.test.ts'));
  if (extTests.length > 0) {
    builds.push({
      ...common,
      entryPoints: extTests.map((f) => `${extTestDir}/${f}`),
      outdir: 'out/test/ext',
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      external: ['vscode', 'mocha', 'onnxruntime-node'],
    });
  }
}

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
