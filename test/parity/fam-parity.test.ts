/**
 * Engine parity: the TypeScript engine on CPU against golden fixtures made by model/train/make_fixtures.py
 * with the PyTorch reference (model/train/fam.py) and with Hugging Face transformers' LlamaForCausalLM.
 * Tolerances live in tolerances.json.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadModelDir, readSafetensors, type FamConfig, type LoadedModel, type SafetensorsSet } from '../../model/loader';
import { decodeState, encodeState } from '../../model/state';
import { FamSession, type FamState } from '../../model/runtime/fam-session';
import { assertClose, TOLERANCES } from './compare';

const FIXTURES = path.join(__dirname, '..', 'fixtures');

function fixture(dir: string): { model: Promise<LoadedModel>; expected: SafetensorsSet } {
  return { model: loadModelDir(path.join(FIXTURES, dir)), expected: readSafetensors(path.join(FIXTURES, dir, 'expected.safetensors')) };
}

function tensor(set: SafetensorsSet, name: string): Float32Array {
  const t = set.tensors.get(name);
  if (!t) throw new Error(`fixture tensor ${name} is missing`);
  return t.toFloat32();
}

function ids(set: SafetensorsSet, name: string): number[] {
  return Array.from(tensor(set, name), (x) => Math.round(x));
}

/** Rows [from, to) of a row-major [rows, cols] matrix. */
function rows(a: Float32Array, cols: number, from: number, to: number): Float32Array {
  return a.subarray(from * cols, to * cols);
}

/**
 * Folds the fixture's first 5 blocks into a fresh state of `session` and compares, after each, the logits of the
 * given rows (rows 0..B-2 come from the decode graph over a partial block, row B-1 from the block step itself),
 * then each layer's FAM and memory ring, with `want`'s block{i}.* tensors. Returns the worst relative error.
 */
async function checkBlocks(session: FamSession, cfg: LoadedModel['config'], input: number[], want: SafetensorsSet,
  rowsToCheck: number[], tol: number): Promise<number> {
  let worst = 0;
  const check = (name: string, a: Float32Array, b: Float32Array) => (worst = Math.max(worst, assertClose(name, a, b, tol)));
  const B = cfg.block_size;
  let state = await session.initialState();
  for (let b = 0; b < 5; b++) {
    const block = input.slice(b * B, (b + 1) * B);
    for (const r of rowsToCheck) {
      const got = await session.nextTokenLogits(state, block.slice(0, r + 1));
      check(`block${b}.logits[${r}]`, got, rows(tensor(want, `block${b}.logits`), cfg.vocab_size, r, r + 1));
    }
    state = await session.ingest(state, block);
    const snap = await session.snapshot(state);
    for (let l = 0; l < cfg.num_hidden_layers; l++) {
      check(`block${b}.fam.${l}`, snap.fam[l] as Float32Array, tensor(want, `block${b}.fam.${l}`));
      check(`block${b}.mem_k.${l}`, snap.memK[l] as Float32Array, tensor(want, `block${b}.mem_k.${l}`));
      check(`block${b}.mem_v.${l}`, snap.memV[l] as Float32Array, tensor(want, `block${b}.mem_v.${l}`));
    }
  }
  return worst;
}

describe('FAM engine (CPU) against the PyTorch reference: tiny model, F=4, B=16, m=2, GQA', () => {
  const { model: modelPromise, expected } = fixture('tiny');
  let model: LoadedModel;
  let session: FamSession;
  const tol = TOLERANCES.cpuVsReference;

  before(async () => {
    model = await modelPromise;
    session = await FamSession.create(model, { device: 'cpu', threads: 1 });
  });
  after(async () => session.dispose());

  it('FAM initialisation gives each layer the reference fam[l]', async (t) => {
    const snap = await session.snapshot(await session.initialState());
    let worst = 0;
    for (let l = 0; l < model.config.num_hidden_layers; l++) {
      worst = Math.max(worst, assertClose(`fam_init.${l}`, snap.fam[l] as Float32Array, tensor(expected, `fam_init.${l}`), tol));
    }
    t.diagnostic(`worst relative error ${worst.toExponential(2)} (tolerance ${tol})`);
  });

  it('every block: logits of every row, FAM and memory ring match after each of 5 blocks', async (t) => {
    const allRows = Array.from({ length: model.config.block_size }, (_, r) => r);
    const worst = await checkBlocks(session, model.config, ids(expected, 'input_ids'), expected, allRows, tol);
    t.diagnostic(`worst relative error ${worst.toExponential(2)} over 5 blocks x 16 rows of logits, FAM and ring (tolerance ${tol})`);
  });

  // The other memory layouts of make_fixtures.py's TINY_VARIANTS: each file's metadata holds its config changes.
  const variants = fs.readdirSync(path.join(FIXTURES, 'tiny')).filter((f) => /^expected-.+\.safetensors$/.test(f));
  it('the fixture has its memory-layout variants', () => assert.ok(variants.length >= 2, `variants: ${variants.join(', ')}`));
  for (const file of variants) {
    const want = readSafetensors(path.join(FIXTURES, 'tiny', file));
    const changes = JSON.parse(want.metadata.config ?? '{}') as Partial<FamConfig>;
    it(`with ${JSON.stringify(changes)}: logits (decode and block step), FAM and ring match after each of 5 blocks`, async (t) => {
      assert.ok(Object.keys(changes).length > 0, `${file} names no config changes in its metadata`);
      const config = { ...model.config, ...changes };
      const variant = await FamSession.create({ ...model, config }, { device: 'cpu', threads: 1 });
      const B = config.block_size;
      const worst = await checkBlocks(variant, config, ids(expected, 'input_ids'), want, [0, B / 2, B - 1], tol);
      await variant.dispose();
      t.diagnostic(`worst relative error ${worst.toExponential(2)} (tolerance ${tol})`);
    });
  }

  it('a partial sixth block: the tail tokens\' logits match', async () => {
    const B = model.config.block_size;
    const V = model.config.vocab_size;
    const input = ids(expected, 'input_ids');
    const state = await session.ingest(await session.initialState(), input.slice(0, 5 * B));
    const tail = input.slice(5 * B);
    const want = tensor(expected, 'tail.logits');
    for (let t = 0; t < tail.length; t++) {
      assertClose(`tail.logits[${t}]`, await session.nextTokenLogits(state, tail.slice(0, t + 1)), rows(want, V, t, t + 1), tol);
    }
  });

  it('ingesting in one call or token by token gives the same state, bit for bit', async () => {
    const input = ids(expected, 'input_ids');
    const whole = await session.ingest(await session.initialState(), input);
    let pieces: FamState = await session.initialState();
    for (const chunk of [input.slice(0, 3), input.slice(3, 20), input.slice(20, 21), input.slice(21)]) pieces = await session.ingest(pieces, chunk);
    const a = await session.snapshot(whole);
    const b = await session.snapshot(pieces);
    assert.equal(b.blocks, a.blocks);
    assert.deepEqual(Array.from(b.pending), Array.from(a.pending));
    assert.deepEqual(b.fam, a.fam);
    assert.deepEqual(b.memK, a.memK);
    assert.deepEqual(b.memV, a.memV);
  });

  it('save → load → continue gives the same logits as continuing directly', async () => {
    const input = ids(expected, 'input_ids');
    const state = await session.ingest(await session.initialState(), input.slice(0, 40));
    const restored = await session.restore(decodeState(encodeState(await session.snapshot(state))));
    const rest = input.slice(40);
    const direct = await session.nextTokenLogits(state, rest);
    const viaFile = await session.nextTokenLogits(restored, rest);
    assert.deepEqual(viaFile, direct);
    const g1 = await session.generate(state, rest, { maxNewTokens: 40 });
    const g2 = await session.generate(restored, rest, { maxNewTokens: 40 });
    assert.deepEqual(g2.tokens, g1.tokens);
  });

  it('a question never changes the state it was asked of', async () => {
    const input = ids(expected, 'input_ids');
    const state = await session.ingest(await session.initialState(), input.slice(0, 37));
    const before = await session.snapshot(state);
    await session.generate(state, input.slice(37, 60), { maxNewTokens: 30 });
    assert.deepEqual(await session.snapshot(state), before);
  });

  it('generation across a block boundary equals re-reading the generated tokens', async () => {
    const input = ids(expected, 'input_ids');
    const state = await session.ingest(await session.initialState(), input.slice(0, 30));
    const g = await session.generate(state, input.slice(30, 33), { maxNewTokens: 24, stopTokens: [] });
    // Greedy decoding: every generated token must be the argmax of the logits after the tokens before it.
    const context = input.slice(30, 33);
    for (const token of g.tokens) {
      const logits = await session.nextTokenLogits(state, context);
      assert.equal(token, logits.indexOf(Math.max(...logits)));
      context.push(token);
    }
  });

  it('weights fed as graph inputs (the WebGPU layout) give the same logits and state as embedded weights', async () => {
    const shared = await FamSession.create(model, { device: 'cpu', threads: 1, weights: 'inputs' });
    try {
      const input = ids(expected, 'input_ids');
      const a = await session.ingest(await session.initialState(), input.slice(0, 50));
      const b = await shared.ingest(await shared.initialState(), input.slice(0, 50));
      const famA = (await session.snapshot(a)).fam;
      (await shared.snapshot(b)).fam.forEach((f, l) => assertClose(`fam.${l}, weights as inputs`, f as Float32Array, famA[l] as Float32Array, 1e-6));
      assertClose('logits, weights as inputs', await shared.nextTokenLogits(b, input.slice(50)), await session.nextTokenLogits(a, input.slice(50)), 1e-6);
    } finally {
      await shared.dispose();
    }
  });

  it('EXPECTED FAILURE - a state from another model is refused', async () => {
    const snap = await session.snapshot(await session.initialState());
    await assert.rejects(session.restore({ ...snap, modelId: 'f'.repeat(64) }), /another|not the loaded model/);
  });
});

describe('FAM engine (CPU) with fam_length 0, one block: equals Hugging Face LlamaForCausalLM', () => {
  const { model: modelPromise, expected } = fixture('tiny-llama');

  it('logits of every position match transformers', async (t) => {
    const model = await modelPromise;
    const session = await FamSession.create(model, { device: 'cpu', threads: 1 });
    try {
      const input = ids(expected, 'input_ids');
      const want = tensor(expected, 'hf.logits');
      const V = model.config.vocab_size;
      const state = await session.initialState();
      let worst = 0;
      for (let r = 0; r < input.length; r++) {
        const got = await session.nextTokenLogits(state, input.slice(0, r + 1));
        worst = Math.max(worst, assertClose(`hf.logits[${r}]`, got, rows(want, V, r, r + 1), TOLERANCES.cpuVsTransformers));
      }
      t.diagnostic(`worst relative error ${worst.toExponential(2)} (tolerance ${TOLERANCES.cpuVsTransformers})`);
    } finally {
      await session.dispose();
    }
  });
});
