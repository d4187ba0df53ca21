/** Per-layer attention options from the config: the sliding window each layer uses (0: full attention). */
import type { AttentionLayerOptions } from "../backend/backend";
import type { ModelConfig } from "../model_loader/model_config";

/** The window of layer i; a window that can never cut a sequence (>= max_model_len) is no window. */
export function layerWindow(config: ModelConfig, i: number, maxModelLen?: number): number {
  const w = config.slidingWindow;
  if (w === null || (config.layerTypes !== undefined && config.layerTypes[i] !== "sliding_attention")) return 0;
  return maxModelLen !== undefined && w >= maxModelLen ? 0 : w;
}

export function attentionLayers(config: ModelConfig, maxModelLen: number | undefined, softCap = 0): AttentionLayerOptions[] {
  return Array.from({ length: config.numHiddenLayers }, (_, i) => ({ slidingWindow: layerWindow(config, i, maxModelLen), softCap }));
}
