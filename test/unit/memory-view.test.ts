import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { EngineInfo } from '../../extension/engine-host';
import { presentMemory, readStoppedDetail } from '../../extension/memory-view';
import { READ_BUTTON } from '../../webview/protocol';

const model = { dir: '/ext/model/weights/default', modelId: 'f5efb32370c1440ea49b9725d421', layers: 6, hiddenSize: 512, vocabSize: 16000, blockSize: 1024, famLength: 64, memorySegments: 1 };
const cpu = { provider: 'cpu', adapter: 'AMD EPYC (x64), 2 threads', dtype: 'float32' } as const;
const info = (over: Partial<EngineInfo> = {}): EngineInfo => ({ model, device: cpu, builtIn: true, requested: 'cpu', generation: 1, pid: 7, ...over });
const ready = { phase: 'ready', files: 12, tokens: 7062, lastUpdate: '2026-12-04T18:12:23Z', detail: '' } as const;

describe('memory view: the header shows the model by name and the device in a word', () => {
  it('names the built-in model and the CPU; the id and adapter are only in the tooltip text', () => {
    const v = presentMemory(ready, info());
    assert.equal(v.model, 'built-in model');
    assert.equal(v.device, 'CPU');
    assert.equal(v.detail, '');
    assert.equal(v.action, null);
    assert.match(v.about, /Model: \/ext\/model\/weights\/default \(id f5efb32370c1, 6 layers, width 512\)/);
    assert.match(v.about, /Device: cpu, AMD EPYC/);
  });

  it('names a model the user chose by its folder, and a GPU as GPU', () => {
    const v = presentMemory(ready, info({ builtIn: false, model: { ...model, dir: '/models/tiny' }, device: { provider: 'webgpu', adapter: 'WebGPU (Dawn)', dtype: 'float16' } }));
    assert.equal(v.model, 'tiny');
    assert.equal(v.device, 'GPU');
  });

  it("auto without a GPU: no line about it in the header, WebGPU's reason in the tooltip", () => {
    const v = presentMemory(ready, info({ requested: 'auto', device: { ...cpu, fallbackReason: 'Failed to get a WebGPU adapter: No supported adapters' } }));
    assert.equal(v.detail, '');
    assert.match(v.about, /WebGPU not used: Failed to get a WebGPU adapter/);
  });

  it('WebGPU chosen and no adapter: a short notice and Use CPU; gone once the setting is cpu', () => {
    const v = presentMemory(ready, info({ requested: 'webgpu' }));
    assert.deepEqual([v.phase, v.detail, v.action], ['ready', 'No GPU adapter found: the model runs on the CPU.', 'useCpu']);
    assert.equal(presentMemory(ready, info({ requested: 'cpu' })).action, null);
  });

  it('an error: a short line with its action instead of the raw message', () => {
    const raw = 'The engine could not start: could not start the FAM engine on webgpu: /onnxruntime_src/x.cc:136 … Failed to get a WebGPU adapter: No supported adapters';
    const v = presentMemory({ ...ready, phase: 'error', detail: raw }, null);
    assert.equal(v.detail, 'No GPU adapter found, so the model cannot run on WebGPU here.');
    assert.equal(v.action, 'useCpu');
    assert.equal(v.model, '');
  });
});

describe('memory view: a stopped read names the button that goes on with it', () => {
  it('before any file: the read button, which is labelled Read workspace while nothing is in memory', () => {
    assert.equal(readStoppedDetail(0), `Reading was stopped before any file was read; ${READ_BUTTON.read} starts again.`);
  });
  it('after some files: Refresh, the label the button has once files are in memory', () => {
    assert.equal(readStoppedDetail(5), `Reading was stopped after 5 files; ${READ_BUTTON.refresh} reads the rest.`);
  });
});
