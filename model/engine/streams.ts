/** Small helpers the engine's streaming handlers share. */
import { performance } from 'node:perf_hooks';

export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}

/**
 * Runs `work`, yielding what it emits while it runs (callbacks cannot yield, so they queue), then returns
 * its result. An error of `work` is thrown after the items emitted before it. This is the one place where a
 * callback of the runtime becomes part of an async-iterable stream.
 */
export async function* streamWhile<T, R>(work: (emit: (item: T) => void) => Promise<R>): AsyncGenerator<T, R> {
  const items: T[] = [];
  let finished = false;
  let wake: (() => void) | null = null;
  const done = work((item) => {
    items.push(item);
    wake?.();
  }).finally(() => {
    finished = true;
    wake?.();
  });
  done.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
  for (;;) {
    while (items.length > 0) yield items.shift()!;
    if (finished) return await done;
    await new Promise<void>((resolve) => (wake = resolve));
    wake = null;
  }
}
