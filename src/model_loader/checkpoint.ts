// A model directory's weights as one name → tensor map, whether stored in one file or sharded
// (hub layout: model.safetensors, or model.safetensors.index.json plus shards).
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ModelLoadError } from "./errors";
import { readRequiredModelFile } from "./model_file";
import { openSafetensors, type SafetensorsFile, type TensorInfo } from "./safetensors";

export const INDEX_FILE = "model.safetensors.index.json";
export const SINGLE_FILE = "model.safetensors";

/** All tensors of a checkpoint directory; each name lives in exactly one file. */
export interface Checkpoint {
  dir: string;
  files: SafetensorsFile[];
  tensors: Map<string, TensorInfo>;
  /** The tensor, or a ModelLoadError naming it and the dir. */
  get(name: string): TensorInfo;
  has(name: string): boolean;
}

/**
 * Opens the weights of `dir`: the shards named by model.safetensors.index.json if present, else
 * model.safetensors, else every *.safetensors file in name order.
 */
export function openCheckpoint(dir: string): Checkpoint {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelLoadError(dir, "model directory does not exist");
  const files = openFiles(dir);
  const tensors = mergeTensors(files);
  return {
    dir,
    files,
    tensors,
    get(name: string): TensorInfo {
      const t = tensors.get(name);
      if (t === undefined) {
        throw new ModelLoadError(dir, `not found in the checkpoint (${tensors.size} tensors in ${files.length} file(s))`, name);
      }
      return t;
    },
    has: (name: string) => tensors.has(name),
  };
}

function openFiles(dir: string): SafetensorsFile[] {
  const indexPath = join(dir, INDEX_FILE);
  if (existsSync(indexPath)) return openIndexed(dir, indexPath);
  const single = join(dir, SINGLE_FILE);
  if (existsSync(single)) return [openSafetensors(single)];
  const names = readdirSync(dir)
    .filter((n) => n.endsWith(".safetensors") && statSync(join(dir, n)).isFile())
    .sort();
  if (names.length === 0) {
    throw new ModelLoadError(dir, `no weights found: looked for ${INDEX_FILE}, ${SINGLE_FILE} and *.safetensors`);
  }
  return names.map((n) => openSafetensors(join(dir, n)));
}

function openIndexed(dir: string, indexPath: string): SafetensorsFile[] {
  const weightMap = readWeightMap(indexPath);
  const shards = new Map<string, SafetensorsFile>();
  for (const shard of new Set(weightMap.values())) {
    const shardPath = join(dir, shard);
    if (!existsSync(shardPath)) throw new ModelLoadError(indexPath, `shard '${shard}' does not exist in ${dir}`);
    shards.set(shard, openSafetensors(shardPath));
  }
  for (const [name, shard] of weightMap) {
    const file = shards.get(shard)!;
    if (!file.tensors.has(name)) throw new ModelLoadError(file.path, `listed in ${INDEX_FILE} but missing from this shard`, name);
  }
  return [...shards.values()];
}

function readWeightMap(indexPath: string): Map<string, string> {
  let index: unknown;
  const text = readRequiredModelFile(indexPath);
  try {
    index = JSON.parse(text);
  } catch (e) {
    throw new ModelLoadError(indexPath, `cannot read index: ${(e as Error).message}`);
  }
  const weightMap = isObject(index) ? index.weight_map : undefined;
  if (!isObject(weightMap)) throw new ModelLoadError(indexPath, "'weight_map' must be an object of tensor name → shard file");
  const out = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== "string" || !isPlainFileName(shard)) {
      throw new ModelLoadError(indexPath, `shard ${JSON.stringify(shard)} must be a plain file name inside the model directory`, name);
    }
    out.set(name, shard);
  }
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// Shard names come from a downloaded file; refuse anything that could point outside the model dir.
function isPlainFileName(name: string): boolean {
  return name.length > 0 && name !== "." && !name.includes("/") && !name.includes("\\") && !name.includes("..");
}

function mergeTensors(files: SafetensorsFile[]): Map<string, TensorInfo> {
  const tensors = new Map<string, TensorInfo>();
  for (const f of files) {
    for (const [name, t] of f.tensors) {
      const other = tensors.get(name);
      if (other !== undefined) throw new ModelLoadError(f.path, `also present in ${other.file}`, name);
      tensors.set(name, t);
    }
  }
  return tensors;
}
