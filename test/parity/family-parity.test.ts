/**
 * Engine parity for checkpoints of today's open families (test/fixtures/families, made by
 * model/train/family_fixtures.py): each directory is a tiny random checkpoint in its family's own files (config,
 * 16-bit weights, tokenizer). The TypeScript engine on CPU runs it as BSWA (FAM length 0, blocks of 16, one past
 * block in memory) and must give the PyTorch reference's logits block by block; its tokenizer must split text as
 * the Python `tokenizers` library does.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { loadModelDir, readSafetensors, type FamConfig, type SafetensorsSet } from '../../model/loader';
import { FamSession } from '../../model/runtime/fam-session';
import { assertClose, TOLERANCES } from './compare';

const FAMILIES = path.join(__dirname, '..', 'fixtures', 'families');
/** The same checkpoints of two families after the FAM fine-tune (model/train/lora_fam.py, lora_call.sh). */
const FINETUNED = path.join(__dirname, '..', 'fixtures', 'finetuned');

/** What each fixture must exercise, so a regenerated fixture cannot silently lose its family's features. */
const FEATURES: Record<string, Partial<FamConfig>> = {
  llama3: { model_type: 'llama', tie_word_embeddings: true, qkv_bias: false },
  'qwen2.5': { model_type: 'qwen2', qkv_bias: true, o_bias: false, tie_word_embeddings: true },
  qwen3: { model_type: 'qwen3', qk_norm: true, head_dim: 16, qkv_bias: false },
  smollm2: { model_type: 'llama', tie_word_embeddings: true },
  mistral: { model_type: 'mistral', tie_word_embeddings: false },
};

function tensor(set: SafetensorsSet, name: string): Float32Array {
  const t = set.tensors.get(name);
  if (!t) throw new Error(`fixture tensor ${name} is missing`);
  return t.toFloat32();
}

const ints = (a: Float32Array): number[] => Array.from(a, (x) => Math.round(x));

/**
 * Every model folder under `root` against its expected.safetensors: the config read with `features[name]` and the
 * memory mode `fam` says (FAM length 0: BSWA), 16-bit weights, logits block by block, tokenizer ids.
 */
function checkFixtures(root: string, features: Record<string, Partial<FamConfig>>, fam: Partial<FamConfig>): void {
  const names = fs.readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  it('every family has a fixture', () => assert.deepEqual(names, Object.keys(features).sort()));

  for (const name of names) {
    const dir = path.join(root, name);
    const expected = readSafetensors(path.join(dir, 'expected.safetensors'));
    const changes = JSON.parse(expected.metadata.config!) as Partial<FamConfig>;
    const checkedRows = JSON.parse(expected.metadata.rows!) as number[];
    const mode = fam.fam_length ? `FAM ${fam.fam_length}` : 'BSWA';

    it(`${name}: config read with the family's features and ${mode}, weights in 16 bits`, async () => {
      const model = await loadModelDir(dir);
      for (const [k, v] of Object.entries({ ...features[name]!, ...fam })) assert.deepEqual(model.config[k as keyof FamConfig], v, k);
      assert.ok([...model.tensors.values()].every((t) => t.dtype === 'BF16' || t.dtype === 'F16'));
    });

    it(`${name}: logits match block by block (${mode} ${JSON.stringify(changes)})`, async (t) => {
      const model = await loadModelDir(dir);
      const config = { ...model.config, ...changes };
      const session = await FamSession.create({ ...model, config }, { device: 'cpu', threads: 1 });
      try {
        const B = config.block_size;
        const V = config.vocab_size;
        const input = ints(tensor(expected, 'input_ids'));
        let state = await session.initialState();
        let worst = 0;
        for (let b = 0; b * B < input.length; b++) {
          const block = input.slice(b * B, (b + 1) * B);
          const want = tensor(expected, `block${b}.logits`);
          for (const [i, r] of checkedRows.entries()) {
            const got = await session.nextTokenLogits(state, block.slice(0, r + 1));
            worst = Math.max(worst, assertClose(`${name} block${b}.logits[${r}]`, got, want.subarray(i * V, (i + 1) * V), TOLERANCES.cpuVsReference));
          }
          state = await session.ingest(state, block);
        }
        t.diagnostic(`worst relative error ${worst.toExponential(2)} (tolerance ${TOLERANCES.cpuVsReference})`);
      } finally {
        await session.dispose();
      }
    });

    it(`${name}: the tokenizer splits text as the Python tokenizers library does`, async () => {
      const { tokenizer } = await loadModelDir(dir);
      const ids = ints(tensor(expected, 'tokenizer.sample_ids'));
      for (const s of JSON.parse(expected.metadata.samples!) as { text: string; offset: number; length: number }[]) {
        assert.deepEqual(tokenizer.encode(s.text), ids.slice(s.offset, s.offset + s.length), JSON.stringify(s.text));
      }
    });
  }
}

describe('open-family checkpoints (CPU, FAM length 0) against the PyTorch reference', () => {
  checkFixtures(FAMILIES, FEATURES, { fam_length: 0 });
});

describe('open-family checkpoints after the FAM fine-tune (CPU, FAM on) against the PyTorch reference', () => {
  const { llama3, 'qwen2.5': qwen } = FEATURES;
  checkFixtures(FINETUNED, { llama3: llama3!, 'qwen2.5': qwen! }, { fam_length: 8, block_size: 64, memory_segments: 1 });
});
