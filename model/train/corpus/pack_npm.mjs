// Pack JavaScript/TypeScript sources and docs from well-known, permissively licensed npm packages into one
// archive for the training corpus (model/train/README.md, "Corpus"). Runs on the development machine, which
// reaches the npm registry; the GPU machine reaches nothing, so the archive travels with `run`'s `carry`.
//
//   node model/train/corpus/pack_npm.mjs [--latest]   -> model/train/corpus/data/npm.tar.xz (git-ignored) and
//                                                        model/train/corpus/npm-manifest.json (committed)
//
// The versions recorded in npm-manifest.json are packed again, so a fresh development machine rebuilds the corpus
// the shipped model was trained on; --latest packs each package's newest version instead and records it.
// Each package is fetched with `npm pack NAME` (the exact tarball npm would install), its licence is read from
// its own package.json, and only text files that look like hand-written source or docs are kept. The archive holds
// `npm/NAME@VERSION/<path in package>` plus `npm/manifest.json` (name, version, licence, files, bytes per package).
// Cleaning that needs the whole corpus (dedup across packages, the held-out split) happens in build_corpus.py.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const HERE = path.dirname(new URL(import.meta.url).pathname);
const OUT_DIR = path.join(HERE, "data");

// Packages to pack: popular, permissively licensed, mostly hand-written TypeScript/JavaScript and Markdown.
const PACKAGES = [
  "typescript", "@types/node", "@types/react", "@types/express", "@types/lodash", "@types/jest", "@types/mocha",
  "lodash", "underscore", "ramda", "immutable", "immer", "rxjs", "fp-ts", "io-ts", "zod", "yup", "joi", "ajv",
  "express", "koa", "fastify", "body-parser", "cookie-parser", "morgan", "cors", "helmet", "ws", "socket.io",
  "axios", "node-fetch", "got", "superagent", "undici",
  "react", "react-dom", "react-router", "redux", "@reduxjs/toolkit", "mobx", "preact", "vue", "@vue/runtime-core",
  "@vue/reactivity", "@vue/compiler-core", "svelte", "lit", "jquery", "backbone", "d3-array", "d3-scale",
  "d3-selection", "d3-shape", "chart.js", "three",
  "eslint", "prettier", "webpack", "rollup", "vite", "esbuild", "postcss", "autoprefixer", "less", "tslib",
  "jest", "jest-circus", "expect", "@jest/core", "mocha", "chai", "sinon", "ava", "tap", "vitest",
  "date-fns", "dayjs", "luxon", "moment", "uuid", "semver", "minimist", "yargs", "commander", "chalk", "debug",
  "glob", "minimatch", "micromatch", "chokidar", "fs-extra", "rimraf", "mkdirp", "async", "bluebird", "p-limit",
  "marked", "markdown-it", "highlight.js", "acorn", "@babel/parser", "@babel/traverse", "@babel/types", "esprima",
  "estraverse", "handlebars", "ejs", "pug", "nunjucks", "mustache", "cheerio", "htmlparser2", "js-yaml", "yaml",
  "toml", "ini", "dotenv", "winston", "pino", "bunyan", "graphql", "knex", "sequelize", "mongoose", "pg", "mysql",
  "redis", "ioredis", "inversify", "class-validator", "reflect-metadata", "vscode-languageserver",
  "vscode-languageserver-protocol", "vscode-jsonrpc", "vscode-uri", "jsonc-parser", "node-forge", "bn.js",
  "big.js", "decimal.js", "mathjs", "lru-cache", "eventemitter3", "nanoid", "qs", "cookie", "mime", "ms",
  "path-to-regexp", "serve-static", "http-proxy", "source-map", "terser", "uglify-js", "clean-css", "csstype",
];

// Licences (SPDX ids) this corpus accepts; anything else is skipped and recorded as such in the manifest.
const PERMISSIVE = new Set(["MIT", "ISC", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "0BSD", "Unlicense",
  "CC0-1.0", "BlueOak-1.0.0", "Python-2.0", "WTFPL", "Zlib"]);

const TEXT_EXT = /\.(js|mjs|cjs|jsx|ts|mts|cts|tsx|md|markdown|txt|vue|svelte)$/i;
const MAX_FILE_BYTES = 512 * 1024; // larger files are generated bundles or data, not code to learn from
const MAX_PACKAGE_BYTES = 6 * 1024 * 1024; // keep any one package (typescript, three) from dominating
const MAX_TOTAL_BYTES = 160 * 1024 * 1024; // about 25 MiB once xz-compressed

function licenceOf(pkg) {
  let lic = pkg.license ?? pkg.licenses ?? "";
  if (Array.isArray(lic)) lic = lic.map((l) => l.type ?? l).join(" OR ");
  if (typeof lic === "object") lic = lic.type ?? "";
  return String(lic).replace(/[()]/g, "").trim();
}

function isPermissive(lic) {
  // "MIT OR Apache-2.0" is fine if any alternative is permissive; "MIT AND X" needs every part to be.
  if (lic.includes(" OR ")) return lic.split(" OR ").some((p) => isPermissive(p.trim()));
  if (lic.includes(" AND ")) return lic.split(" AND ").every((p) => isPermissive(p.trim()));
  return PERMISSIVE.has(lic);
}

// Minified or generated: long lines on average, or any extremely long line.
function looksMinified(text) {
  const lines = text.split("\n");
  const longest = lines.reduce((m, l) => Math.max(m, l.length), 0);
  return text.length / lines.length > 200 || longest > 4000;
}

function walk(dir) {
  const out = [];
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) out.push(...walk(p));
    else if (ent.isFile()) out.push(p);
  }
  return out.sort();
}

// NAME -> the version npm-manifest.json recorded for it (none with --latest, or for a package not packed before).
function pinnedVersions(latest) {
  const file = path.join(HERE, "npm-manifest.json");
  if (latest || !fs.existsSync(file)) return new Map();
  return new Map(JSON.parse(fs.readFileSync(file, "utf8")).filter((e) => e.version).map((e) => [e.name, e.version]));
}

function main() {
  const pinned = pinnedVersions(process.argv.includes("--latest"));
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "famulus-npm-"));
  const stage = path.join(work, "stage", "npm");
  fs.mkdirSync(stage, { recursive: true });
  const manifest = [];
  let total = 0;
  for (const name of PACKAGES) {
    if (total >= MAX_TOTAL_BYTES) {
      manifest.push({ name, skipped: "corpus size cap reached" });
      continue;
    }
    let info;
    try {
      const spec = pinned.has(name) ? `${name}@${pinned.get(name)}` : name;
      const json = execFileSync("npm", ["pack", spec, "--json", "--pack-destination", work],
        { cwd: work, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      info = JSON.parse(json)[0];
    } catch (err) {
      manifest.push({ name, skipped: `npm pack failed: ${String(err.message).split("\n")[0]}` });
      continue;
    }
    const unpack = path.join(work, "unpack");
    fs.rmSync(unpack, { recursive: true, force: true });
    fs.mkdirSync(unpack);
    execFileSync("tar", ["-xzf", path.join(work, info.filename), "-C", unpack]);
    const root = path.join(unpack, fs.readdirSync(unpack)[0]); // usually "package/"
    const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
    const licence = licenceOf(pkg);
    const entry = { name: pkg.name, version: pkg.version, license: licence, files: 0, bytes: 0 };
    if (!isPermissive(licence)) {
      manifest.push({ ...entry, skipped: `licence ${JSON.stringify(licence)} not in the permissive list` });
      continue;
    }
    const dest = path.join(stage, `${pkg.name.replace("/", "__")}@${pkg.version}`);
    for (const file of walk(root)) {
      const rel = path.relative(root, file);
      if (!TEXT_EXT.test(rel) || /\.min\.|\.map$|(^|\/)(node_modules)\//.test(rel)) continue;
      const size = fs.statSync(file).size;
      if (size === 0 || size > MAX_FILE_BYTES || entry.bytes + size > MAX_PACKAGE_BYTES) continue;
      const text = fs.readFileSync(file, "utf8");
      if (text.includes("\u0000") || looksMinified(text)) continue;
      fs.mkdirSync(path.dirname(path.join(dest, rel)), { recursive: true });
      fs.writeFileSync(path.join(dest, rel), text);
      entry.files += 1;
      entry.bytes += size;
    }
    total += entry.bytes;
    manifest.push(entry);
    console.log(`${pkg.name}@${pkg.version} ${licence} files=${entry.files} bytes=${entry.bytes} total=${total}`);
  }
  fs.writeFileSync(path.join(stage, "manifest.json"), JSON.stringify(manifest, null, 1) + "\n");
  fs.writeFileSync(path.join(HERE, "npm-manifest.json"), JSON.stringify(manifest, null, 1) + "\n");
  const archive = path.join(OUT_DIR, "npm.tar.xz");
  execFileSync("tar", ["-cJf", archive, "-C", path.join(work, "stage"), "npm"], { env: { ...process.env, XZ_OPT: "-9 -T2" } });
  fs.rmSync(work, { recursive: true, force: true });
  const kept = manifest.filter((e) => !e.skipped);
  console.log(`packed ${kept.length} packages, ${total} bytes of text -> ${archive} ` +
    `(${(fs.statSync(archive).size / 2 ** 20).toFixed(1)} MiB)`);
}

main();
