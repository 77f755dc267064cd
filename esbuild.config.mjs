// Bundles the product into dist/: the CLI, the engine process, the VS Code extension and the webview scripts.
// The tools that measure it (benchmark, GPU check) build apart, into out/tools/, and never enter the .vsix.
// onnxruntime-node (a native addon) and vscode stay external.
import * as esbuild from 'esbuild';
import { existsSync, readdirSync } from 'node:fs';

const watch = process.argv.includes('--watch');

/** Node-side entries: [source, output name]. An entry whose source does not exist yet is skipped. */
const nodeEntries = [
  ['model/cli.ts', 'cli'],
  ['model/engine/server.ts', 'engine'],
  ['extension/extension.ts', 'extension'],
].filter(([src]) => existsSync(src));

/** Measuring tools, run from the repository (`npm run bench`, the GPU machine): [source, output name]. */
const toolEntries = [
  ['test/bench/bench.ts', 'bench'],
  ['test/bench/grounding.ts', 'grounding-bench'],
  ['test/bench/bundle.ts', 'bundle-bench'],
  ['test/gpu/gpu-check.ts', 'gpu-check'],
  ['model/tools/reread-dump.ts', 'reread-dump'],
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
    external: ['vscode', 'onnxruntime-node', '@vscode/tree-sitter-wasm'],
    banner: { js: '#!/usr/bin/env node' },
  },
];
// The tools: the same Node settings and externals as the product's Node build, another output folder.
if (toolEntries.length > 0) {
  const entryPoints = Object.fromEntries(toolEntries.map(([src, out]) => [out, src]));
  builds.push({ ...builds[0], entryPoints, outdir: 'out/tools' });
}
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
