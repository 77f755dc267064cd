/**
 * The view of an answer written again from its start (Continue: the engine cannot resume a generation, so it
 * answers the question again with more room; with the same sampling and memory its answer starts as the cut-off
 * one did). While the new text repeats what is shown, the view stays as it is; once it goes further, only the
 * new part is appended; if it turns out different (the memory changed since), the view shows the new text.
 * Pure, so its cases are unit-tested.
 */

export type ViewChange = { kind: 'none' } | { kind: 'append'; text: string } | { kind: 'replace'; text: string };

export class ContinuedAnswer {
  private text = '';
  /** Characters of `text` the view shows, once it shows more than `shown`. */
  private shownUpTo = 0;
  private differs = false;

  /** `shown`: the text the view shows now ('' for an answer written anew). */
  constructor(private readonly shown: string) {}

  /** The answer's text so far. */
  get answer(): string {
    return this.text;
  }

  /** The new text did not start as the shown one. */
  get diverged(): boolean {
    return this.differs;
  }

  /** The view shows something the shown text did not have. */
  get progressed(): boolean {
    return this.differs || this.shownUpTo > this.shown.length;
  }

  push(delta: string): ViewChange {
    this.text += delta;
    if (!this.differs) {
      const n = Math.min(this.text.length, this.shown.length);
      if (this.text.slice(0, n) !== this.shown.slice(0, n)) {
        this.differs = true;
        this.shownUpTo = this.text.length;
        return { kind: 'replace', text: this.text };
      }
      if (this.text.length <= this.shown.length) return { kind: 'none' };
    }
    const from = Math.max(this.shownUpTo, this.differs ? 0 : this.shown.length);
    this.shownUpTo = this.text.length;
    return from < this.text.length ? { kind: 'append', text: this.text.slice(from) } : { kind: 'none' };
  }
}
