/**
 * One test for "this failed because it was cancelled", whatever cancelled it: an AbortSignal inside the engine
 * (the runtime's and the walker's AbortError), or the engine's 'cancelled' error as a client receives it.
 */
export function isCancellation(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'AbortError' || (err.name === 'EngineError' && (err as Error & { code?: unknown }).code === 'cancelled');
}
