/**
 * A progress bar for long benchmarks, on stderr so stdout keeps only the results. On a TTY it redraws one
 * line in place; elsewhere (CI logs) it prints a line at most every few seconds and at each tenth.
 */

export interface ProgressSink {
  isTTY: boolean;
  write(text: string): void;
}

const BAR_WIDTH = 30;
const LOG_INTERVAL_MS = 5000;

export class ProgressBar {
  private done = 0;
  private readonly start = performance.now();
  private lastLog = performance.now(); // the first line waits for a tenth or the interval
  private lastTenth = 0;
  private closed = false;

  constructor(
    private readonly total: number,
    private readonly desc: string,
    private readonly sink: ProgressSink | null = stderrSink(),
  ) {
    if (this.sink?.isTTY) this.draw();
  }

  update(n = 1): void {
    if (this.closed) return;
    this.done = Math.min(this.total, this.done + n);
    if (!this.sink) return;
    if (this.sink.isTTY) return this.draw();
    const now = performance.now();
    const tenth = Math.floor((10 * this.done) / Math.max(1, this.total));
    if (tenth > this.lastTenth || now - this.lastLog >= LOG_INTERVAL_MS) {
      this.lastTenth = tenth;
      this.lastLog = now;
      this.sink.write(`${this.status()}\n`);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.sink?.isTTY) this.sink.write("\n");
  }

  private draw(): void {
    const frac = this.total > 0 ? this.done / this.total : 1;
    const filled = Math.round(frac * BAR_WIDTH);
    const bar = "█".repeat(filled) + " ".repeat(BAR_WIDTH - filled);
    this.sink!.write(`\r${this.desc}: ${String(Math.floor(frac * 100)).padStart(3)}%|${bar}| ${this.counts()}`);
  }

  private status(): string {
    const pct = this.total > 0 ? Math.floor((100 * this.done) / this.total) : 100;
    return `${this.desc}: ${pct}% ${this.counts()}`;
  }

  private counts(): string {
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const eta = rate > 0 ? (this.total - this.done) / rate : 0;
    return `${this.done}/${this.total} [${clock(elapsed)}<${clock(eta)}, ${rate.toFixed(2)}it/s]`;
  }
}

function clock(s: number): string {
  const t = Math.round(s);
  const mm = String(Math.floor(t / 60) % 60).padStart(2, "0"), ss = String(t % 60).padStart(2, "0");
  return t >= 3600 ? `${Math.floor(t / 3600)}:${mm}:${ss}` : `${mm}:${ss}`;
}

function stderrSink(): ProgressSink {
  return { isTTY: process.stderr.isTTY === true, write: (t) => void process.stderr.write(t) };
}
