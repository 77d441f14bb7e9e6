// Progress on stderr: a redrawn bar when stderr is a terminal; when it is piped or logged, a plain
// line every few seconds, so a long job shows it is alive (the command prints a summary when it
// finishes either way).

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export class Progress {
  private done = 0;
  private lastDraw = 0;
  private readonly start: number;
  private readonly live: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: ProgressStream = process.stderr,
    private readonly unit = 'patterns',
    /** Milliseconds between plain lines when the stream is not a terminal. */
    private readonly plainEvery = 5000,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.live = Boolean(stream.isTTY);
    this.start = now();
    this.lastDraw = this.start;
  }

  get elapsedSeconds(): number {
    return (this.now() - this.start) / 1000;
  }

  /** Rate so far, per second. */
  get rate(): number {
    return this.done / Math.max(this.elapsedSeconds, 1e-9);
  }

  tick(n = 1): void {
    this.done += n;
    const now = this.now();
    if (!this.live) {
      // piped: a plain line now and then, never at the end (the summary follows)
      if (now - this.lastDraw < this.plainEvery || this.done >= this.total) return;
      this.lastDraw = now;
      const eta = this.rate > 0 ? (this.total - this.done) / this.rate : 0;
      this.stream.write(`${this.label}: ${this.done}/${this.total} ${this.unit}, ${this.rate.toFixed(1)}/s, about ${eta.toFixed(0)} s left\n`);
      return;
    }
    if (now - this.lastDraw < 100 && this.done < this.total) return;
    this.lastDraw = now;
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - 60));
    const fill = Math.round(frac * width);
    const eta = this.rate > 0 ? (this.total - this.done) / this.rate : 0;
    const line =
      `${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${this.done}/${this.total} ` +
      `${this.rate.toFixed(1)} ${this.unit}/s ETA ${eta.toFixed(0)}s`;
    this.stream.write(`\r${line}\x1b[K`);
  }

  /** Clear the bar (the caller prints its own summary). */
  finish(): void {
    if (this.live) this.stream.write('\r\x1b[K');
  }
}
