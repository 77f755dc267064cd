/**
 * Team memory in VS Code (docs/team-memory.md): where this folder's bundle is (`famulus.teamMemory.source` with
 * `${commit}` replaced by the HEAD commit that VS Code's built-in git extension reports), and when to use it:
 * when the folder has no memory, or one that came from another commit's bundle. The engine fetches and checks
 * it (workspace/import). Never called in Restricted Mode.
 */
import * as vscode from 'vscode';
import { BundleError } from '../model/bundle/format';
import { COMMIT_PLACEHOLDER, describeSource, expandSource, parseSource } from '../model/bundle/source';
import type { StateSummary } from '../model/engine/protocol';

/** The part of the git extension's API (vscode.git, getAPI(1)) used here. */
interface GitRepository {
  getCommit(ref: string): Thenable<{ hash: string }>;
}
interface GitApi {
  getRepository(uri: vscode.Uri): GitRepository | null;
  openRepository?(root: vscode.Uri): Thenable<GitRepository | null>;
}

/**
 * The HEAD commit of the folder's git repository, or null (no git extension, no repository, no commit yet).
 * Throws a BundleError when VS Code's git support is off or git is missing, which the user can change.
 */
export async function headCommit(folder: vscode.Uri): Promise<string | null> {
  const ext = vscode.extensions.getExtension<{ getAPI(version: 1): GitApi }>('vscode.git');
  if (!ext) return null;
  let api: GitApi;
  try {
    api = (ext.isActive ? ext.exports : await ext.activate()).getAPI(1);
  } catch {
    // With `git.enabled` false, or no git installed, the extension has no model and getAPI throws "Git model not found".
    throw new BundleError('unavailable', `the bundle source names ${COMMIT_PLACEHOLDER}, and VS Code's git support is off (setting git.enabled) or git is not installed, so the folder's commit is unknown`);
  }
  // Repositories are discovered after activation: ask for this folder's, and open it if it is not known yet.
  const repo = api.getRepository(folder) ?? (await api.openRepository?.(folder)) ?? null;
  if (!repo) return null;
  // Asked of git now, not read from the repository's state: that is refreshed a moment after .git changes (and
  // after a repository is opened), so just after a commit or a checkout it names the commit before, or none.
  try {
    return (await repo.getCommit('HEAD')).hash;
  } catch {
    return null; // HEAD names no commit yet
  }
}

/**
 * The bundle source for this folder now (a relative path taken from the folder), or null when the setting is
 * empty. Throws a BundleError when `${commit}` has no value or the source is not allowed (a scheme, plain http).
 */
export async function bundleSourceFor(folder: vscode.Uri, template: string): Promise<string | null> {
  if (template === '') return null;
  const commit = template.includes(COMMIT_PLACEHOLDER) ? await headCommit(folder) : null;
  const source = parseSource(expandSource(template, commit), folder.fsPath);
  return source.kind === 'file' ? source.path : source.url.href;
}

/** Whether a team bundle should replace what the folder holds: nothing, or another bundle than `source`'s. */
export function wantsBundle(state: StateSummary | null, source: string): boolean {
  if (!state || state.files === 0) return true;
  return state.origin !== null && state.origin.source !== describeSource(parseSource(source));
}

/** "memory from CI at abc1234 + 3 local changes" */
export function originText(state: StateSummary | null): string {
  const o = state?.origin;
  if (!o) return '';
  const changes = o.localChanges === 1 ? '1 local change' : `${o.localChanges} local changes`;
  return `memory from CI at ${o.commit ? o.commit.slice(0, 7) : o.sha256.slice(0, 7)} + ${changes}`;
}

/** The status bar's short form: "CI abc1234 +3". */
export function originBadge(state: StateSummary | null): string {
  const o = state?.origin;
  return o ? `CI ${o.commit ? o.commit.slice(0, 7) : o.sha256.slice(0, 7)} +${o.localChanges}` : '';
}
