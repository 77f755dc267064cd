import { strict as assert } from 'node:assert';
import { describe, it, test } from 'node:test';
import { REPETITION_WINDOW, argmax, isRepeatingLoop, penalizeRepeats, sampleToken, seededRandom } from '../../model/runtime/sampling';

describe('sampling', () => {
  it('repetition penalty divides positive and multiplies negative logits of generated tokens only', () => {
    const logits = Float32Array.of(2, -2, 4, 1);
    const out = penalizeRepeats(logits, [0, 1, 0], 2);
    assert.deepEqual([...out], [1, -4, 4, 1]);
    assert.deepEqual([...logits], [2, -2, 4, 1], "the caller's logits are not changed");
  });

  it('repetition penalty 1 or an empty answer returns the logits as they are', () => {
    const logits = Float32Array.of(1, 2);
    assert.equal(penalizeRepeats(logits, [1], 1), logits);
    assert.equal(penalizeRepeats(logits, [], 1.5), logits);
  });

  it('repetition penalty looks only at the last REPETITION_WINDOW tokens', () => {
    const logits = Float32Array.of(3, 3);
    const generated = [0, ...Array<number>(REPETITION_WINDOW).fill(1)];
    const out = penalizeRepeats(logits, generated, 1.5);
    assert.equal(out[0], 3, 'token 0 left the window');
    assert.equal(out[1], 2);
  });

  it('a penalty breaks a greedy loop: the penalised favourite loses to a close second', () => {
    const logits = Float32Array.of(5, 4.8, 0);
    assert.equal(argmax(logits), 0);
    assert.equal(argmax(penalizeRepeats(logits, [0], 1.1)), 1);
  });

  it('temperature 0 is argmax; sampling is reproducible for a seed and stays inside top-p', () => {
    const logits = Float32Array.of(0, 3, 2.9, -5);
    assert.equal(sampleToken(logits, 0, 1, seededRandom(1)), 1);
    const draw = (seed: number) => {
      const random = seededRandom(seed);
      return Array.from({ length: 50 }, () => sampleToken(logits, 1, 0.6, random));
    };
    const a = draw(7);
    const b = draw(7);
    assert.deepEqual(a, b);
    assert.ok(a.every((t) => t === 1 || t === 2), 'only the tokens inside top-p 0.6 are drawn');
  });
});

test('isRepeatingLoop: three turns of one loop covering 24 tokens stop generation; ordinary text and short repeats do not', () => {
  const loop = [5, 6, 7, 8, 9, 10, 11, 12];
  assert.equal(isRepeatingLoop([1, 2, 3, ...loop, ...loop]), false, 'two turns are no loop yet');
  assert.equal(isRepeatingLoop([1, 2, 3, ...loop, ...loop, ...loop]), true, 'the third turn of an 8-token loop');
  assert.equal(isRepeatingLoop([...loop, ...loop, ...loop.slice(0, 7), 99]), false, 'a loop broken before its end');
  assert.equal(isRepeatingLoop(Array(23).fill(4)), false, 'a run of one token shorter than 24 (a markdown rule)');
  assert.equal(isRepeatingLoop([1, ...Array(24).fill(4)]), true);
  assert.equal(isRepeatingLoop([7, 8, 7, 8, 7, 8]), false, 'three turns of a 2-token loop cover only 6 tokens');
  assert.equal(isRepeatingLoop(Array.from({ length: 12 }, () => [7, 8]).flat()), true, '12 turns of a 2-token loop');
  const long = Array.from({ length: 64 }, (_, i) => 100 + i);
  assert.equal(isRepeatingLoop([...long, ...long, ...long]), true, 'the longest loop looked for');
  assert.equal(isRepeatingLoop(Array.from({ length: 500 }, (_, i) => i)), false, 'text that never repeats');
  assert.equal(isRepeatingLoop([]), false);
});
