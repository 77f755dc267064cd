import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { ModelFileError, defaultModelDir, loadModelDir, packageRoot, writeSafetensors } from '../../model/loader';
import { randomWeights, tempDir, tinyConfig, tokenizerJson, writeModelDir } from './loader-fixtures';

/** Asserts that loading `dir` rejects with a ModelFileError whose message matches. */
async function assertLoadFails(dir: string, pattern: RegExp): Promise<void> {
  await assert.rejects(loadModelDir(dir), (e: unknown) => {
    assert.ok(e instanceof ModelFileError, `expected ModelFileError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('UnitTests - loadModelDir()', () => {
  it('loads config, weights and tokenizer, and names the model by their bytes', async () => {
    const dir = writeModelDir();
    const m = await loadModelDir(dir);
    assert.equal(m.dir, path.resolve(dir));
    assert.equal(m.config.fam_length, 4);
    assert.equal(m.tensors.size, 21);
    assert.deepEqual(m.tensors.get('model.fam_embeddings')!.shape, [4, 16]);
    assert.deepEqual(m.tokenizer.specials, { endoftext: 0, file: 1, question: 2, answer: 3 });
    assert.match(m.modelId, /^[0-9a-f]{64}$/);
    assert.deepEqual(m.notes, []);
    assert.equal((await loadModelDir(dir)).modelId, m.modelId, 'same files, same id');
  });

  it('the model id changes with any weight, config or tokenizer byte', async () => {
    const dir = writeModelDir();
    const id0 = (await loadModelDir(dir)).modelId;

    const weights = path.join(dir, 'model.safetensors');
    const bytes = fs.readFileSync(weights);
    bytes[bytes.length - 1]! ^= 1;
    fs.writeFileSync(weights, bytes);
    const id1 = (await loadModelDir(dir)).modelId;
    assert.notEqual(id1, id0);

    fs.appendFileSync(path.join(dir, 'config.json'), '\n');
    const id2 = (await loadModelDir(dir)).modelId;
    assert.notEqual(id2, id1);

    fs.appendFileSync(path.join(dir, 'tokenizer.json'), ' ');
    assert.notEqual((await loadModelDir(dir)).modelId, id2);
  });

  it('a sharded checkpoint loads and every shard is part of the id', async () => {
    const cfg = tinyConfig();
    const dir = writeModelDir(cfg);
    fs.rmSync(path.join(dir, 'model.safetensors'));
    const all = randomWeights(cfg);
    const half = Math.ceil(all.length / 2);
    const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    writeSafetensors(path.join(dir, shards[0]!), all.slice(0, half));
    writeSafetensors(path.join(dir, shards[1]!), all.slice(half));
    const weightMap = Object.fromEntries(all.map(([name], i) => [name, shards[i < half ? 0 : 1]]));
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const m = await loadModelDir(dir);
    assert.equal(m.tensors.size, all.length);
    writeSafetensors(path.join(dir, shards[1]!), all.slice(half).map(([n, t]) => [n, { ...t, data: (t.data as Float32Array).map((v) => v + 1) }]));
    assert.notEqual((await loadModelDir(dir)).modelId, m.modelId);
  });

  it('a plain Llama directory (no FAM fields, tokenizer without Famulus tokens) loads', async () => {
    const cfg = tinyConfig({ fam_length: 0, memory_segments: 0, tie_word_embeddings: false });
    const dir = writeModelDir(cfg, { tokenizer: tokenizerJson({ specials: false }) });
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    delete json.fam_length;
    delete json.memory_segments;
    delete json.block_size;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json));
    const m = await loadModelDir(dir);
    assert.equal(m.config.block_size, 1024);
    assert.equal(m.tokenizer.specials, undefined);
  });

  it('EXPECTED FAILURE - missing directory, a file instead of one, missing files', async () => {
    const dir = tempDir();
    await assertLoadFails(path.join(dir, 'nope'), /model directory .*nope does not exist/);
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    await assertLoadFails(path.join(dir, 'file'), /is not a directory/);

    const model = writeModelDir();
    fs.rmSync(path.join(model, 'tokenizer.json'));
    await assertLoadFails(model, /no tokenizer\.json \(a model directory needs config\.json/);
    fs.rmSync(path.join(model, 'config.json'));
    await assertLoadFails(model, /no config\.json/);

    const noWeights = writeModelDir();
    fs.rmSync(path.join(noWeights, 'model.safetensors'));
    await assertLoadFails(noWeights, /no weights: neither model\.safetensors nor model\.safetensors\.index\.json/);
  });

  it('EXPECTED FAILURE - unparsable config.json or tokenizer_config.json, invalid config', async () => {
    const dir = writeModelDir();
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), '{ "eos_token": ');
    await assertLoadFails(dir, /tokenizer_config\.json: not valid JSON/);
    fs.rmSync(path.join(dir, 'tokenizer_config.json'));
    fs.writeFileSync(path.join(dir, 'config.json'), '{ "vocab_size": 300, }');
    await assertLoadFails(dir, /config\.json: not valid JSON/);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...tinyConfig(), num_key_value_heads: 3 }));
    await assertLoadFails(dir, /config\.json: invalid config:\n {2}- "num_attention_heads" 4 is not divisible by "num_key_value_heads" 3/);
  });

  it('EXPECTED FAILURE - tokenizer larger than vocab_size; a smaller one is fine', async () => {
    const big = writeModelDir(tinyConfig({ vocab_size: 200 }));
    await assertLoadFails(big, /the tokenizer has ids up to 259 but config\.json's vocab_size is 200: this tokenizer belongs to another model/);
    const m = await loadModelDir(writeModelDir(tinyConfig({ vocab_size: 512 })));
    assert.equal(m.tokenizer.vocabSize, 260);
  });

  it('EXPECTED FAILURE - a Famulus model whose tokenizer lacks the special tokens', async () => {
    const dir = writeModelDir(tinyConfig({ vocab_size: 300 }), { tokenizer: tokenizerJson({ specials: false }) });
    await assertLoadFails(dir, /tokenizer\.json: this is a Famulus model \(fam_length > 0\) but its tokenizer lacks/);
  });

  it('EXPECTED FAILURE - weights that do not match the config', async () => {
    const cfg = tinyConfig();
    const dir = writeModelDir(cfg, { tensors: randomWeights(tinyConfig({ hidden_size: 32 })) });
    await assertLoadFails(dir, /model\.safetensors: the weights do not match config\.json .*\n {2}wrong shape \(21\)/);
  });
});

describe('UnitTests - defaultModelDir()', () => {
  it('finds the package root from sources and from a dist-like folder, and the shipped model under it', () => {
    const root = packageRoot(__dirname);
    assert.ok(fs.existsSync(path.join(root, 'package.json')));
    assert.equal(packageRoot(path.join(root, 'dist')), root);
    const lines: string[] = [];
    assert.equal(defaultModelDir((l) => lines.push(l)), path.join(root, 'model', 'weights', 'default'));
    assert.deepEqual(lines, [`model: default model ${path.join(root, 'model', 'weights', 'default')}`]);
  });

  it('EXPECTED FAILURE - no default model: names the folder it expected and how to choose another model', () => {
    const root = tempDir();
    fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'famulus' }));
    const lines: string[] = [];
    assert.throws(() => defaultModelDir((l) => lines.push(l), root), (e: unknown) => {
      assert.ok(e instanceof ModelFileError, `expected ModelFileError, got ${String(e)}`);
      assert.equal(e.file, path.join(root, 'model', 'weights', 'default'));
      assert.match(e.message, /no default model: expected one in .*model\/weights\/default/);
      assert.match(e.message, /--model <dir>.*famulus\.modelPath/);
      return true;
    });
    assert.deepEqual(lines, [], 'nothing is said to be loaded');
  });

  it('BAD CALL - packageRoot outside any Famulus package', () => {
    assert.throws(() => packageRoot(tempDir()), /no package\.json named "famulus"/);
  });
});
