// Sizes for people, the one algorithm for the CLI, the plans and the page:
// binary units ("2.5 GiB"), three significant digits. It imports nothing, so
// the page loads it as it is (test/build/layering.test.ts keeps it so).

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 2684354560 → "2.5 GiB", 1536 → "1.5 KiB", 1023 → "1023 B": trailing zeros dropped. */
export function sizeText(n: number): string {
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  const digits = u === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  let shown = Number(v.toFixed(digits));
  // 1048575 bytes is 1023.999 KiB: rounded, that reads "1 MiB", never "1024 KiB".
  if (shown >= 1024 && u < UNITS.length - 1) {
    shown = 1;
    u++;
  }
  return `${n < 0 && shown !== 0 ? '-' : ''}${shown} ${UNITS[u]}`;
}

/** For the CLI, where a script may read the number: "2.5 GiB (2684354560 bytes)"; "512 B" is exact already. */
export function sizeWithBytes(n: number): string {
  const text = sizeText(n);
  return text === `${n} B` ? text : `${text} (${n} bytes)`;
}
