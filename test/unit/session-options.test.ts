/** onnxruntime session options FamSession builds for each provider (model/runtime/fam-session.ts optionsFor). */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type * as ort from 'onnxruntime-node';
import { FamSession, defaultPlacement, type SessionOptions } from '../../model/runtime/fam-session';
import { QWEN2_5_0_5B, QWEN2_5_1_5B } from '../bench/random-model';

// A private static: the options are the contract with onnxruntime, checked here without a GPU.
const optionsFor = (provider: 'cpu' | 'webgpu', opts: SessionOptions): ort.InferenceSession.SessionOptions =>
  (FamSession as unknown as { optionsFor: typeof optionsFor })['optionsFor'](provider, opts);

describe('FamSession session options', () => {
  it('WebGPU names the provider alone (onnxruntime keeps its own buffer caches)', () => {
    assert.deepEqual(optionsFor('webgpu', { device: 'webgpu' }).executionProviders, ['webgpu']);
  });

  it('the CPU keeps its threads and non-spinning workers', () => {
    const cpu = optionsFor('cpu', { device: 'cpu', threads: 2 });
    assert.deepEqual(cpu.executionProviders, ['cpu']);
    assert.equal(cpu.intraOpNumThreads, 2);
    assert.deepEqual(cpu.extra, { session: { intra_op: { allow_spinning: '0' } } });
  });

  it('the CPU embeds float32 weights that fit in one ONNX graph and feeds larger ones as inputs; WebGPU always feeds them', () => {
    assert.equal(defaultPlacement('cpu', QWEN2_5_0_5B), 'initializers'); // 1.98 GB
    assert.equal(defaultPlacement('cpu', QWEN2_5_1_5B), 'inputs'); // 6.2 GB: past the 2 GiB of a protobuf
    assert.equal(defaultPlacement('webgpu', QWEN2_5_0_5B), 'inputs');
  });
});
