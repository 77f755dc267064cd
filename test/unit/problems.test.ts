import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { explainProblem, isNoGpuAdapter } from '../../extension/problems';

/** The engine's error for `--device webgpu` on a machine with no GPU adapter (onnxruntime-node 1.30). */
const NO_ADAPTER =
  'could not start the FAM engine on webgpu: /onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 ' +
  'onnxruntime::webgpu::WebGpuContext::Initialize(const onnxruntime::webgpu::WebGpuContextConfig&)::<lambda()> ' +
  'adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters';

describe('problems: engine errors as a short line and one action', () => {
  it('no GPU adapter: says so in words, offers Use CPU, and quotes nothing of onnxruntime', () => {
    assert.equal(isNoGpuAdapter(NO_ADAPTER), true);
    const p = explainProblem(`The engine could not start: ${NO_ADAPTER}`);
    assert.deepEqual(p, { message: 'No GPU adapter found, so the model cannot run on WebGPU here.', action: 'useCpu' });
  });

  it('a model folder the loader cannot use: its reason, and Select Model', () => {
    assert.deepEqual(explainProblem('The engine could not start: model directory /nope does not exist', 'model-error'), {
      message: 'The model could not be loaded: model directory /nope does not exist.',
      action: 'selectModel',
    });
    assert.equal(explainProblem('/tmp/m: no config.json (a model directory needs config.json, …)').action, 'selectModel');
  });

  it('nothing read yet, Restricted Mode, a crash: what to do, with the button that does it', () => {
    assert.equal(explainProblem('Nothing is in memory yet: run “Famulus: Read Workspace into Memory” first.', 'no-state').action, 'readWorkspace');
    assert.match(explainProblem('x', 'no-state').message, /click Read workspace/);
    assert.equal(explainProblem('This workspace is in Restricted Mode: trust it to let Famulus read it.').action, 'manageTrust');
    assert.equal(explainProblem('The Famulus engine was killed (SIGKILL). It restarts on the next request.').action, 'showLog');
    assert.deepEqual(explainProblem('Open a folder first: Famulus answers about the files of a workspace.').action, null);
  });

  it('anything else: its first line without C++ source locations, bounded, and the log', () => {
    const p = explainProblem('/src/onnxruntime/core/session.cc:42 Non-zero status code returned while running MatMul\nstack line 1\nstack line 2');
    assert.equal(p.message, 'Non-zero status code returned while running MatMul. (details in the Famulus log)');
    assert.equal(p.action, 'showLog');
    assert.ok(explainProblem('x'.repeat(5000)).message.length < 260);
  });
});
