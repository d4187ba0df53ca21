/**
 * When each request is sent, as vLLM's benchmark schedules them: all at once for an infinite rate, else
 * gamma-distributed gaps (shape = burstiness, mean = 1/rate; burstiness 1 is a Poisson process) rescaled
 * so the last request goes out at num/rate seconds, which keeps the offered load independent of the seed.
 */
import type { Generator } from "../sample/generator";

/** Seconds after the start at which each of `num` requests is sent. */
export function arrivalOffsets(g: Generator, num: number, rate: number, burstiness: number): number[] {
  if (!(rate > 0)) throw new Error(`--request-rate must be positive or inf, got ${rate}`);
  if (!(burstiness > 0)) throw new Error(`--burstiness must be positive, got ${burstiness}`);
  if (rate === Infinity) return new Array(num).fill(0);
  const gaps = Array.from({ length: num }, () => (burstiness === Infinity ? 1 / rate : gamma(g, burstiness) / (rate * burstiness)));
  const offsets: number[] = [];
  let t = 0;
  for (const gap of gaps) offsets.push((t += gap));
  const scale = num / rate / offsets[num - 1];
  return offsets.map((o) => o * scale);
}

/** A Gamma(shape, 1) draw (Marsaglia–Tsang; shapes below 1 boosted through U^(1/shape)). */
export function gamma(g: Generator, shape: number): number {
  if (shape < 1) return gamma(g, shape + 1) * Math.pow(uniformOpen(g), 1 / shape);
  const d = shape - 1 / 3, c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normal(g), v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    const u = uniformOpen(g);
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

function normal(g: Generator): number {
  return Math.sqrt(-2 * Math.log(uniformOpen(g))) * Math.cos(2 * Math.PI * g.random());
}

/** Uniform in (0, 1), safe under log. */
function uniformOpen(g: Generator): number {
  let u = 0;
  while (u === 0) u = g.random();
  return u;
}
