/** Waiting in the extension-host suites, shared by every suite that drives the extension. */
import type { FamulusApi } from '../../extension/extension';

/**
 * Polls `check` every 50 ms until it holds. A timeout names what was awaited and where the extension stood (its
 * memory status and engine pid), which is what a failed wait needs to be understood from a CI log.
 */
export async function waitUntil(api: FamulusApi, what: string, check: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; memory: ${JSON.stringify(api.memoryStatus())}, engine pid ${api.enginePid()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
