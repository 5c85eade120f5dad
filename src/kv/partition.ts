/**
 * How a keyspace's keys are spread over its shards: a stable hash of the
 * key's UTF-8 bytes, xxHash32 with seed 0 (Yann Collet's published
 * function, checked against its reference vectors), into the 32-bit hash
 * space, which is split into contiguous ranges, one or more per shard. The
 * function never changes: a key's hash is the same in every Worker, replica
 * and version, so the map alone decides where a key lives. xxHash32 rather
 * than FNV-1a: FNV-1a's high bits mix poorly for keys that differ in their
 * last bytes (`user-1`, `user-2`, ...), and contiguous ranges split on the
 * high bits, so sequential keys would load shards unevenly.
 */

/** The size of the hash space: hashes are 0 .. 2^32 - 1. */
export const HASH_SPACE = 0x1_0000_0000;

const P1 = 2654435761;
const P2 = 2246822519;
const P3 = 3266489917;
const P4 = 668265263;
const P5 = 374761393;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function u32le(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

/** xxHash32 (seed 0) of the key's UTF-8 bytes, as an unsigned 32-bit integer. */
export function keyHash(key: string): number {
  return xxHash32(utf8(key));
}

/** The UTF-8 bytes of `s` (a lone surrogate becomes U+FFFD, as TextEncoder does; keys are validated UTF-8 anyway). */
export function utf8(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    let c = ch.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/** xxHash32 of `bytes` with `seed` (the reference algorithm, in 32-bit integer arithmetic). */
export function xxHash32(bytes: Uint8Array, seed = 0): number {
  const len = bytes.length;
  let i = 0;
  let h: number;
  if (len >= 16) {
    let v1 = (seed + P1 + P2) | 0;
    let v2 = (seed + P2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - P1) | 0;
    for (; i + 16 <= len; i += 16) {
      v1 = Math.imul(rotl((v1 + Math.imul(u32le(bytes, i), P2)) | 0, 13), P1);
      v2 = Math.imul(rotl((v2 + Math.imul(u32le(bytes, i + 4), P2)) | 0, 13), P1);
      v3 = Math.imul(rotl((v3 + Math.imul(u32le(bytes, i + 8), P2)) | 0, 13), P1);
      v4 = Math.imul(rotl((v4 + Math.imul(u32le(bytes, i + 12), P2)) | 0, 13), P1);
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = (seed + P5) | 0;
  }
  h = (h + len) | 0;
  for (; i + 4 <= len; i += 4) h = Math.imul(rotl((h + Math.imul(u32le(bytes, i), P3)) | 0, 17), P4);
  for (; i < len; i++) h = Math.imul(rotl((h + Math.imul(bytes[i]!, P5)) | 0, 11), P1);
  h ^= h >>> 15;
  h = Math.imul(h, P2);
  h ^= h >>> 13;
  h = Math.imul(h, P3);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A contiguous part of the hash space, `[from, to)`, and the shard that owns it. */
export interface HashRange {
  readonly from: number;
  readonly to: number;
  readonly shard: number;
}

/**
 * The shard map of a keyspace: which shard owns each range of hashes, under
 * a version that grows with every change. The ranges cover the hash space
 * exactly once, in order.
 */
export interface ShardMap {
  readonly version: number;
  readonly ranges: readonly HashRange[];
}

/** `shards` equal ranges, shard i owning the i-th: the map of a new keyspace (version 1). */
export function evenMap(shards: number): ShardMap {
  if (!Number.isInteger(shards) || shards < 1 || shards > 65_536) throw new RangeError(`partition: ${shards} shards`);
  const ranges: HashRange[] = [];
  for (let i = 0; i < shards; i++) ranges.push({ from: Math.floor((i * HASH_SPACE) / shards), to: Math.floor(((i + 1) * HASH_SPACE) / shards), shard: i });
  return { version: 1, ranges };
}

/** The shard that owns `hash` under `map`. */
export function shardOfHash(map: ShardMap, hash: number): number {
  // Binary search: ranges are sorted and cover the space.
  let lo = 0;
  let hi = map.ranges.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (map.ranges[mid]!.to <= hash) lo = mid + 1;
    else hi = mid;
  }
  return map.ranges[lo]!.shard;
}

/** The shard that owns `key` under `map`. */
export function shardOfKey(map: ShardMap, key: string): number {
  return shardOfHash(map, keyHash(key));
}

/** The ranges `shard` owns under `map`. */
export function rangesOf(map: ShardMap, shard: number): HashRange[] {
  return map.ranges.filter((r) => r.shard === shard);
}

/** Why `map` is not a valid map (gaps, overlaps, bad bounds), or null. */
export function mapProblem(map: ShardMap): string | null {
  if (!Number.isSafeInteger(map.version) || map.version < 1) return 'the version must be 1 or more';
  let at = 0;
  for (const r of map.ranges) {
    if (r.from !== at) return `the ranges must cover the hash space in order: a range starts at ${r.from}, expected ${at}`;
    if (!(r.to > r.from) || r.to > HASH_SPACE) return `range [${r.from}, ${r.to}) is empty or beyond the hash space`;
    if (!Number.isInteger(r.shard) || r.shard < 0) return `range [${r.from}, ${r.to}) names no shard`;
    at = r.to;
  }
  return at === HASH_SPACE ? null : `the ranges end at ${at}, not at 2^32`;
}

/** One range a grow moves: `[from, to)` goes from shard `source` (which owned it under the old map) to the new shard `target`. */
export interface RangeMove {
  readonly from: number;
  readonly to: number;
  readonly source: number;
  readonly target: number;
}

/**
 * The map of a keyspace grown from its current shards to `shards`, under
 * the next version, and the ranges that move: each new shard, in order,
 * takes the upper half of the widest range (the lowest such on a tie), so
 * every existing shard keeps a prefix of what it had, and each moved range
 * lies inside one old range (one source shard per new shard, no chains).
 */
export function grownMap(map: ShardMap, shards: number): { map: ShardMap; moves: RangeMove[] } {
  const before = new Set(map.ranges.map((r) => r.shard)).size;
  if (!Number.isInteger(shards) || shards <= before || shards > 65_536) throw new RangeError(`partition: cannot grow ${before} shards to ${shards}`);
  const ranges: HashRange[] = [...map.ranges];
  for (let target = before; target < shards; target++) {
    let widest = 0;
    for (let i = 1; i < ranges.length; i++) if (ranges[i]!.to - ranges[i]!.from > ranges[widest]!.to - ranges[widest]!.from) widest = i;
    const r = ranges[widest]!;
    const mid = r.from + Math.floor((r.to - r.from) / 2);
    ranges.splice(widest, 1, { from: r.from, to: mid, shard: r.shard }, { from: mid, to: r.to, shard: target });
  }
  const grown = { version: map.version + 1, ranges };
  const moves = ranges.filter((r) => r.shard >= before).map((r) => ({ from: r.from, to: r.to, source: shardOfHash(map, r.from), target: r.shard }));
  return { map: grown, moves };
}
