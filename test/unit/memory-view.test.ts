import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { EngineInfo } from '../../extension/engine-host';
import {
  READ_DONE_ACTIONS,
  SKIP_REASON_LABELS,
  filesInMemoryRows,
  filesTitle,
  presentMemory,
  readDoneMessage,
  readStoppedDetail,
  upToDateDetail,
} from '../../extension/memory-view';
import type { FilesResult } from '../../model/engine/protocol';
import { SKIP_REASONS } from '../../model/workspace/walker';
import { READ_BUTTON } from '../../webview/protocol';

const model = { dir: '/ext/model/weights/default', modelId: 'f5efb32370c1440ea49b9725d421', family: 'Llama (llama)', layers: 6, hiddenSize: 512, vocabSize: 16000, blockSize: 1024, famLength: 64, memorySegments: 1,
  memoryMode: 'FAM: 64 rows of trained working memory per layer, plus exact attention to the current block of 1024 tokens and the 1 before it' };
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
    assert.match(v.about, /Model: \/ext\/model\/weights\/default \(Llama \(llama\), id f5efb32370c1, 6 layers, width 512\)/);
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

describe('memory view: what a finished read says', () => {
  it('the first read: files and tokens of the folder, with Ask a question and Show files', () => {
    assert.equal(readDoneMessage('express', 15, 40120), 'Famulus has read 15 files (40,120 tokens) of “express”.');
    assert.equal(readDoneMessage('one', 1, 12), 'Famulus has read 1 file (12 tokens) of “one”.');
    assert.deepEqual(Object.values(READ_DONE_ACTIONS), ['Ask a question', 'Show files']);
  });

  it('a refresh that found nothing: up to date, since the last update', () => {
    const when = '2026-12-04T18:12:23Z';
    assert.equal(upToDateDetail(when), `Memory is up to date: nothing changed since ${new Date(when).toLocaleString()}.`);
  });
});

describe('memory view: the files in memory', () => {
  const files: FilesResult = {
    root: '/w/express',
    files: [
      { path: 'lib/router/index.js', bytes: 15123, tokens: 4210 },
      { path: 'index.js', bytes: 224, tokens: 70 },
    ],
    skipped: [
      { path: '.git/', reason: 'excluded', detail: 'matches an exclude pattern' },
      { path: 'History.md', reason: 'default-excluded', detail: 'matches the default exclude "HISTORY.md"' },
      { path: 'dist/bundle.js', reason: 'minified', detail: 'minified or generated: 100% of its 40,000 characters on lines over 2,000 characters' },
    ],
    skippedTotal: 5,
    walkedAt: '2026-12-04T18:12:20Z',
    lastUpdate: '2026-12-04T18:12:23Z',
  };

  it('every skip reason of the walker has a label', () => {
    assert.deepEqual(Object.keys(SKIP_REASON_LABELS).sort(), [...SKIP_REASONS].sort());
  });

  it('lists each file with its tokens in path order, then each skip with its reason and why, then the rest counted', () => {
    assert.equal(filesTitle(files), '2 files, 4,280 tokens in memory · 5 skipped');
    assert.deepEqual(filesInMemoryRows(files), [
      { kind: 'heading', label: 'In memory: 2 files, 4,280 tokens' },
      { kind: 'file', label: 'index.js', description: '70 tokens', path: 'index.js' },
      { kind: 'file', label: 'lib/router/index.js', description: '4,210 tokens', path: 'lib/router/index.js' },
      { kind: 'heading', label: 'Skipped: 5' },
      // A folder cannot be opened: no path.
      { kind: 'skipped', label: '.git/', description: 'excluded', detail: 'matches an exclude pattern' },
      { kind: 'skipped', label: 'History.md', description: 'skipped by default', detail: 'matches the default exclude "HISTORY.md"', path: 'History.md' },
      { kind: 'skipped', label: 'dist/bundle.js', description: 'minified or generated', detail: files.skipped[2]!.detail, path: 'dist/bundle.js' },
      { kind: 'more', label: '… and 2 more skipped' },
      { kind: 'edit-defaults', label: 'Change what is skipped by default…', detail: 'the settings famulus.defaultExcludes and famulus.skipMinified' },
    ]);
  });

  it('a memory saved before skips were kept: they are known after the next Refresh', () => {
    const rows = filesInMemoryRows({ ...files, skipped: [], skippedTotal: 0, walkedAt: null });
    assert.deepEqual(rows.slice(-1), [{ kind: 'heading', label: 'Skipped: not known until the next Refresh' }]);
  });
});
