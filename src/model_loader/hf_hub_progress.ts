/**
 * Download progress over all files of a snapshot: one redrawn bar (bytes, rate, ETA) on a terminal,
 * and a plain line every few seconds otherwise, so container logs show progress without control codes.
 */

export interface ProgressSink {
  isTTY: boolean;
  write(text: string): void;
}

export const stderrSink: ProgressSink = {
  isTTY: process.stderr.isTTY === true,
  write: (text) => void process.stderr.write(text),
};

const TTY_INTERVAL_MS = 100;
const LINE_INTERVAL_MS = 5000;

export class DownloadProgress {
  private done = 0;
  private fileName = "";
  private fileIndex = 0;
  private lastDraw = 0;
  private readonly t0: number;
  private readonly resumedBytes: number;

  /** `alreadyHave`: bytes of partial files kept from an earlier run, counted as done but not in the rate. */
  constructor(private readonly sink: ProgressSink, private readonly total: number, private readonly files: number, alreadyHave = 0,
    private readonly now: () => number = () => performance.now()) {
    this.t0 = now();
    this.done = alreadyHave;
    this.resumedBytes = alreadyHave;
  }

  /** Called again for the same file when a broken transfer resumes. */
  startFile(name: string, resumeFrom: number): void {
    if (name !== this.fileName) this.fileIndex++;
    this.fileName = name;
    if (!this.sink.isTTY) this.sink.write(`Downloading ${name} (${this.fileIndex}/${this.files})${resumeFrom > 0 ? `, resuming at ${formatBytes(resumeFrom)}` : ""}\n`);
  }

  advance(bytes: number): void {
    this.done += bytes;
    const t = this.now();
    if (t - this.lastDraw < (this.sink.isTTY ? TTY_INTERVAL_MS : LINE_INTERVAL_MS)) return;
    this.lastDraw = t;
    this.sink.write(this.sink.isTTY ? `\r${this.line()}\x1b[K` : `${this.line()}\n`);
  }

  finish(): void {
    const secs = (this.now() - this.t0) / 1000;
    const summary = `Downloaded ${this.files} file(s), ${formatBytes(this.total)} in ${secs.toFixed(1)} s`;
    this.sink.write(this.sink.isTTY ? `\r${summary}\x1b[K\n` : `${summary}\n`);
  }

  /** `model.safetensors (2/5) [#####     ] 12.3 MiB / 40.0 MiB 31% 5.2 MiB/s ETA 0:05` */
  line(): string {
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const rate = this.rate();
    const eta = rate > 0 ? formatDuration((this.total - this.done) / rate) : "?";
    const bar = "#".repeat(Math.round(frac * 20)).padEnd(20);
    return `${this.fileName} (${this.fileIndex}/${this.files}) [${bar}] ${formatBytes(this.done)} / ${formatBytes(this.total)} ${Math.floor(frac * 100)}% ${formatBytes(rate)}/s ETA ${eta}`;
  }

  private rate(): number {
    const secs = (this.now() - this.t0) / 1000;
    return secs > 0 ? (this.done - this.resumedBytes) / secs : 0;
  }
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return `${i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i]}`;
}

export function formatDuration(secs: number): string {
  const s = Math.max(0, Math.round(secs));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(r).padStart(2, "0")}`;
}
