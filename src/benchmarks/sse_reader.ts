/** Splits a streamed HTTP body into server-sent-event data payloads, whatever the chunk boundaries. */

export class SseReader {
  private buffer = "";
  private readonly decoder = new TextDecoder();

  /** Data payloads of the events completed by `bytes` (comments and other fields dropped). */
  push(bytes: Uint8Array): string[] {
    this.buffer += this.decoder.decode(bytes, { stream: true }).replaceAll("\r\n", "\n");
    const out: string[] = [];
    let end: number;
    while ((end = this.buffer.indexOf("\n\n")) >= 0) {
      const event = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const data = dataOf(event);
      if (data !== null) out.push(data);
    }
    return out;
  }

  /** The last event when the stream ended without its blank line. */
  flush(): string[] {
    const data = dataOf(this.buffer + this.decoder.decode());
    this.buffer = "";
    return data === null ? [] : [data];
  }
}

function dataOf(event: string): string | null {
  const lines = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""));
  return lines.length > 0 ? lines.join("\n") : null;
}
