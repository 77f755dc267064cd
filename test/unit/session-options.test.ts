/** onnxruntime session options FamSession builds for each provider (model/runtime/fam-session.ts optionsFor). */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type * as ort from 'onnxruntime-node';
import { FamSession, type SessionOptions } from '../../model/runtime/fam-session';

// A private static: the options are the contract with onnxruntime, checked here without a GPU.
const optionsFor = (provider: 'cpu' | 'webgpu', opts: SessionOptions): ort.InferenceSession.SessionOptions =>
  (FamSession as unknown as { optionsFor: typeof optionsFor })['optionsFor'](provider, opts);

describe('FamSession session options', () => {
  it('WebGPU without a buffer cache mode names the provider alone (onnxruntime keeps its own caches)', () => {
    assert.deepEqual(optionsFor('webgpu', { device: 'webgpu' }).executionProviders, ['webgpu']);
  });

  it('WebGPU with a buffer cache mode sets it for every kind of buffer', () => {
    const [ep] = optionsFor('webgpu', { device: 'webgpu', webgpuBufferCache: 'simple' }).executionProviders!;
    assert.deepEqual(ep, {
      name: 'webgpu',
      storageBufferCacheMode: 'simple',
      uniformBufferCacheMode: 'simple',
      queryResolveBufferCacheMode: 'simple',
      defaultBufferCacheMode: 'simple',
    });
  });

  it('the CPU ignores the buffer cache mode and keeps its threads and non-spinning workers', () => {
    const cpu = optionsFor('cpu', { device: 'cpu', threads: 2, webgpuBufferCache: 'disabled' });
    assert.deepEqual(cpu.executionProviders, ['cpu']);
    assert.equal(cpu.intraOpNumThreads, 2);
    assert.deepEqual(cpu.extra, { session: { intra_op: { allow_spinning: '0' } } });
  });
});
