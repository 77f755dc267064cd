/**
 * The rows of `Famulus: Select Model` (extension/model-choices.ts), made from real inspections of the built-in
 * model, the family fixtures and folders that are not models.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  BUILT_IN_LABEL,
  CHOOSE_FOLDER_LABEL,
  REMEMBERED_FOLDERS,
  cpuFit,
  deviceFit,
  formatBytes,
  formatCount,
  modelChoices,
  oneLine,
  rememberFolder,
  forgetFolder,
} from '../../extension/model-choices';
import { inspectModelDir, type ModelReport } from '../../model/loader';
import { tempDir } from './loader-fixtures';

const REPO = path.resolve(__dirname, '../..');
const BUILT_IN = path.join(REPO, 'model/weights/default');
const QWEN3 = path.join(REPO, 'test/fixtures/families/qwen3');
const LLAMA3 = path.join(REPO, 'test/fixtures/families/llama3');
const GiB = 2 ** 30;
const machine = { totalBytes: 16 * GiB, freeBytes: 6 * GiB };

function report(dir: string): ModelReport {
  const r = inspectModelDir(dir);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r;
}

describe('Select Model: the rows', () => {
  it('the built-in model first, then the folders (current one marked), then "Choose a model folder…"', () => {
    const rows = modelChoices({
      builtIn: inspectModelDir(BUILT_IN),
      folders: [inspectModelDir(QWEN3), inspectModelDir(LLAMA3), inspectModelDir(QWEN3)],
      current: QWEN3,
      device: 'cpu',
      machine,
    });
    assert.deepEqual(rows.map((r) => [r.kind, r.label, r.value, r.current]), [
      ['builtIn', BUILT_IN_LABEL, '', false],
      ['folder', '$(check) qwen3', QWEN3, true],
      ['folder', 'llama3', LLAMA3, false],
      ['choose', CHOOSE_FOLDER_LABEL, '', false],
    ]);
    const qwen3 = rows[1]!;
    const need = report(QWEN3).estimate.cpu.bytes;
    assert.equal(qwen3.description, `Qwen3 (qwen3) · 35.0K parameters · 70.8 KiB BF16 · BSWA: no trained working memory`);
    assert.equal(qwen3.detail, `CPU fits: needs ~${formatBytes(need)} of 16.0 GiB RAM (6.0 GiB free) — ${QWEN3}`);
    assert.equal(qwen3.refused, null);
    const builtIn = rows[0]!;
    assert.equal(builtIn.description, 'Llama (llama) · 24.0M parameters · 45.7 MiB F16 · FAM, 64 rows');
    assert.match(builtIn.detail, /^CPU fits: needs ~1\.0 GiB of 16\.0 GiB RAM \(6\.0 GiB free\) — ships with Famulus$/);
  });

  it('the built-in model is marked when the setting is empty; with auto and webgpu the GPU estimate is shown', () => {
    const rows = modelChoices({ builtIn: inspectModelDir(BUILT_IN), folders: [], current: '  ', device: 'auto', machine });
    assert.equal(rows[0]!.label, `$(check) ${BUILT_IN_LABEL}`);
    assert.equal(rows[0]!.current, true);
    const m = report(BUILT_IN);
    assert.equal(
      deviceFit(m, 'auto', machine),
      `CPU fits: needs ~${formatBytes(m.estimate.cpu.bytes)} of 16.0 GiB RAM (6.0 GiB free) · ` +
        `GPU: needs ~${formatBytes(m.estimate.webgpu.bytes)} of GPU memory (the adapter's memory is not known here)`,
    );
    assert.equal(deviceFit(m, 'webgpu', machine), `GPU: needs ~${formatBytes(m.estimate.webgpu.bytes)} of GPU memory (the adapter's memory is not known here)`);
  });

  it('a remembered folder that is not a model is listed with its reason, on one line, and cannot be selected', () => {
    const broken = path.join(tempDir('famulus-choices-'), 'qwen3-broken');
    fs.cpSync(QWEN3, broken, { recursive: true });
    const config = JSON.parse(fs.readFileSync(path.join(broken, 'config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(broken, 'config.json'), JSON.stringify({ ...config, hidden_act: 'gelu', mlp_bias: true }));
    const empty = tempDir('famulus-choices-empty-');
    const rows = modelChoices({ builtIn: inspectModelDir(BUILT_IN), folders: [inspectModelDir(broken), inspectModelDir(empty)], current: '', device: 'cpu', machine });
    const [, bad, notModel] = rows;
    assert.equal(bad!.label, '$(warning) qwen3-broken');
    assert.equal(bad!.description, 'not a model folder: select it to forget it');
    assert.equal(bad!.detail, `${path.join(broken, 'config.json')}: invalid config: "hidden_act" must be "silu" (SwiGLU), got "gelu"; "mlp_bias" must be false, got true`);
    assert.match(bad!.refused!, /invalid config:\n {2}- "hidden_act"/, 'the loader\'s own message');
    assert.equal(notModel!.detail, `${empty}: no config.json (a model directory needs config.json, model.safetensors or a shard index, and tokenizer.json)`);
  });

  it('CPU fit: fits in free memory, tight above it, too big above all of it', () => {
    assert.equal(cpuFit(2 * GiB, machine), 'fits: needs ~2.0 GiB of 16.0 GiB RAM (6.0 GiB free)');
    assert.equal(cpuFit(9 * GiB, machine), 'tight: needs ~9.0 GiB of 16.0 GiB RAM, only 6.0 GiB free now');
    assert.equal(cpuFit(40 * GiB, machine), 'too big: needs ~40.0 GiB of 16.0 GiB RAM');
  });

  it('remembered folders: most recent first, once each, at most REMEMBERED_FOLDERS; forgetting drops one', () => {
    let list: string[] = [];
    for (let i = 0; i < REMEMBERED_FOLDERS + 3; i++) list = rememberFolder(list, `/m/${i}`);
    assert.equal(list.length, REMEMBERED_FOLDERS);
    assert.equal(list[0], `/m/${REMEMBERED_FOLDERS + 2}`);
    list = rememberFolder(list, '/m/5');
    assert.deepEqual(list.slice(0, 2), ['/m/5', `/m/${REMEMBERED_FOLDERS + 2}`]);
    assert.equal(list.filter((f) => f === '/m/5').length, 1);
    assert.deepEqual(forgetFolder(['/a', '/b'], '/a'), ['/b']);
  });

  it('sizes and counts as people read them; a loader message on one line', () => {
    assert.deepEqual([formatBytes(512), formatBytes(1536), formatBytes(47_926_320), formatBytes(3.1e9)], ['512 B', '1.5 KiB', '45.7 MiB', '2.9 GiB']);
    assert.deepEqual([formatCount(999), formatCount(35_040), formatCount(23_960_064), formatCount(1_543_714_304)], ['999', '35.0K', '24.0M', '1.54B']);
    assert.equal(oneLine('/m/config.json: invalid config:\n  - "a" bad\n  - "b" bad'), '/m/config.json: invalid config: "a" bad; "b" bad');
    assert.equal(oneLine('/m: the weights do not match config.json (L=3):\n  missing (2):\n    x\n    y'), '/m: the weights do not match config.json (L=3): missing (2): x y');
  });
});
