import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ContinuedAnswer } from '../../extension/continued-answer';

describe('continued answer: the view of an answer written again from its start', () => {
  it('keeps the cut-off text while the new one repeats it, then appends only what is new', () => {
    const c = new ContinuedAnswer('The queue');
    assert.deepEqual(c.push('The '), { kind: 'none' });
    assert.deepEqual(c.push('queue'), { kind: 'none' });
    assert.equal(c.progressed, false);
    assert.deepEqual(c.push(' leases'), { kind: 'append', text: ' leases' });
    assert.deepEqual(c.push(' jobs.'), { kind: 'append', text: ' jobs.' });
    assert.equal(c.answer, 'The queue leases jobs.');
    assert.equal(c.progressed, true);
    assert.equal(c.diverged, false);
  });

  it('appends the part beyond the shown text when a delta crosses its end', () => {
    const c = new ContinuedAnswer('ab');
    assert.deepEqual(c.push('abcd'), { kind: 'append', text: 'cd' });
  });

  it('shows the new text when it turns out different (the memory changed), and appends from there', () => {
    const c = new ContinuedAnswer('The queue drains');
    assert.deepEqual(c.push('The store'), { kind: 'replace', text: 'The store' });
    assert.equal(c.diverged, true);
    assert.equal(c.progressed, true);
    assert.deepEqual(c.push(' saves.'), { kind: 'append', text: ' saves.' });
  });

  it('with nothing shown (Regenerate) appends everything', () => {
    const c = new ContinuedAnswer('');
    assert.equal(c.progressed, false);
    assert.deepEqual(c.push('x'), { kind: 'append', text: 'x' });
    assert.deepEqual(c.push(''), { kind: 'none' });
  });
});
