/**
 * The job log: every change to a job is one JSON line appended to `jobs.log`, so a crash loses at most the
 * line being written. On start the log is replayed into memory; `compactLog` rewrites it with one line per
 * live job when it has grown past a threshold.
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export type JobState = 'queued' | 'leased' | 'done' | 'dead';

export interface Job {
  id: string;
  kind: string;
  payload: unknown;
  state: JobState;
  attempts: number;
  /** When the job may next be leased (ms since epoch); retries push it into the future. */
  notBefore: number;
  /** When the current lease runs out; only set while leased. */
  leaseUntil?: number;
  lastError?: string;
}

export class JobStore {
  private readonly jobs = new Map<string, Job>();
  private readonly file: string;
  private linesSinceCompaction = 0;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'jobs.log');
    if (existsSync(this.file)) this.replay();
  }

  /** Rebuilds the in-memory table from the log; a torn last line (from a crash) is skipped. */
  private replay(): void {
    const lines = readFileSync(this.file, 'utf8').split('\n');
    for (const line of lines) {
      if (!line) continue;
      try {
        const job = JSON.parse(line) as Job;
        this.jobs.set(job.id, job);
      } catch {
        // Only the last line can be torn; everything before it was flushed.
      }
      this.linesSinceCompaction++;
    }
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** Every job in a given state, oldest first (ids are time-ordered). */
  list(state: JobState): Job[] {
    return [...this.jobs.values()].filter((j) => j.state === state).sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Writes the new version of a job to the log and to memory. */
  put(job: Job): void {
    appendFileSync(this.file, JSON.stringify(job) + '\n');
    this.jobs.set(job.id, job);
    this.linesSinceCompaction++;
    if (this.linesSinceCompaction > 10_000) this.compactLog();
  }

  /**
   * Rewrites the log with one line per job that is not done, through a temporary file and a rename, so
   * readers never see half a log. Done jobs are dropped; dead ones are kept for the report script.
   */
  compactLog(): void {
    const live = [...this.jobs.values()].filter((j) => j.state !== 'done');
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, live.map((j) => JSON.stringify(j) + '\n').join(''));
    renameSync(tmp, this.file);
    for (const job of this.jobs.values()) if (job.state === 'done') this.jobs.delete(job.id);
    this.linesSinceCompaction = live.length;
  }
}
