/** The server's log lines: `LEVEL MM-DD hh:mm:ss [request id] message`, filtered by --log-level. */

export const LOG_LEVELS = ["debug", "info", "warning", "error", "critical"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class Logger {
  private readonly min: number;

  constructor(level: LogLevel = "info", private readonly sink: (line: string) => void = (l) => console.log(l)) {
    this.min = LOG_LEVELS.indexOf(level);
  }

  /** A logger that drops everything (tests). */
  static silent(): Logger {
    return new Logger("critical", () => {});
  }

  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.min;
  }

  debug(msg: string, requestId?: string): void { this.write("debug", msg, requestId); }
  info(msg: string, requestId?: string): void { this.write("info", msg, requestId); }
  warning(msg: string, requestId?: string): void { this.write("warning", msg, requestId); }
  error(msg: string, requestId?: string): void { this.write("error", msg, requestId); }

  private write(level: LogLevel, msg: string, requestId: string | undefined): void {
    if (!this.enabled(level)) return;
    const tag = level === "warning" ? "WARNING" : level.toUpperCase();
    const rid = requestId === undefined ? "" : ` [${escapeId(requestId)}]`;
    this.sink(`${tag} ${timestamp()}${rid} ${msg}`);
  }
}

// Request ids come from clients: quotes, brackets, backslashes and anything unprintable are escaped, so an id
// cannot forge the rest of a log line.
function escapeId(id: string): string {
  return id.replace(/[^\x21-\x7e]|["\\[\]]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
