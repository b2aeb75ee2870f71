/**
 * Applies one layer tar to its own directory in overlayfs form: whiteouts `.wh.name` become
 * character devices 0:0 and opaque markers `.wh..wh..opq` become the
 * `trusted.overlay.opaque=y` xattr on the directory. Deno has neither mknod nor setxattr, so
 * device nodes, fifos, whiteouts and the xattr go through the Runner (`mknod` from coreutils,
 * `setfattr` from the Debian package `attr`).
 *
 * Extended attributes come as PAX records `SCHILY.xattr.<name>` (Go's archive/tar, GNU tar):
 * `security.capability` on `/bin/ping` for one. They are set like containerd does, after the
 * chown (which clears `security.capability`) and before the mode and times, without following
 * symlinks; an attribute the filesystem does not support (ENOTSUP) is logged and skipped, any
 * other failure fails the layer. Refused from an image: `trusted.overlay.*` and `user.overlay.*`
 * (overlayfs' own metadata: redirect, metacopy, opaque; the opaque marker file is the way to
 * make a directory opaque) and `security.selinux` (CRI-O skips it too: the label comes from the
 * runtime, not the image). tar-stream decodes PAX values as UTF-8, which would mangle binary
 * values such as a capability with bit 7 set, so the raw bytes are read from the PAX record
 * itself (see {@linkcode keepRawXattrs}).
 *
 * Safety: no entry may leave the layer directory. Names with `..` that escape, hardlinks to
 * outside and writes through a symlink inside the layer are rejected; symlinks themselves are
 * created as they are (an absolute target is resolved inside the container at run time,
 * never followed here).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { posix } from "node:path";
import { lchownSync, lutimesSync } from "node:fs";
import { lchown } from "node:fs/promises";
import tar from "tar-stream";
import { InvalidArgumentError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { programPath, type Runner, text } from "../process.ts";
import { tarDataSize, TarEndPadder, type TarEntryEnd } from "./tar_end.ts";
import { gnuSparse, writeSparse } from "./tar_sparse.ts";

/** Prefix of a whiteout file name in a layer tar. */
export const WHITEOUT_PREFIX = ".wh.";
/** Name of the opaque-directory marker in a layer tar. */
export const OPAQUE_MARKER = ".wh..wh..opq";

/** PAX record key prefix of an extended attribute. */
export const PAX_XATTR_PREFIX = "SCHILY.xattr.";
/** Extended attributes never taken from an image (name prefixes). */
export const REFUSED_XATTRS: readonly string[] = [
  "trusted.overlay.",
  "user.overlay.",
  "security.selinux",
];
/** Raw bytes of a PAX header's xattr values, keyed by attribute name, on `header.pax`. */
const RAW_XATTRS = Symbol("raw xattr values");

/** Options of {@linkcode applyLayer}. */
export interface LayerApplyOptions {
  /** Runs `mknod` and `setfattr`. */
  runner: Runner;
  logger?: Logger;
  /** Layer name for messages (its digest). */
  name: string;
  /** Diff dirs of the layers below, top first: hardlink targets are copied up from them. */
  lowerDirs?: readonly string[];
  /** Apply uid/gid from the tar. @default true when running as root */
  chown?: boolean;
  /**
   * The dir is new and empty, and only this apply writes it (a pull's layer dir): a path the
   * layer did not make does not exist, so it is not looked up. On a layer of 2,000 small files
   * those lookups, each failing with NotFound, cost the JS thread about 100 ms (measured here).
   * @default false
   */
  emptyDir?: boolean;
}

/** What applying a layer produced. */
export interface AppliedLayer {
  /** Bytes of regular file content written. */
  size: number;
  /** Paths (relative, no leading slash) turned into whiteouts. */
  whiteouts: string[];
  /** Directories (relative) marked opaque. */
  opaques: string[];
}

interface Header {
  name: string;
  type: string | null;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string | null;
  devmajor?: number;
  devminor?: number;
  size?: number;
  pax?: Record<string, string> | null;
}

interface TarEntry extends AsyncIterable<Uint8Array> {
  header: Header;
  /** Offset of the entry's header in the stream. */
  offset: number;
  resume(): void;
}

/**
 * Normalises a tar entry name to a relative path inside the layer.
 *
 * @returns The relative path ("" for the layer root).
 * @throws {InvalidArgumentError} When the name escapes the layer.
 */
export function safeRelative(name: string, layer: string): string {
  if (name.includes("\0")) throw escape(layer, name);
  const norm = posix.normalize("/" + name).slice(1).replace(/\/+$/, "");
  // posix.normalize("/" + x) never goes above "/", so look at the raw components too.
  let depth = 0;
  for (const part of name.split("/")) {
    if (part === "..") depth--;
    else if (part !== "" && part !== ".") depth++;
    if (depth < 0) throw escape(layer, name);
  }
  return norm;
}

function escape(layer: string, name: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `Layer "${layer}" has an entry "${name}" that escapes the layer directory; refusing the image`,
  );
}

async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** Whether every component of `rel` below `root` is a real directory (no symlink). */
async function realDirChain(root: string, rel: string): Promise<boolean> {
  let cur = root;
  for (const part of rel.split("/")) {
    if (part === "" || part === ".") continue;
    cur = `${cur}/${part}`;
    const info = await lstatOrUndefined(cur);
    if (!info || !info.isDirectory) return false;
  }
  return true;
}

async function writeAll(file: Deno.FsFile, chunk: Uint8Array): Promise<void> {
  let off = 0;
  while (off < chunk.byteLength) off += await file.write(chunk.subarray(off));
}

/**
 * Extracts an uncompressed layer tar into `dir` (which must exist and be empty). The tar may
 * end early where Go's archive/tar allows it (see `tar_end.ts`).
 *
 * @param stream The uncompressed tar bytes.
 * @param dir The layer's diff directory.
 * @param options Runner, names, lower dirs.
 * @returns Sizes, whiteouts and opaque dirs, for the layer record.
 * @throws {InvalidArgumentError} When an entry escapes the layer or is malformed, or the tar
 *   is cut short inside a header or a file's data.
 */
export async function applyLayer(
  stream: ReadableStream<Uint8Array>,
  dir: string,
  options: LayerApplyOptions,
): Promise<AppliedLayer> {
  const applier = new Applier(dir, options);
  const extract = tar.extract();
  keepRawXattrs(extract);
  const padder = new TarEndPadder();
  let last: TarEntryEnd | undefined;
  const input = stream.pipeThrough(padder.stream).getReader();
  const feed = (async () => {
    try {
      for (;;) {
        const { done, value } = await input.read();
        if (done) break;
        if (!extract.write(value)) await drained(extract);
      }
      if (!extract.destroyed) (extract as unknown as { end(): void }).end();
    } catch (err) {
      extract.destroy(err as Error);
    }
  })();
  try {
    for await (const entry of extract as unknown as AsyncIterable<TarEntry>) {
      last = { name: entry.header.name, offset: entry.offset, size: tarDataSize(entry.header) };
      await applier.entry(entry);
      last.name = entry.header.name; // a GNU sparse entry's real name, not its placeholder
    }
    await feed;
    padder.check(last, options.name);
  } catch (err) {
    // Cancelling the reader cancels the source too (the blob file, a decompressor).
    await input.cancel().catch(() => {});
    extract.destroy();
    await feed;
    const where = last ? ` (after the entry "${last.name}")` : "";
    throw err instanceof InvalidArgumentError ? err : new InvalidArgumentError(
      `Cannot apply layer "${options.name}"${where}: ${err instanceof Error ? err.message : err}`,
      { cause: err },
    );
  }
  await applier.finish();
  return applier.result;
}

/** Resolves when tar-stream wants more input; rejects when it fails or closes first. */
function drained(extract: ReturnType<typeof tar.extract>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: unknown) => {
      extract.off("drain", onDrain);
      extract.off("error", onError);
      extract.off("close", onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onError = (e: unknown) => done(e ?? new Error("The tar parser failed"));
    const onClose = () => done(new Error("The tar parser closed"));
    extract.once("drain", onDrain);
    extract.once("error", onError);
    extract.once("close", onClose);
  });
}

interface ExtractInternals {
  _decodeLongHeader?: (buf: Uint8Array) => void;
  _header: { type: string | null } | null;
  _pax: Record<string, string> | null;
}

/**
 * Keeps the raw bytes of `SCHILY.xattr.*` values: tar-stream (3.2.2, pinned) decodes each PAX
 * value as UTF-8, which replaces bytes that are not valid UTF-8 (a capability mask with bit 7
 * set). This wraps its PAX decoding on this one parser and hangs the exact bytes on the
 * decoded record under {@linkcode RAW_XATTRS}. Should tar-stream change, the values fall back
 * to UTF-8 (and the unit test with a 0x80 byte fails).
 */
function keepRawXattrs(extract: ReturnType<typeof tar.extract>): void {
  const ex = extract as unknown as ExtractInternals;
  const decode = ex._decodeLongHeader;
  if (typeof decode !== "function") return;
  ex._decodeLongHeader = function (this: ExtractInternals, buf: Uint8Array) {
    decode.call(this, buf);
    if (this._header?.type !== "pax-header" || !this._pax) return;
    const raw = paxXattrBytes(buf);
    if (raw.size > 0) Object.defineProperty(this._pax, RAW_XATTRS, { value: raw });
  };
}

const utf8 = new TextDecoder();

/** The xattr values of a PAX header's records (`<len> <key>=<value>\n`), as raw bytes. */
function paxXattrBytes(buf: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let off = 0;
  while (off < buf.byteLength) {
    const space = buf.indexOf(0x20, off);
    if (space < 0) break;
    const len = Number.parseInt(utf8.decode(buf.subarray(off, space)), 10);
    if (!(len > 0) || off + len > buf.byteLength) break;
    const record = buf.subarray(space + 1, off + len - 1);
    const eq = record.indexOf(0x3d);
    const key = eq < 0 ? "" : utf8.decode(record.subarray(0, eq));
    if (key.startsWith(PAX_XATTR_PREFIX)) {
      out.set(key.slice(PAX_XATTR_PREFIX.length), record.slice(eq + 1));
    }
    off += len;
  }
  return out;
}

class Applier {
  #dir: string;
  #opts: LayerApplyOptions;
  #chown: boolean;
  #goodDirs = new Set<string>([""]);
  /** With `emptyDir`: every relative path this apply made (none is ever taken out). */
  #made: Set<string> | undefined;
  #dirTimes: [string, Date][] = [];
  result: AppliedLayer = { size: 0, whiteouts: [], opaques: [] };

  constructor(dir: string, opts: LayerApplyOptions) {
    this.#dir = dir;
    this.#opts = opts;
    this.#chown = opts.chown ?? Deno.uid() === 0;
    if (opts.emptyDir) this.#made = new Set();
  }

  /** `lstat` of `rel` (at `path`), or undefined when it does not exist. */
  #lstat(rel: string, path: string): Promise<Deno.FileInfo | undefined> {
    if (this.#made && !this.#made.has(rel)) return Promise.resolve(undefined);
    return lstatOrUndefined(path);
  }

  async entry(entry: TarEntry): Promise<void> {
    const h = entry.header;
    const layer = this.#opts.name;
    const sparse = gnuSparse(h.pax, h.name, layer);
    if (sparse?.name !== undefined) h.name = sparse.name;
    const rel = safeRelative(h.name, layer);
    if (rel === "") {
      entry.resume();
      return;
    }
    const base = posix.basename(rel);
    const parentRel = posix.dirname(rel) === "." ? "" : posix.dirname(rel);
    await this.#ensureDir(parentRel, h.name);
    const parent = parentRel === "" ? this.#dir : `${this.#dir}/${parentRel}`;
    if (base === OPAQUE_MARKER) {
      entry.resume();
      await this.#opts.runner.run("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", parent]);
      this.result.opaques.push(parentRel);
      return;
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      entry.resume();
      const target = base.slice(WHITEOUT_PREFIX.length);
      if (target === "" || target === "." || target === "..") throw escape(layer, h.name);
      const path = `${parent}/${target}`;
      const whiteRel = parentRel === "" ? target : `${parentRel}/${target}`;
      await this.#remove(whiteRel, path);
      await this.#opts.runner.run("mknod", ["-m", "0", path, "c", "0", "0"]);
      this.#made?.add(whiteRel);
      this.result.whiteouts.push(whiteRel);
      return;
    }
    const path = `${this.#dir}/${rel}`;
    const existing = await this.#lstat(rel, path);
    const mode = (h.mode ?? 0o644) & 0o7777;
    // Whatever the entry makes below, the path may exist from now on.
    this.#made?.add(rel);
    switch (h.type) {
      case "directory": {
        entry.resume();
        if (existing && !existing.isDirectory) await this.#remove(rel, path);
        if (!existing || !existing.isDirectory) await Deno.mkdir(path);
        this.#goodDirs.add(rel);
        await this.#attrs(path, h, mode, false);
        if (h.mtime) this.#dirTimes.push([path, h.mtime]);
        return;
      }
      case "file":
      case "contiguous-file": {
        if (existing) await this.#remove(rel, path);
        // Asynchronous: creating the file can take the kernel a quarter of a millisecond (here),
        // unlike the calls of #attrs on its inode.
        const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
        try {
          if (sparse) {
            this.result.size += await writeSparse(entry, file, sparse, { layer, name: h.name });
          } else {
            for await (const chunk of entry) {
              await writeAll(file, chunk);
              this.result.size += chunk.byteLength;
            }
          }
        } finally {
          file.close();
        }
        await this.#attrs(path, h, mode, false);
        return;
      }
      case "symlink": {
        entry.resume();
        if (existing) await this.#remove(rel, path);
        await Deno.symlink(h.linkname ?? "", path);
        await this.#attrs(path, h, mode, true);
        return;
      }
      case "link": {
        entry.resume();
        const targetRel = safeRelative(h.linkname ?? "", layer);
        if (targetRel === "") throw escape(layer, `${h.name} -> ${h.linkname}`);
        await this.#ensureDir(
          posix.dirname(targetRel) === "." ? "" : posix.dirname(targetRel),
          h.name,
        );
        const target = `${this.#dir}/${targetRel}`;
        let info = await this.#lstat(targetRel, target);
        if (!info) info = await this.#copyUp(targetRel, h.name);
        if (info.isDirectory) {
          throw new InvalidArgumentError(
            `Layer "${layer}" has a hardlink "${h.name}" to the directory "${h.linkname}"`,
          );
        }
        if (existing) await this.#remove(rel, path);
        await Deno.link(target, path);
        await this.#xattrs(path, h); // on the shared inode, as containerd does
        return;
      }
      case "character-device":
      case "block-device":
      case "fifo": {
        entry.resume();
        if (existing) await this.#remove(rel, path);
        const args = h.type === "fifo" ? ["-m", mode.toString(8), path, "p"] : [
          "-m",
          mode.toString(8),
          path,
          h.type === "character-device" ? "c" : "b",
          String(h.devmajor ?? 0),
          String(h.devminor ?? 0),
        ];
        await this.#opts.runner.run("mknod", args);
        await this.#attrs(path, h, mode, false);
        return;
      }
      case null:
        // tar-stream names no type it does not know: the old GNU sparse "S", GNU dumpdirs,
        // volume labels... containerd refuses them too ("unhandled tar header type"). Writing
        // them as plain files would give a GNU sparse file the wrong content.
        throw new InvalidArgumentError(
          `Layer "${layer}" has an entry "${h.name}" of a tar type ocid cannot unpack (an old GNU sparse file or another GNU extension); repack it with --format=pax`,
        );
      default:
        entry.resume();
        this.#opts.logger?.warn("Skipping unsupported tar entry", {
          layer,
          name: h.name,
          type: h.type,
        });
    }
  }

  async finish(): Promise<void> {
    // Children change their directory's mtime: set directory times last, deepest first.
    this.#dirTimes.sort((a, b) => b[0].length - a[0].length);
    for (const [path, mtime] of this.#dirTimes) await Deno.utime(path, mtime, mtime);
  }

  /** Makes sure `rel` is a real directory inside the layer, creating missing parents. */
  async #ensureDir(rel: string, entryName: string): Promise<void> {
    if (this.#goodDirs.has(rel)) return;
    let cur = "";
    for (const part of rel.split("/")) {
      cur = cur === "" ? part : `${cur}/${part}`;
      if (this.#goodDirs.has(cur)) continue;
      const path = `${this.#dir}/${cur}`;
      const info = await this.#lstat(cur, path);
      if (!info) {
        await Deno.mkdir(path, { mode: 0o755 });
        this.#made?.add(cur);
      } else if (info.isSymlink) {
        throw escape(this.#opts.name, `${entryName}" (through the symlink "${cur}`);
      } else if (!info.isDirectory) {
        throw new InvalidArgumentError(
          `Layer "${this.#opts.name}" has an entry "${entryName}" below the non-directory "${cur}"`,
        );
      }
      this.#goodDirs.add(cur);
    }
  }

  async #remove(rel: string, path: string): Promise<void> {
    const info = await this.#lstat(rel, path);
    if (!info) return;
    if (info.isDirectory || info.isSymlink) this.#goodDirs.clear(), this.#goodDirs.add("");
    await Deno.remove(path, { recursive: true });
  }

  /**
   * Owner, xattrs, mode and times of an entry. The calls on the inode are synchronous: each is
   * about 10 microseconds of the kernel's (measured here), where an asynchronous one waits for a
   * thread of Deno's pool, three times for every file of the layer.
   */
  async #attrs(path: string, h: Header, mode: number, symlink: boolean): Promise<void> {
    if (this.#chown) lchownSync(path, h.uid ?? 0, h.gid ?? 0);
    // chown clears security.capability: xattrs after it (and before a read-only mode).
    await this.#xattrs(path, h);
    // chown clears setuid bits: chmod after it. Symlinks have no mode of their own.
    if (!symlink) Deno.chmodSync(path, mode);
    if (h.mtime && !h.type?.startsWith("dir")) {
      if (symlink) lutimesSync(path, h.mtime, h.mtime);
      else Deno.utimeSync(path, h.mtime, h.mtime);
    }
  }

  /** Sets the entry's `SCHILY.xattr.*` records on `path` (never following a symlink). */
  async #xattrs(path: string, h: Header): Promise<void> {
    const pax = h.pax;
    if (!pax) return;
    const raw = (pax as { [RAW_XATTRS]?: Map<string, Uint8Array> })[RAW_XATTRS];
    const layer = this.#opts.name;
    for (const [key, value] of Object.entries(pax)) {
      if (!key.startsWith(PAX_XATTR_PREFIX)) continue;
      const attr = key.slice(PAX_XATTR_PREFIX.length);
      if (REFUSED_XATTRS.some((p) => attr.startsWith(p))) {
        this.#opts.logger?.warn("Skipping an extended attribute an image may not set", {
          layer,
          name: h.name,
          attr,
        });
        continue;
      }
      const exact = raw?.get(attr);
      if (!exact && value.includes("\uFFFD")) {
        // Without the raw bytes (tar-stream changed), a value that was not UTF-8 arrives with
        // bytes replaced: setting it would give the file other capabilities than the image's.
        this.#opts.logger?.error("Skipping an extended attribute whose exact value is lost", {
          layer,
          name: h.name,
          attr,
        });
        continue;
      }
      const bytes = exact ?? new TextEncoder().encode(value);
      const res = await this.#opts.runner.run(
        "setfattr",
        ["-h", "-n", attr, "-v", `0x${Buffer.from(bytes).toString("hex")}`, path],
        { check: false, env: { PATH: programPath(), LC_ALL: "C" } },
      );
      if (res.code === 0) continue;
      const why = text(res.stderr).trim() || `setfattr exited with ${res.code}`;
      if (why.includes("Operation not supported")) {
        this.#opts.logger?.warn("Skipping an extended attribute the filesystem does not support", {
          layer,
          name: h.name,
          attr,
        });
        continue;
      }
      throw new Error(
        `Layer "${layer}": cannot set the extended attribute "${attr}" on "${h.name}": ${why}`,
      );
    }
  }

  /** A hardlink to a file of a lower layer: copy it into this layer first. */
  async #copyUp(rel: string, entryName: string): Promise<Deno.FileInfo> {
    for (const lower of this.#opts.lowerDirs ?? []) {
      if (!(await realDirChain(lower, posix.dirname(rel)))) continue;
      const src = `${lower}/${rel}`;
      const info = await lstatOrUndefined(src);
      if (!info || !info.isFile) continue;
      const dst = `${this.#dir}/${rel}`;
      await Deno.copyFile(src, dst);
      this.#made?.add(rel);
      if (this.#chown) await lchown(dst, info.uid ?? 0, info.gid ?? 0);
      await Deno.chmod(dst, (info.mode ?? 0o644) & 0o7777);
      if (info.mtime) await Deno.utime(dst, info.atime ?? info.mtime, info.mtime);
      return await Deno.lstat(dst);
    }
    throw new InvalidArgumentError(
      `Layer "${this.#opts.name}" has a hardlink "${entryName}" to "${rel}", which does not exist in the layer or below`,
    );
  }
}
