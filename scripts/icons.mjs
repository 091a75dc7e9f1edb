// Makes the app's icons from build/icon.svg: PNGs of 16…512 px in
// build/icons/ (electron-builder's Linux set, named NxN.png), build/icon.png
// (512), and the Windows .ico and macOS .icns containers, which both hold
// PNG images as they are. The SVG is drawn by the Chromium the e2e tests use
// (through playwright-core), so nothing else needs installing.
// Run: node scripts/icons.mjs [path to chromium]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { chromium } from 'playwright-core';

const root = path.resolve(import.meta.dirname, '..');
const build = path.join(root, 'build');
export const SIZES = [16, 24, 32, 48, 64, 128, 256, 512];

/** ICO: a header, one directory entry per image, then the PNGs (Vista and later read PNG entries). */
function ico(images) {
  const head = Buffer.alloc(6 + 16 * images.length);
  head.writeUInt16LE(0, 0);
  head.writeUInt16LE(1, 2); // 1: icon
  head.writeUInt16LE(images.length, 4);
  let offset = head.length;
  images.forEach(({ size, png }, i) => {
    const e = 6 + 16 * i;
    head.writeUInt8(size >= 256 ? 0 : size, e); // 0 means 256
    head.writeUInt8(size >= 256 ? 0 : size, e + 1);
    head.writeUInt16LE(1, e + 4); // colour planes
    head.writeUInt16LE(32, e + 6); // bits per pixel
    head.writeUInt32LE(png.length, e + 8);
    head.writeUInt32LE(offset, e + 12);
    offset += png.length;
  });
  return Buffer.concat([head, ...images.map((x) => x.png)]);
}

/** ICNS: "icns", total length, then (type, length, PNG) chunks; these types hold PNG data (macOS 10.7+). */
const ICNS_TYPES = { 16: 'icp4', 32: 'icp5', 64: 'icp6', 128: 'ic07', 256: 'ic08', 512: 'ic09' };
function icns(images) {
  const chunks = images
    .filter(({ size }) => ICNS_TYPES[size])
    .map(({ size, png }) => {
      const h = Buffer.alloc(8);
      h.write(ICNS_TYPES[size], 0, 'latin1');
      h.writeUInt32BE(8 + png.length, 4);
      return Buffer.concat([h, png]);
    });
  const head = Buffer.alloc(8);
  head.write('icns', 0, 'latin1');
  head.writeUInt32BE(8 + chunks.reduce((n, c) => n + c.length, 0), 4);
  return Buffer.concat([head, ...chunks]);
}

async function main() {
  const svg = readFileSync(path.join(build, 'icon.svg'), 'utf8');
  const browser = await chromium.launch({ executablePath: process.argv[2] ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  try {
    const page = await browser.newPage();
    const images = [];
    for (const size of SIZES) {
      await page.setViewportSize({ width: size, height: size });
      const body = svg.replace(/width="512" height="512"/, `width="${size}" height="${size}"`);
      await page.setContent(`<html><body style="margin:0;background:transparent">${body}</body></html>`);
      const png = await page.screenshot({ omitBackground: true, clip: { x: 0, y: 0, width: size, height: size } });
      images.push({ size, png });
    }
    mkdirSync(path.join(build, 'icons'), { recursive: true });
    for (const { size, png } of images) writeFileSync(path.join(build, 'icons', `${size}x${size}.png`), png);
    writeFileSync(path.join(build, 'icon.png'), images.at(-1).png);
    writeFileSync(path.join(build, 'icon.ico'), ico(images.filter(({ size }) => [16, 24, 32, 48, 64, 128, 256].includes(size))));
    writeFileSync(path.join(build, 'icon.icns'), icns(images));
  } finally {
    await browser.close();
  }
}

await main();
