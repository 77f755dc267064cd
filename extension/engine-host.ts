/**
 * The engine process as the extension sees it: started lazily on the first request (spawn + engine/loadModel),
 * restarted on the next request after a crash (with a message that says what happened), restarted when the
 * model or device setting changes (unless it already runs where the new setting says), and shut down with the
 * extension. The extension never loads onnxruntime itself: everything goes through model/engine/client.ts and
 * protocol.ts.
 *
 * Where the user chose WebGPU and no GPU adapter exists, the model is loaded on the CPU instead: the answers
 * are the same, only slower, so the request that started the engine is served; a notification says so and
 * offers to set the device to the CPU.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { EngineClient, type EngineProcess } from '../model/engine/client';
import { EngineError, type DeviceChoice, type DeviceInfo, type LoadModelResult, type ModelSummary } from '../model/engine/protocol';
import { ACTION_LABELS } from '../webview/protocol';
import { Disposable } from './lifecycle';
import { explainProblem, isNoGpuAdapter } from './problems';
import * as settings from './settings';
import { runWebviewCommand } from './webview-commands';

export interface EngineInfo {
  model: ModelSummary;
  device: DeviceInfo;
  /** The model is the one that ships with the extension (`famulus.modelPath` is empty). */
  builtIn: boolean;
  /** The device setting the engine serves: 'webgpu' with a CPU device means no GPU adapter was found. */
  requested: DeviceChoice;
  /** Counts the engine processes started: a new number means a fresh engine that holds no state yet. */
  generation: number;
  pid: number;
}

export class EngineHost extends Disposable {
  private proc: EngineProcess | null = null;
  private info: EngineInfo | null = null;
  private starting: Promise<{ client: EngineProcess; info: EngineInfo }> | null = null;
  private generation = 0;
  /** Set while we stop the engine on purpose, so its exit is not reported as a crash. */
  private stopping = new WeakSet<EngineProcess>();
  private lastCrash: string | null = null;

  private readonly changed = this.register(new vscode.EventEmitter<void>());
  /** The engine started, stopped or crashed. */
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly extensionPath: string,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.register(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('famulus.modelPath') || e.affectsConfiguration('famulus.device')) this.onSettingsChange(e);
      }),
    );
  }

  private onSettingsChange(e: vscode.ConfigurationChangeEvent): void {
    const device = settings.device();
    const running = this.info?.device.provider;
    // Already where the new setting says (e.g. Use CPU after falling back to it): a restart would change nothing.
    if (this.info && !e.affectsConfiguration('famulus.modelPath') && (device === running || (device === 'auto' && running === 'webgpu'))) {
      this.log.info(`device setting changed to ${device}: the engine already runs on ${running}`);
      this.info = { ...this.info, requested: device };
      this.changed.fire();
      return;
    }
    this.log.info('model or device setting changed: the engine restarts on the next request');
    void this.stop();
  }

  /** The running engine and what it loaded, or null when none runs. */
  get current(): EngineInfo | null {
    return this.info;
  }

  /** Why the last engine ended unexpectedly, until the next start succeeds. */
  get crashMessage(): string | null {
    return this.lastCrash;
  }

  /** The engine, started (and its model loaded) if it was not running. */
  async client(): Promise<{ client: EngineProcess; info: EngineInfo }> {
    if (this.proc && this.info) return { client: this.proc, info: this.info };
    this.starting ??= this.start().finally(() => (this.starting = null));
    return this.starting;
  }

  private async start(): Promise<{ client: EngineProcess; info: EngineInfo }> {
    const enginePath = path.join(this.extensionPath, 'dist', 'engine.js');
    this.log.info(`starting the engine: ${process.execPath} ${enginePath}`);
    const client = EngineClient.spawn({
      enginePath,
      execPath: process.execPath,
      // In VS Code desktop process.execPath is Electron: run it as plain node.
      env: { ELECTRON_RUN_AS_NODE: '1' },
      onStderr: (text) => {
        for (const line of text.split('\n')) if (line.trim()) this.log.info(line.trimEnd());
      },
      log: (line) => this.log.warn(line),
    });
    const child = client.child;
    child.once('exit', (code, signal) => {
      if (this.proc !== client) return;
      this.proc = null;
      this.info = null;
      if (!this.stopping.has(client)) {
        const how = signal ? `was killed (${signal})` : `exited with code ${code}`;
        this.lastCrash = `The Famulus engine ${how}. It restarts on the next request and reloads the saved memory.`;
        this.log.error(this.lastCrash);
        void vscode.window.showErrorMessage(this.lastCrash, 'Show Log').then((pick) => {
          if (pick) this.log.show(true);
        });
      }
      this.changed.fire();
    });
    this.proc = client;
    try {
      const modelDir = settings.modelPath();
      const device = settings.device();
      const loaded = await this.load(client, modelDir, device);
      const d = loaded.device;
      this.log.info(
        `model ${loaded.model.modelId.slice(0, 12)} (${loaded.model.dir}) on ${d.provider}: ${d.adapter}, ${d.dtype}` +
          (d.fallbackReason ? `; WebGPU not used: ${d.fallbackReason}` : '') +
          ` (${loaded.seconds.toFixed(2)} s)`,
      );
      this.info = { model: loaded.model, device: loaded.device, builtIn: !modelDir, requested: device, generation: ++this.generation, pid: child.pid ?? -1 };
      this.lastCrash = null;
      this.changed.fire();
      return { client, info: this.info };
    } catch (err) {
      // A model that cannot load: stop this engine so the next request tries again with the settings then.
      this.stopping.add(client);
      this.proc = null;
      await client.shutdown(2000).catch(() => undefined);
      this.changed.fire();
      throw err instanceof EngineError ? err : new EngineError('model-error', (err as Error).message);
    }
  }

  /** Loads the model; on the CPU when WebGPU was asked for and no GPU adapter exists (then saying so). */
  private async load(client: EngineProcess, modelDir: string | undefined, device: DeviceChoice): Promise<LoadModelResult> {
    const request = (d: DeviceChoice) => client.request('engine/loadModel', modelDir ? { modelDir, device: d } : { device: d });
    try {
      return await request(device);
    } catch (err) {
      const reason = (err as Error).message;
      if (device !== 'webgpu' || !isNoGpuAdapter(reason)) throw err;
      this.log.warn(`WebGPU was chosen, but: ${reason}`);
      this.log.warn('loading the model on the CPU instead, until the device setting changes');
      const loaded = await request('cpu');
      void vscode.window
        .showWarningMessage(`Famulus: ${explainProblem(reason).message} It runs on the CPU instead.`, ACTION_LABELS.useCpu, ACTION_LABELS.showLog)
        .then((pick) => {
          if (pick === ACTION_LABELS.useCpu) void runWebviewCommand('useCpu', this.log);
          else if (pick === ACTION_LABELS.showLog) this.log.show(true);
        });
      return { ...loaded, device: { ...loaded.device, fallbackReason: reason.replace(/^.*?(Failed to)/, '$1') } };
    }
  }

  /** Stops the engine (it restarts on the next request). */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    this.info = null;
    if (!proc) return;
    this.stopping.add(proc);
    this.changed.fire();
    await proc.shutdown(3000).catch((err: Error) => this.log.warn(`engine shutdown: ${err.message}`));
  }

  override dispose(): void {
    void this.stop();
    super.dispose();
  }
}
