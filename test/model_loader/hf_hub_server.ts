/**
 * A local stand-in for the Hugging Face hub, answering with the hub's real shapes: the repo listing at
 * /api/models/{repo}/revision/{rev}, HEAD/GET /{repo}/resolve/{rev}/{file} with ETag, X-Repo-Commit and
 * X-Linked-Etag/-Size, a 302 to a CDN on another origin for LFS files, Range requests, and the hub's
 * error codes. Transfers can be told to break off midway, and every request is recorded.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface FakeRepo {
  commit: string;
  files: Map<string, Uint8Array>;
  /** Other names of the commit (branches, tags). */
  refs: string[];
  /** Needs this token for everything (a private repo). */
  privateToken?: string;
  /** Listing is public, files need this token (a gated repo whose terms the token's account accepted). */
  gatedToken?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  range: string | null;
  auth: string | null;
  host: "hub" | "cdn";
}

const LFS = (name: string) => name.endsWith(".safetensors") || name.endsWith(".bin");

export function gitBlobSha1(data: Uint8Array): string {
  return createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");
}

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A repo holding every file of `dir`, plus `extra` files (duplicates in other formats, a README). */
export function repoFromDir(dir: string, commit: string, extra: Record<string, string> = {}): FakeRepo {
  const files = new Map<string, Uint8Array>();
  for (const name of readdirSync(dir).sort()) files.set(name, new Uint8Array(readFileSync(join(dir, name))));
  for (const [name, text] of Object.entries(extra)) files.set(name, new TextEncoder().encode(text));
  return { commit, files, refs: ["main"] };
}

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  readonly requests: RecordedRequest[] = [];
  /**
   * file name → how many more GETs of it break off after `cutAfter` bytes: the body just ends short,
   * or with `reset` the connection is torn down (bytes in flight are lost).
   */
  readonly breaks = new Map<string, { times: number; cutAfter: number; reset?: boolean }>();
  /** Answer Range requests with the whole file (200), as some proxies do. */
  ignoreRanges = false;
  /** Files whose bytes arrive damaged (one byte flipped), so they fail the etag check. */
  readonly corrupt = new Set<string>();
  private readonly hub: ReturnType<typeof Bun.serve>;
  private readonly cdn: ReturnType<typeof Bun.serve>;

  constructor() {
    this.hub = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => this.onHub(req) });
    this.cdn = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => this.onCdn(req) });
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.hub.port}`;
  }

  stop(): void {
    this.hub.stop(true);
    this.cdn.stop(true);
  }

  private record(req: Request, host: RecordedRequest["host"]): URL {
    const url = new URL(req.url);
    this.requests.push({ method: req.method, path: decodeURIComponent(url.pathname), range: req.headers.get("range"), auth: req.headers.get("authorization"), host });
    return url;
  }

  private onHub(req: Request): Response {
    const url = this.record(req, "hub");
    const api = /^\/api\/models\/(.+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (api) return this.listing(req, api[1], decodeURIComponent(api[2]));
    const resolve = /^\/(.+?\/.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve) return this.resolve(req, resolve[1], decodeURIComponent(resolve[2]), decodeURIComponent(resolve[3]));
    return new Response("Not Found", { status: 404 });
  }

  private access(req: Request, repoId: string, forFile: boolean): { repo: FakeRepo } | Response {
    const repo = this.repos.get(repoId);
    const auth = req.headers.get("authorization");
    const error = (status: number, code: string, message: string) =>
      Response.json({ error: message }, { status, headers: { "X-Error-Code": code, "X-Error-Message": message } });
    // As the hub does: a missing repo and a private one look the same to a caller without access.
    if (repo === undefined || (repo.privateToken !== undefined && auth !== `Bearer ${repo.privateToken}`))
      return error(401, "RepoNotFound", "Repository not found");
    if (forFile && repo.gatedToken !== undefined && auth !== `Bearer ${repo.gatedToken}`)
      return auth === null ? error(401, "GatedRepo", "Access to model is restricted. You must be authenticated to access it.")
        : error(403, "GatedRepo", "Access to model is restricted and you are not in the authorized list.");
    return { repo };
  }

  private listing(req: Request, repoId: string, revision: string): Response {
    const a = this.access(req, repoId, false);
    if (a instanceof Response) return a;
    if (revision !== a.repo.commit && !a.repo.refs.includes(revision))
      return Response.json({ error: `Invalid rev id: ${revision}` }, { status: 404, headers: { "X-Error-Code": "RevisionNotFound" } });
    const siblings = [...a.repo.files.keys()].map((rfilename) => ({ rfilename }));
    return Response.json({ _id: "x", id: repoId, modelId: repoId, sha: a.repo.commit, private: a.repo.privateToken !== undefined, siblings });
  }

  private resolve(req: Request, repoId: string, revision: string, file: string): Response {
    const a = this.access(req, repoId, true);
    if (a instanceof Response) return a;
    if (revision !== a.repo.commit && !a.repo.refs.includes(revision))
      return new Response("Invalid rev id", { status: 404, headers: { "X-Error-Code": "RevisionNotFound" } });
    const data = a.repo.files.get(file);
    if (data === undefined) return new Response("Entry not found", { status: 404, headers: { "X-Error-Code": "EntryNotFound" } });
    const common = { "X-Repo-Commit": a.repo.commit };
    if (LFS(file)) {
      // The hub answers LFS files with a redirect to the CDN, which names the content by its sha256.
      const pointer = new TextEncoder().encode(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(data)}\nsize ${data.length}\n`);
      return new Response(null, {
        status: 302,
        headers: { ...common, Location: `http://127.0.0.1:${this.cdn.port}/repos/${sha256(data)}?name=${encodeURIComponent(file)}`,
          ETag: `"${gitBlobSha1(pointer)}"`, "X-Linked-Etag": `"${sha256(data)}"`, "X-Linked-Size": String(data.length) },
      });
    }
    return this.body(req, file, data, { ...common, ETag: `"${gitBlobSha1(data)}"` });
  }

  private onCdn(req: Request): Response {
    const url = this.record(req, "cdn");
    const file = url.searchParams.get("name") ?? "";
    const want = url.pathname.replace("/repos/", "");
    for (const repo of this.repos.values()) {
      const data = repo.files.get(file);
      if (data !== undefined && sha256(data) === want) return this.body(req, file, data, { ETag: `"${want}"` });
    }
    return new Response("NoSuchKey", { status: 404 });
  }

  /** The bytes of a file, honouring `Range: bytes=N-`, broken off midway when a break is armed. */
  private body(req: Request, file: string, data: Uint8Array, headers: Record<string, string>): Response {
    const range = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
    let start = 0, status = 200;
    const h: Record<string, string> = { ...headers, "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream" };
    if (range && !this.ignoreRanges) {
      start = Number(range[1]);
      if (start >= data.length) return new Response(null, { status: 416, headers: { "Content-Range": `bytes */${data.length}` } });
      status = 206;
      h["Content-Range"] = `bytes ${start}-${data.length - 1}/${data.length}`;
    }
    let slice = data.subarray(start);
    if (this.corrupt.has(file)) {
      slice = new Uint8Array(slice); // a copy: the repo's own bytes stay intact
      slice[slice.length >> 1] ^= 0xff;
    }
    h["Content-Length"] = String(slice.length);
    if (req.method === "HEAD") return new Response(null, { status, headers: h });
    const brk = this.breaks.get(file);
    if (brk === undefined || brk.times <= 0) return new Response(slice, { status, headers: h });
    brk.times--;
    const cut = Math.min(brk.cutAfter, slice.length - 1);
    // Without a length the short body ends cleanly and every byte sent arrives: the cut point is exact.
    if (!brk.reset) delete h["Content-Length"];
    const stream = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(slice.subarray(0, cut));
        await Bun.sleep(20);
        if (brk.reset) c.error(new Error("connection reset by the test hub"));
        else c.close();
      },
    });
    return new Response(stream, { status, headers: h });
  }
}
