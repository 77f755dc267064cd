/**
 * The webview's end of the extension↔webview protocol: typed `post`, and `onMessage` that only ever sees
 * messages that passed `parseToWebview` (anything else is dropped with a console line).
 */
import { parseToWebview, type ToExtension, type ToWebviewMessage } from './protocol';

interface VsCodeApi<S> {
  postMessage(message: unknown): void;
  getState(): S | undefined;
  setState(state: S): void;
}
declare function acquireVsCodeApi<S>(): VsCodeApi<S>;

export interface WebviewChannel<S> {
  post<K extends keyof ToExtension>(type: K, payload: ToExtension[K]): void;
  onMessage(handler: (message: ToWebviewMessage) => void): void;
  getState(): S | undefined;
  setState(state: S): void;
}

export function connect<S>(): WebviewChannel<S> {
  const api = acquireVsCodeApi<S>();
  return {
    post(type, payload) {
      api.postMessage({ type, ...payload });
    },
    onMessage(handler) {
      window.addEventListener('message', (event: MessageEvent) => {
        let message: ToWebviewMessage;
        try {
          message = parseToWebview(event.data);
        } catch (err) {
          console.error(`famulus: dropped a message from the extension: ${(err as Error).message}`);
          return;
        }
        handler(message);
      });
    },
    getState: () => api.getState(),
    setState: (state) => api.setState(state),
  };
}

/** Seconds as "1 min 5 s" / "12 s". */
export function formatSeconds(s: number): string {
  if (s < 0 || !Number.isFinite(s)) return '';
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

/** 12345 → "12.3k". */
export function formatCount(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}
