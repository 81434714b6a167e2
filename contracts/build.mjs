// Compiles the cocoon FunC contracts into code-cell BoCs for the Python package.
//   node build.mjs            -> writes ../src/cocoon/ton/artifacts/<name>.boc and code_hashes.json
//   node build.mjs --out DIR  -> writes them into DIR instead (used by tests/ton/test_build.py)
// Running the project never needs Node: the artifacts are committed.
import { compileFunc, compilerVersion } from "@ton-community/func-js";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const CONTRACTS = ["root", "proxy", "worker", "client", "wallet"];

function outDir() {
  const i = process.argv.indexOf("--out");
  return i > 0 ? resolve(process.argv[i + 1]) : join(here, "..", "src", "cocoon", "ton", "artifacts");
}

// Representation hash of the root cell, read from the BoC with a minimal parser (no TON SDK needed).
function rootCellHash(boc) {
  const { cells, root } = parseBoc(boc);
  const memo = new Map();
  const hashOf = (i) => {
    if (memo.has(i)) return memo.get(i);
    const c = cells[i];
    const depths = c.refs.map((r) => depthOf(r));
    const h = createHash("sha256");
    h.update(Buffer.from([c.refs.length, Math.floor(c.bits / 8) + Math.ceil(c.bits / 8)]));
    h.update(c.data);
    for (const d of depths) h.update(Buffer.from([d >> 8, d & 0xff]));
    for (const r of c.refs) h.update(hashOf(r));
    const out = h.digest();
    memo.set(i, out);
    return out;
  };
  const depthMemo = new Map();
  const depthOf = (i) => {
    if (depthMemo.has(i)) return depthMemo.get(i);
    const refs = cells[i].refs;
    const d = refs.length === 0 ? 0 : 1 + Math.max(...refs.map(depthOf));
    depthMemo.set(i, d);
    return d;
  };
  return hashOf(root).toString("hex");
}

// Parses a serialized bag of cells (ordinary cells only; func-js emits nothing else).
function parseBoc(buf) {
  if (buf.readUInt32BE(0) !== 0xb5ee9c72) throw new Error("not a BoC");
  const flags = buf[4];
  const refSize = flags & 7;
  const offSize = buf[5];
  let p = 6;
  const readN = (n) => {
    let v = 0;
    for (let k = 0; k < n; k++) v = v * 256 + buf[p++];
    return v;
  };
  const cellCount = readN(refSize);
  const rootCount = readN(refSize);
  readN(refSize); // absent
  readN(offSize); // total cells size
  const root = readN(refSize);
  p += (rootCount - 1) * refSize;
  if (flags & 0x80) p += cellCount * offSize; // index
  const cells = [];
  for (let i = 0; i < cellCount; i++) {
    const d1 = buf[p++];
    const d2 = buf[p++];
    if (d1 & 8) throw new Error("exotic cells are not expected in contract code");
    const refCount = d1 & 7;
    const bytes = Math.ceil(d2 / 2);
    const data = buf.subarray(p, p + bytes);
    p += bytes;
    let bits = bytes * 8;
    if (d2 & 1) {
      const last = data[bytes - 1];
      let trailing = 0;
      while (((last >> trailing) & 1) === 0) trailing++;
      bits -= trailing + 1;
    }
    const refs = [];
    for (let k = 0; k < refCount; k++) refs.push(readN(refSize));
    cells.push({ bits, data, refs });
  }
  return { cells, root };
}

async function main() {
  const out = outDir();
  mkdirSync(out, { recursive: true });
  const { funcVersion } = await compilerVersion();
  const hashes = {};
  for (const name of CONTRACTS) {
    const result = await compileFunc({
      targets: [`${name}.fc`],
      sources: (path) => readFileSync(join(here, path), "utf8"),
    });
    if (result.status === "error") {
      console.error(`${name}.fc: ${result.message}`);
      process.exit(1);
    }
    if (result.warnings && result.warnings.trim()) console.warn(`${name}.fc warnings:\n${result.warnings}`);
    const boc = Buffer.from(result.codeBoc, "base64");
    writeFileSync(join(out, `${name}.boc`), boc);
    hashes[name] = rootCellHash(boc);
    console.log(`${name}: ${boc.length} bytes, code hash ${hashes[name]}`);
  }
  writeFileSync(join(out, "code_hashes.json"), JSON.stringify({ func_version: funcVersion, ...hashes }, null, 2) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
