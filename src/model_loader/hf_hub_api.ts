/**
 * The two hub endpoints a download needs: the repo listing at a revision
 * (`/api/models/{repo}/revision/{rev}`: `sha` and `siblings`) and each file's metadata from a HEAD of
 * `/{repo}/resolve/{commit}/{file}` (etag, size, commit, and a redirect to the CDN for LFS files).
 */

export interface HubClient {
  endpoint: string;
  token: string | null;
}

export interface RepoInfo {
  sha: string;
  files: string[];
}

export interface FileMetadata {
  file: string;
  /** The content's hash: sha256 for LFS files, the git blob sha1 otherwise. */
  etag: string;
  size: number;
  commit: string | null;
  /** Where the bytes are: the CDN for LFS files, else the resolve URL. */
  location: string;
  /** Whether `location` is on the hub, where the token may be sent. */
  sameOrigin: boolean;
}

/** An HTTP failure from the hub, with a message that says what to do about it. */
export class HubError extends Error {
  constructor(message: string, readonly status: number | null) {
    super(message);
    this.name = "HubError";
  }
}

export function resolveUrl(client: HubClient, repo: string, revision: string, file: string): string {
  return `${client.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split("/").map(encodeURIComponent).join("/")}`;
}

export function authHeaders(client: HubClient): Record<string, string> {
  return client.token === null ? {} : { Authorization: `Bearer ${client.token}` };
}

export async function fetchRepoInfo(client: HubClient, repo: string, revision: string): Promise<RepoInfo> {
  const url = `${client.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`;
  const res = await hubFetch(url, { headers: authHeaders(client) });
  if (!res.ok) throw await hubError(res, client, repo, revision);
  const body = (await res.json()) as { sha?: unknown; siblings?: { rfilename?: unknown }[] };
  if (typeof body.sha !== "string" || !Array.isArray(body.siblings))
    throw new HubError(`${url}: the answer has no 'sha' and 'siblings'; is ${client.endpoint} a Hugging Face hub (HF_ENDPOINT)?`, res.status);
  return { sha: body.sha, files: body.siblings.map((s) => String(s.rfilename)) };
}

/** HEAD without following the CDN redirect: the hub's own headers carry the etag and size. */
export async function fetchFileMetadata(client: HubClient, repo: string, commit: string, file: string): Promise<FileMetadata> {
  let url = resolveUrl(client, repo, commit, file);
  for (let hops = 0; ; hops++) {
    const res = await hubFetch(url, { method: "HEAD", redirect: "manual", headers: { ...authHeaders(client), "Accept-Encoding": "identity" } });
    const location = res.headers.get("location");
    const target = location === null ? null : new URL(location, url);
    // A relative redirect is a renamed repo on the hub itself: follow it and ask again.
    if (res.status >= 300 && res.status < 400 && target !== null && target.origin === new URL(url).origin && hops < 5 && !isCdnRedirect(res)) {
      url = target.href;
      continue;
    }
    if (res.status >= 400 || (res.status >= 300 && target === null)) throw await hubError(res, client, repo, commit, file);
    const etag = normalizeEtag(res.headers.get("x-linked-etag") ?? res.headers.get("etag"));
    const size = Number(res.headers.get("x-linked-size") ?? res.headers.get("content-length"));
    if (etag === null) throw new HubError(`${url}: the hub sent no ETag, so the download could not be verified`, res.status);
    if (!Number.isSafeInteger(size) || size < 0) throw new HubError(`${url}: the hub sent no file size`, res.status);
    const loc = target?.href ?? url;
    return { file, etag, size, commit: res.headers.get("x-repo-commit"), location: loc, sameOrigin: new URL(loc).origin === new URL(client.endpoint).origin };
  }
}

// LFS redirects carry the linked etag; a rename redirect does not.
function isCdnRedirect(res: Response): boolean {
  return res.headers.has("x-linked-etag");
}

/** `W/"abc"` and `"abc"` → `abc`: the etag is a file name in the cache. */
export function normalizeEtag(etag: string | null): string | null {
  if (etag === null) return null;
  const v = etag.trim().replace(/^W\//, "").replace(/^"|"$/g, "");
  return /^[A-Za-z0-9._-]+$/.test(v) ? v : null;
}

/** fetch, with a network failure turned into a message that names the hub and the offline switch. */
export async function hubFetch(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    throw new HubError(`cannot reach ${new URL(url).origin} (${(e as Error).message}); set HF_HUB_OFFLINE=1 to use only the local cache, or HF_ENDPOINT for a mirror`, null);
  }
}

/** Turns a failed answer into the cause a user can act on: a token, a repo name, a revision. */
export async function hubError(res: Response, client: HubClient, repo: string, revision: string, file?: string): Promise<HubError> {
  const code = res.headers.get("x-error-code");
  const server = res.headers.get("x-error-message") ?? (await serverMessage(res));
  const detail = server ? ` (hub: ${server})` : "";
  const page = `${client.endpoint}/${repo}`;
  const what = file === undefined ? repo : `${repo}/${file}`;
  if (code === "GatedRepo" || res.status === 403)
    return new HubError(`${repo}: ${res.status}: the repository is gated or private: set HF_TOKEN (or --hf-token) to a token of an account that accepted its terms at ${page}${detail}`, res.status);
  if (code === "RevisionNotFound")
    return new HubError(`${repo}: ${res.status}: no revision '${revision}' (--revision) in the repository${detail}`, res.status);
  if (code === "EntryNotFound")
    return new HubError(`${what}: ${res.status}: no such file at revision ${revision}${detail}`, res.status);
  if (res.status === 401) {
    const hint = client.token === null ? "if it is gated or private: set HF_TOKEN (or --hf-token)" : "or the token (HF_TOKEN / --hf-token) has no access to it";
    return new HubError(`${repo}: 401: no such repository on ${client.endpoint}, ${hint}${detail}`, res.status);
  }
  if (code === "RepoNotFound" || res.status === 404)
    return new HubError(`${what}: 404: no such repository or revision '${revision}' on ${client.endpoint}${detail}`, res.status);
  return new HubError(`${what}: HTTP ${res.status} from ${client.endpoint}${detail}`, res.status);
}

async function serverMessage(res: Response): Promise<string | null> {
  const text = (await res.text().catch(() => "")).trim();
  if (text === "") return null;
  try {
    const error = (JSON.parse(text) as { error?: unknown }).error;
    return typeof error === "string" ? error : null;
  } catch {
    return /html/i.test(res.headers.get("content-type") ?? "") ? null : text.slice(0, 200);
  }
}
