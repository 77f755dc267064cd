/**
 * Where a bundle comes from: a local path, or a URL. A setting may name it with `${commit}` in it, replaced by
 * the workspace's git HEAD commit (CI publishes one bundle per commit). Only https is fetched; plain http only
 * from this machine (a local server, a test), since a bundle is code's memory and a network path is no place
 * for it to be changed on the way.
 */
import * as path from 'node:path';
import { BundleError } from './format';

export type BundleSource = { kind: 'file'; path: string } | { kind: 'url'; url: URL };

/** The placeholder a source may hold for the commit. */
export const COMMIT_PLACEHOLDER = '${commit}';
const COMMIT = /^[0-9a-f]{7,64}$/;
const SCHEME = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//;

/** The source with `${commit}` replaced; refused when it needs a commit and there is none (or no hex one). */
export function expandSource(template: string, commit: string | null): string {
  if (!template.includes(COMMIT_PLACEHOLDER)) return template;
  if (commit === null) throw new BundleError('unavailable', `the bundle source ${template} names ${COMMIT_PLACEHOLDER}, and the workspace has no git commit`);
  if (!COMMIT.test(commit)) throw new BundleError('unavailable', `${JSON.stringify(commit)} is not a git commit id`);
  return template.split(COMMIT_PLACEHOLDER).join(commit);
}

/** Whether a URL's host is this machine (http is allowed to it only). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Why a URL may not be fetched, or undefined: https anywhere, http to this machine only, nothing else. */
export function urlProblem(url: URL): string | undefined {
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') return isLoopbackHost(url.hostname) ? undefined : 'plain http is fetched only from this machine (localhost); use https';
  return `${url.protocol} URLs are not fetched; use https, or a path`;
}

/** A source as typed (a path, relative to `base`, or a URL), checked; throws BundleError 'unavailable'. */
export function parseSource(text: string, base: string = process.cwd()): BundleSource {
  if (!SCHEME.test(text)) return { kind: 'file', path: path.resolve(base, text) };
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BundleError('unavailable', `${text} is not a valid URL`);
  }
  const problem = urlProblem(url);
  if (problem) throw new BundleError('unavailable', `${url.origin}: ${problem}`);
  if (url.username || url.password) throw new BundleError('unavailable', `${url.origin}: a URL with credentials is refused (nothing but the request is sent)`);
  return { kind: 'url', url };
}

/** A source for messages and provenance: a URL without its query (which may hold a token), or the path. */
export function describeSource(source: BundleSource): string {
  return source.kind === 'file' ? source.path : `${source.url.origin}${source.url.pathname}`;
}
