/**
 * GNU sparse files in PAX form, as Go's archive/tar reads them (containerd and CRI-O write
 * them out whole, holes as zeros). tar-stream hands such an entry over as a regular file whose
 * name is a placeholder (`./GNUSparseFile.<pid>/<name>`) and whose data is only the stored
 * segments; the PAX records say where they go:
 *
 * - 1.0 (`GNU.sparse.major=1`, `minor=0`; what `tar --format=pax --sparse` writes): the map is
 *   at the start of the data, decimal numbers each ending in a newline (count, then offset and
 *   length per segment), padded to 512 bytes; the segments follow.
 * - 0.1 (`GNU.sparse.map=off,len,...`): the map is in the PAX record, the data is the segments.
 * - 0.0 repeats `GNU.sparse.offset` / `GNU.sparse.numbytes` records, which tar-stream folds to
 *   the last one: refused rather than written wrong.
 *
 * The real name is `GNU.sparse.name`, the real size `GNU.sparse.size` or `GNU.sparse.realsize`.
 * The old GNU format (type `S`, map in the header) is not here: tar-stream does not expose the
 * header bytes it needs, and containerd refuses that type too ("unhandled tar header type").
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";

/** One stored segment of a sparse file. */
export interface SparseSegment {
  offset: number;
  length: number;
}

/** A sparse entry's layout, from its PAX records. */
export interface SparseFile {
  /** The real name, when the records give one. */
  name?: string;
  /** The file's size with its holes. */
  realSize: number;
  /** The segments, or "data" when the map leads the entry's data (1.0). */
  map: SparseSegment[] | "data";
}

/** Longest sparse map read from the data (1.0). */
const MAX_MAP_BYTES = 4 << 20;
const BLOCK = 512;

function bad(layer: string, name: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`Layer "${layer}" has a malformed sparse file "${name}": ${why}`);
}

function toInt(text: string | undefined, layer: string, name: string): number {
  if (text === undefined || !/^\d{1,15}$/.test(text.trim())) {
    throw bad(layer, name, `"${text}" is not a size`);
  }
  return Number(text.trim());
}

/**
 * Reads the GNU sparse PAX records of an entry.
 *
 * @param pax The entry's PAX records (tar-stream's `header.pax`).
 * @param name The entry's name for messages.
 * @param layer The layer for messages.
 * @returns The layout, or undefined when the entry is not a GNU sparse file.
 * @throws {InvalidArgumentError} For malformed records and the 0.0 form.
 */
export function gnuSparse(
  pax: Record<string, string> | null | undefined,
  name: string,
  layer: string,
): SparseFile | undefined {
  if (!pax) return undefined;
  const major = pax["GNU.sparse.major"];
  const minor = pax["GNU.sparse.minor"];
  const mapText = pax["GNU.sparse.map"];
  let inData: boolean;
  if (major === "1" && minor === "0") inData = true;
  else if (major === "0" && (minor === "0" || minor === "1")) inData = false;
  else if (major !== undefined || minor !== undefined) return undefined; // unknown: as Go
  else if (mapText !== undefined) inData = false;
  else if (pax["GNU.sparse.offset"] !== undefined) {
    throw bad(layer, name, "the GNU sparse 0.0 form is not supported");
  } else return undefined;
  const realName = pax["GNU.sparse.name"];
  const realSize = toInt(pax["GNU.sparse.size"] ?? pax["GNU.sparse.realsize"], layer, name);
  let map: SparseFile["map"] = "data";
  if (!inData) {
    if (mapText === undefined) throw bad(layer, name, "no GNU.sparse.map record");
    const nums = mapText === "" ? [] : mapText.split(",").map((n) => toInt(n, layer, name));
    if (nums.length % 2 !== 0) throw bad(layer, name, "odd number of map values");
    map = [];
    for (let i = 0; i < nums.length; i += 2) map.push({ offset: nums[i]!, length: nums[i + 1]! });
    checkMap(map, realSize, layer, name);
  }
  return { ...(realName ? { name: realName } : {}), realSize, map };
}

function checkMap(map: SparseSegment[], realSize: number, layer: string, name: string): void {
  let end = 0;
  for (const s of map) {
    if (s.offset < end || s.offset + s.length > realSize) {
      throw bad(layer, name, "segments overlap or pass the end of the file");
    }
    end = s.offset + s.length;
  }
}

/** Parses the 1.0 map at the start of `buf`, or undefined when more bytes are needed. */
function parseDataMap(
  buf: Uint8Array,
  layer: string,
  name: string,
): { map: SparseSegment[]; used: number } | undefined {
  const nums: number[] = [];
  let start = 0;
  let want = 1;
  for (let i = 0; i < buf.byteLength && nums.length < want; i++) {
    if (buf[i] !== 0x0a) continue;
    nums.push(toInt(new TextDecoder().decode(buf.subarray(start, i)), layer, name));
    start = i + 1;
    if (nums.length === 1) want = 1 + 2 * nums[0]!;
  }
  if (nums.length < want) return undefined;
  const used = Math.ceil(start / BLOCK) * BLOCK;
  if (used > buf.byteLength) return undefined;
  const map: SparseSegment[] = [];
  for (let i = 1; i < nums.length; i += 2) map.push({ offset: nums[i]!, length: nums[i + 1]! });
  return { map, used };
}

async function writeAt(file: Deno.FsFile, position: number, bytes: Uint8Array): Promise<void> {
  await file.seek(position, Deno.SeekMode.Start);
  let off = 0;
  while (off < bytes.byteLength) off += await file.write(bytes.subarray(off));
}

/**
 * Writes a sparse entry's segments into `file` at their offsets and sizes it to the real size
 * (the holes stay holes).
 *
 * @param data The entry's data as tar-stream delivers it.
 * @param file A new, empty file.
 * @param sparse The layout from {@linkcode gnuSparse}.
 * @param where Layer and entry name for messages.
 * @returns Bytes of content written.
 * @throws {InvalidArgumentError} When the map is malformed or does not match the data.
 */
export async function writeSparse(
  data: AsyncIterable<Uint8Array>,
  file: Deno.FsFile,
  sparse: SparseFile,
  where: { layer: string; name: string },
): Promise<number> {
  const { layer, name } = where;
  let map = sparse.map === "data" ? undefined : sparse.map;
  let head = new Uint8Array(0);
  let seg = 0;
  let segPos = 0;
  let written = 0;
  for await (let chunk of data) {
    if (map === undefined) {
      const joined = new Uint8Array(head.byteLength + chunk.byteLength);
      joined.set(head);
      joined.set(chunk, head.byteLength);
      const parsed = parseDataMap(joined, layer, name);
      if (!parsed) {
        if (joined.byteLength > MAX_MAP_BYTES) throw bad(layer, name, "the map is too long");
        head = joined;
        continue;
      }
      map = parsed.map;
      checkMap(map, sparse.realSize, layer, name);
      chunk = joined.subarray(parsed.used);
    }
    while (chunk.byteLength > 0) {
      const s = map[seg];
      if (!s) throw bad(layer, name, "more data than the map holds");
      const n = Math.min(s.length - segPos, chunk.byteLength);
      await writeAt(file, s.offset + segPos, chunk.subarray(0, n));
      written += n;
      segPos += n;
      chunk = chunk.subarray(n);
      if (segPos === s.length) seg++, segPos = 0;
    }
    while (map[seg]?.length === 0) seg++;
  }
  if (map === undefined) throw bad(layer, name, "the map is cut short");
  while (map[seg]?.length === 0) seg++;
  if (seg < map.length) throw bad(layer, name, "less data than the map holds");
  await file.truncate(sparse.realSize);
  return written;
}
