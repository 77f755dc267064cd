/**
 * A copy of the tiny test model that never ends an answer by itself: its output row for <|endoftext|> is zeroed,
 * so that token's logit is always 0 while the largest of the 511 random others is positive (greedy, and the
 * repetition penalty only shrinks positive logits towards 0). Every answer then runs to the answer length.
 *
 * Why: the tests of Stop and Escape need an answer that is still streaming when the gesture lands. With the
 * tiny model itself an answer ends whenever <|endoftext|> wins, after 250-2300 tokens (0.1-1 s on a CPU)
 * depending on the question and the repetition penalty, and a CI run once saw the answer end before Escape.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors, writeSafetensors, type TensorToWrite } from '../../model/loader/safetensors';
import { REPO } from './code-server';

const TINY = path.join(REPO, 'test', 'fixtures', 'tiny');
const END_OF_TEXT = '<|endoftext|>';

/** Writes the endless tiny model into `dir` (created) and returns `dir`. */
export function writeEndlessTinyModel(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) {
    fs.copyFileSync(path.join(TINY, file), path.join(dir, file));
  }
  const tokenizer = JSON.parse(fs.readFileSync(path.join(TINY, 'tokenizer.json'), 'utf8')) as {
    added_tokens: { id: number; content: string }[];
  };
  const eos = tokenizer.added_tokens.find((t) => t.content === END_OF_TEXT);
  if (!eos) throw new Error(`${TINY}/tokenizer.json has no ${END_OF_TEXT}`);

  const weights = readSafetensors(path.join(TINY, 'model.safetensors'));
  if (!weights.tensors.has('lm_head.weight')) throw new Error(`${TINY} ties its output to the embeddings; cannot zero one row`);
  const tensors: [string, TensorToWrite][] = [...weights.tensors].map(([name, t]) => {
    const data = Float32Array.from(t.toFloat32()); // a copy: toFloat32 may be a view of the file
    if (name === 'lm_head.weight') {
      const hidden = t.shape[1]!;
      data.fill(0, eos.id * hidden, (eos.id + 1) * hidden);
    }
    return [name, { dtype: 'F32', shape: t.shape, data }];
  });
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors, weights.metadata);
  return dir;
}
