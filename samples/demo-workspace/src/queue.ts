/**
 * JobQueue: hands jobs to workers under a lease, takes acknowledgements, and retries jobs whose lease ran
 * out with exponential backoff, moving them to the dead-letter list after too many attempts.
 */
import { randomBytes } from 'node:crypto';
import type { HarborConfig } from './config';
import type { Job, JobStore } from './store';

/** A time-ordered id: milliseconds in base 36, then random bits, so sorting ids sorts by creation time. */
export function newJobId(now = Date.now()): string {
  return `${now.toString(36).padStart(9, '0')}-${randomBytes(4).toString('hex')}`;
}

/**
 * The delay before retry number `attempt` (1-based): base * 2^(attempt-1), capped at ten minutes, with up
 * to 20% random jitter so that jobs failing together do not come back together.
 */
export function retryWithBackoff(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const raw = Math.min(baseMs * 2 ** (attempt - 1), 10 * 60_000);
  return Math.round(raw * (1 + 0.2 * random()));
}

export class JobQueue {
  constructor(
    private readonly store: JobStore,
    private readonly config: HarborConfig,
  ) {}

  /** Adds a job; it can be leased at once. */
  enqueue(kind: string, payload: unknown, now = Date.now()): Job {
    const job: Job = { id: newJobId(now), kind, payload, state: 'queued', attempts: 0, notBefore: now };
    this.store.put(job);
    return job;
  }

  /**
   * Leases the oldest ready job of one of `kinds` to a worker, or returns undefined when none is ready.
   * Expired leases are returned to the queue first.
   */
  lease(kinds: string[], now = Date.now()): Job | undefined {
    this.reclaimExpired(now);
    const ready = this.store.list('queued').find((j) => kinds.includes(j.kind) && j.notBefore <= now);
    if (!ready) return undefined;
    const leased: Job = { ...ready, state: 'leased', attempts: ready.attempts + 1, leaseUntil: now + this.config.leaseMs };
    this.store.put(leased);
    return leased;
  }

  /** Marks a leased job done. Returns false when the lease had already expired (the job may run twice). */
  ack(id: string, now = Date.now()): boolean {
    const job = this.store.get(id);
    if (!job || job.state !== 'leased' || (job.leaseUntil ?? 0) < now) return false;
    this.store.put({ ...job, state: 'done', leaseUntil: undefined });
    return true;
  }

  /** Records a failure reported by the worker and schedules the retry (or the dead-letter list). */
  fail(id: string, error: string, now = Date.now()): void {
    const job = this.store.get(id);
    if (!job || job.state !== 'leased') return;
    this.requeue(job, error, now);
  }

  /** Puts every job whose lease has run out back in the queue, counting it as a failed attempt. */
  reclaimExpired(now = Date.now()): number {
    const expired = this.store.list('leased').filter((j) => (j.leaseUntil ?? 0) < now);
    for (const job of expired) this.requeue(job, 'lease expired', now);
    return expired.length;
  }

  private requeue(job: Job, error: string, now: number): void {
    if (job.attempts >= this.config.maxAttempts) {
      this.store.put({ ...job, state: 'dead', leaseUntil: undefined, lastError: error });
      return;
    }
    const delay = retryWithBackoff(job.attempts, this.config.backoffBaseMs);
    this.store.put({ ...job, state: 'queued', leaseUntil: undefined, notBefore: now + delay, lastError: error });
  }

  /** Counts of jobs per state, for /stats. */
  stats(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const state of ['queued', 'leased', 'dead'] as const) out[state] = this.store.list(state).length;
    return out;
  }
}
