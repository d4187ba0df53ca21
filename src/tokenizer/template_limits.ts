/**
 * An output-size limit for chat template rendering. The Jinja interpreter has none: a loop can build
 * gigabytes before any time limit fires. While a bounded render runs, every value the interpreter produces
 * is checked (no string or list longer than the limit) and the text all blocks emit is counted against a
 * budget, so runaway output stops at the limit. A time limit needs a thread that can be terminated
 * (tokenizer_pool.ts); this is the memory half.
 */
import { Environment, Interpreter } from "@huggingface/jinja";
import { TokenizerError } from "./tokenizer_error";

/** Nested blocks count their text once per level; real templates nest a handful deep. */
const BLOCK_BUDGET_FACTOR = 16;

interface Budget {
  maxChars: number;
  blockCharsLeft: number;
}

let active: Budget | null = null;

type Evaluate = (this: unknown, node: unknown, env: unknown) => { value: unknown };
const proto = Interpreter.prototype as unknown as { evaluate: Evaluate; evaluateBlock: Evaluate };
const evaluate = proto.evaluate;
const evaluateBlock = proto.evaluateBlock;

// Patched once for the process (and each worker): with no bounded render running, both are plain pass-throughs.
proto.evaluate = function (node, env) {
  const out = evaluate.call(this, node, env);
  if (active !== null) checkValue(out.value, active);
  return out;
};
proto.evaluateBlock = function (node, env) {
  const out = evaluateBlock.call(this, node, env);
  if (active !== null) {
    const text = out.value as string;
    active.blockCharsLeft -= text.length;
    if (active.blockCharsLeft < 0) throw tooLarge(active.maxChars);
  }
  return out;
};

// range() builds its whole list at once (range(10**9) is gigabytes), so its length is checked before the call.
type FunctionValue = { type: string; value: (args: { value: unknown }[], scope: unknown) => unknown };
const envProto = Environment.prototype as unknown as { lookupVariable(this: unknown, name: string): FunctionValue };
const lookupVariable = envProto.lookupVariable;
envProto.lookupVariable = function (name) {
  const v = lookupVariable.call(this, name);
  if (active === null || name !== "range" || v.type !== "FunctionValue") return v;
  const b = active;
  const bounded = Object.create(Object.getPrototypeOf(v)) as FunctionValue;
  Object.assign(bounded, v, {
    value: (args: { value: unknown }[], scope: unknown) => {
      if (rangeLength(args.map((a) => a.value)) > b.maxChars) throw tooLarge(b.maxChars);
      return v.value(args, scope);
    },
  });
  return bounded;
};

function rangeLength(args: unknown[]): number {
  const [a, b, step = 1] = args.map(Number);
  const [start, stop] = b === undefined || Number.isNaN(b) ? [0, a] : [a, b];
  return step === 0 || Number.isNaN(step) ? 0 : Math.max(0, Math.ceil((stop - start) / step));
}

function checkValue(value: unknown, b: Budget): void {
  if ((typeof value === "string" || Array.isArray(value)) && value.length > b.maxChars) throw tooLarge(b.maxChars);
}

function tooLarge(maxChars: number): TokenizerError {
  return new TokenizerError(`the chat template's output exceeds the limit of ${maxChars} characters`);
}

/** Runs `render` with its output bounded to `maxChars` characters (no bound when null). */
export function withOutputLimit<T>(maxChars: number | null, render: () => T): T {
  if (maxChars === null) return render();
  const outer = active;
  active = { maxChars, blockCharsLeft: maxChars * BLOCK_BUDGET_FACTOR };
  try {
    return render();
  } finally {
    active = outer;
  }
}

