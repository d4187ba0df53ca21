/** The few Python formatting rules vLLM's benchmark output relies on (str(float), format-spec alignment). */

/** Python's `str(x)` / `repr(x)` for a float: `10.0`, `inf`, `1e-05`, `0.25`. */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const abs = Math.abs(x);
  // Python switches to exponent notation below 1e-4 and from 1e16 up; JavaScript at other bounds.
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e16)) {
    const [mant, exp] = x.toExponential().split("e");
    const e = Number(exp);
    return `${mant}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  return Number.isInteger(x) ? `${x}.0` : String(x);
}

/** `"{:<40} {:<10}".format(label, value)`: vLLM's table row, value padding included. */
export function row(label: string, value: string | number): string {
  return `${label.padEnd(40)} ${String(value).padEnd(10)}`;
}

/** `"{:<40} {:<10.2f}".format(label, value)`. */
export function rowF(label: string, value: number): string {
  return row(label, value.toFixed(2));
}

/** `"{s:{c}^{n}}".format(s=title, n=width, c=fill)`: centred, the odd fill character on the right. */
export function centered(title: string, fill: string, width = 50): string {
  const pad = Math.max(0, width - title.length);
  const left = Math.floor(pad / 2);
  return fill.repeat(left) + title + fill.repeat(pad - left);
}
