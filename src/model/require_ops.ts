import type { Backend } from "../backend/backend";

/** Throws at load, naming the architecture, the op and the backend, when the backend lacks an op the model needs. */
export function requireOps<K extends keyof Backend>(backend: Backend, architecture: string, ops: readonly K[]): void {
  for (const op of ops) {
    if (typeof backend[op] !== "function") {
      throw new Error(`${architecture} needs the ${String(op)} op, which the ${backend.name} backend does not have yet`);
    }
  }
}
