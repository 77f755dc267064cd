/**
 * Small lifecycle helpers in the shape of VS Code's own (src/vs/base/common/lifecycle.ts, async.ts):
 * a Disposable base that owns what it registers, a CancellationToken → AbortSignal bridge, and a
 * debouncer.
 */
import type * as vscode from 'vscode';

export interface IDisposable {
  dispose(): void;
}

export abstract class Disposable implements IDisposable {
  private readonly owned: IDisposable[] = [];
  private disposed = false;

  protected register<T extends IDisposable>(d: T): T {
    if (this.disposed) d.dispose();
    else this.owned.push(d);
    return d;
  }

  protected get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const d of this.owned.splice(0).reverse()) {
      try {
        d.dispose();
      } catch (err) {
        console.error(`famulus: dispose failed: ${(err as Error).message}`);
      }
    }
  }
}

export function toDisposable(fn: () => void): IDisposable {
  return { dispose: fn };
}

/** An AbortSignal that aborts when the token is cancelled (the engine client cancels by AbortSignal). */
export function toAbortSignal(token: vscode.CancellationToken | undefined): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  if (!token) return { signal: controller.signal, dispose: () => undefined };
  if (token.isCancellationRequested) controller.abort();
  const sub = token.onCancellationRequested(() => controller.abort());
  return { signal: controller.signal, dispose: () => sub.dispose() };
}

/**
 * Waits until calls stop coming for `delayMs`, then runs the latest task once (VS Code's Delayer): a burst
 * of saves becomes one memory update.
 */
export class Debouncer implements IDisposable {
  private timer: ReturnType<typeof setTimeout> | null = null;
  constructor(private readonly delayMs: number) {}

  trigger(task: () => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      task();
    }, this.delayMs);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
