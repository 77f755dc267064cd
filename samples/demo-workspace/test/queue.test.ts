import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { JobQueue, retryWithBackoff } from '../src/queue';
import { JobStore } from '../src/store';

const config = { port: 0, dataDir: '', leaseMs: 1000, maxAttempts: 2, backoffBaseMs: 100 };

function freshQueue(): JobQueue {
  const dir = mkdtempSync(join(tmpdir(), 'harbor-'));
  return new JobQueue(new JobStore(dir), { ...config, dataDir: dir });
}

test('a leased job that is acknowledged is done', () => {
  const q = freshQueue();
  const job = q.enqueue('thumbnail', { id: 1 }, 0);
  const leased = q.lease(['thumbnail'], 10);
  assert.equal(leased?.id, job.id);
  assert.ok(q.ack(job.id, 20));
  assert.deepEqual(q.stats(), { queued: 0, leased: 0, dead: 0 });
});

test('an expired lease is retried, then the job dies after maxAttempts', () => {
  const q = freshQueue();
  q.enqueue('thumbnail', {}, 0);
  q.lease(['thumbnail'], 0);
  assert.equal(q.reclaimExpired(5000), 1);
  assert.equal(q.lease(['thumbnail'], 5000), undefined, 'still in backoff');
  assert.ok(q.lease(['thumbnail'], 60_000));
  q.reclaimExpired(120_000);
  assert.deepEqual(q.stats(), { queued: 0, leased: 0, dead: 1 });
});

test('backoff doubles and is capped', () => {
  const noJitter = () => 0;
  assert.equal(retryWithBackoff(1, 100, noJitter), 100);
  assert.equal(retryWithBackoff(4, 100, noJitter), 800);
  assert.equal(retryWithBackoff(30, 100, noJitter), 600_000);
});
