/**
 * Where the Hugging Face cache is, which hub to ask and with what token: read once from the flags and
 * the same environment variables the Python tools read, so both share one cache and one login.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const DEFAULT_ENDPOINT = "https://huggingface.co";
export const DEFAULT_REVISION = "main";

/** What the hub flags ask for; null where the flag was not given. */
export interface HubFlags {
  revision: string | null;
  downloadDir: string | null;
  hfToken: string | null;
}

export interface HubSettings {
  cacheDir: string;
  endpoint: string;
  revision: string;
  token: string | null;
  offline: boolean;
}

type Env = Record<string, string | undefined>;

export function hubSettings(flags: HubFlags, env: Env = process.env): HubSettings {
  return {
    cacheDir: hubCacheDir(flags.downloadDir, env),
    endpoint: (nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_ENDPOINT).replace(/\/+$/, ""),
    revision: flags.revision ?? DEFAULT_REVISION,
    token: flags.hfToken ?? hubToken(env),
    offline: isTruthy(env.HF_HUB_OFFLINE) || isTruthy(env.TRANSFORMERS_OFFLINE),
  };
}

/** --download-dir, else $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
export function hubCacheDir(downloadDir: string | null, env: Env = process.env): string {
  return downloadDir ?? nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE) ?? join(hfHome(env), "hub");
}

function hfHome(env: Env): string {
  const xdg = nonEmpty(env.XDG_CACHE_HOME) ?? join(env.HOME ?? homedir(), ".cache");
  return nonEmpty(env.HF_HOME) ?? join(xdg, "huggingface");
}

// The token a `hf auth login` saved is used too, so a logged-in machine needs no extra setting.
function hubToken(env: Env): string | null {
  const fromEnv = nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN);
  if (fromEnv !== undefined) return fromEnv.trim();
  const file = nonEmpty(env.HF_TOKEN_PATH) ?? join(hfHome(env), "token");
  if (!existsSync(file)) return null;
  return nonEmpty(readFileSync(file, "utf8").trim()) ?? null;
}

function isTruthy(v: string | undefined): boolean {
  return v !== undefined && ["1", "on", "yes", "true"].includes(v.trim().toLowerCase());
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}
