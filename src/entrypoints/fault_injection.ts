/**
 * A test hook for the engine-death path: VLLM_BUN_FAULT_AFTER_STEPS=N makes the model executor throw on
 * its (N+1)-th step with work, as a failing kernel would. Unset, it costs nothing.
 */
import type { ModelExecutor } from "../engine/core";

export const FAULT_ENV = "VLLM_BUN_FAULT_AFTER_STEPS";

export function withInjectedFault<T extends ModelExecutor>(executor: T, env: Record<string, string | undefined> = process.env): T {
  const raw = env[FAULT_ENV];
  if (raw === undefined || raw === "") return executor;
  const after = Number(raw);
  if (!(Number.isInteger(after) && after >= 0)) throw new Error(`${FAULT_ENV} must be a non-negative integer, got '${raw}'`);
  let steps = 0;
  const execute = executor.executeModel.bind(executor);
  executor.executeModel = (so) => {
    if (so.scheduled.length > 0 && steps++ >= after) throw new Error(`injected fault (${FAULT_ENV}=${after}): the step's kernels failed`);
    execute(so);
  };
  return executor;
}
