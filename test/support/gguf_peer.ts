/**
 * llama.cpp (through node-llama-cpp's prebuilt CPU binaries) as the reference on the same GGUF file:
 * its tokenization, its greedy tokens with their top log-probabilities, and its top-2 logit margin at a step.
 */
import type { Llama, LlamaContext, LlamaModel, Token } from "node-llama-cpp";

let peer: Promise<{ llama: Llama | null; reason: string }> | null = null;

/** llama.cpp loaded once per process, or null with the reason it cannot load here. */
export function loadPeer(): Promise<{ llama: Llama | null; reason: string }> {
  peer ??= (async () => {
    try {
      const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
      const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, progressLogs: false });
      return { llama, reason: "" };
    } catch (e) {
      return { llama: null, reason: `node-llama-cpp cannot load llama.cpp here: ${(e as Error).message}` };
    }
  })();
  return peer;
}

export async function withPeerModel<T>(llama: Llama, path: string, use: (model: LlamaModel) => Promise<T>): Promise<T> {
  const model = await llama.loadModel({ modelPath: path });
  try {
    return await use(model);
  } finally {
    await model.dispose();
  }
}

/** llama.cpp's ids for `text`, special tokens parsed, no BOS added (as encode(text, { addSpecialTokens: false })). */
export function peerTokenize(model: LlamaModel, text: string): number[] {
  return [...model.tokenize(text, true)].map(Number);
}

/** One greedy step of llama.cpp: the token and the log-probabilities of its 20 most likely tokens. */
export interface PeerStep {
  token: number;
  top: Map<number, number>;
}

const TOP = 20;

/** `steps` greedy tokens after `prompt`, with llama.cpp's top log-probabilities at each. */
export async function peerGreedy(model: LlamaModel, prompt: readonly number[], steps: number): Promise<PeerStep[]> {
  return withContext(model, async (context) => {
    const out: PeerStep[] = [];
    for await (const step of context.getSequence().evaluateWithMetadata(prompt as Token[], { probabilities: true }, { temperature: 0 })) {
      const top = new Map<number, number>();
      for (const [t, p] of step.probabilities) {
        top.set(Number(t), Math.log(p));
        if (top.size === TOP) break;
      }
      out.push({ token: Number(step.token), top });
      if (out.length === steps) break;
    }
    return out;
  });
}

/** llama.cpp's top-2 logit margin for the token after `ids` (ln p1 - ln p2 of its probabilities). */
export async function peerMargin(model: LlamaModel, ids: readonly number[]): Promise<number> {
  return withContext(model, async (context) => {
    for await (const step of context.getSequence().evaluateWithMetadata(ids as Token[], { probabilities: true }, { temperature: 0 })) {
      const [first, second] = step.probabilities.entries();
      return Math.log(first[1]) - Math.log(second?.[1] ?? Number.MIN_VALUE);
    }
    throw new Error("llama.cpp produced no token");
  });
}

async function withContext<T>(model: LlamaModel, use: (context: LlamaContext) => Promise<T>): Promise<T> {
  const context = await model.createContext({ contextSize: 64, threads: 2, batchSize: 32 });
  try {
    return await use(context);
  } finally {
    await context.dispose();
  }
}
