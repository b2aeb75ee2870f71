/**
 * Reads the end of a layer tar the way Go's `archive/tar` does (containerd and CRI-O use it),
 * on top of tar-stream, which insists on a complete archive.
 *
 * A tar is a sequence of 512-byte blocks: a header, the entry's data padded to the next block,
 * the next header, and finally two zero blocks. Some writers stop earlier: Debian's
 * `umoci insert` (0.4.7) ends right after the last file's data, with neither the padding nor the
 * zero blocks. Go accepts an input that ends at an entry boundary or inside the padding after
 * complete data, and refuses one that ends inside a header or inside a file's data.
 *
 * {@linkcode TarEndPadder} sits in front of tar-stream: it passes the bytes through, counts
 * them, and when the input ends it appends zeros up to the next block plus the two end blocks,
 * so tar-stream always sees a complete archive. What it appended must then not have been read
 * as content: {@linkcode TarEndPadder.check} compares the last entry tar-stream produced (its
 * header offset and data size) with where the real input ended, and names the entry whose
 * header or data the input cut short. Real bytes after the last entry's padded end that did
 * not make an entry (a cut header, a cut PAX or GNU long-name record) are caught by tracking the
 * last non-zero byte of the input.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";

/** Size of a tar block. */
export const TAR_BLOCK = 512;

/** The last entry tar-stream produced: enough to know where its data ends. */
export interface TarEntryEnd {
  /** The entry's name (after PAX and GNU long names). */
  name: string;
  /** Offset of the entry's own header in the stream (tar-stream's `Source.offset`). */
  offset: number;
  /** Bytes of data that follow the header (0 for entries that carry none). */
  size: number;
}

/**
 * Bytes of data tar-stream reads after a header: directories and empty entries carry none.
 *
 * @param header The tar-stream header.
 * @returns The data size.
 */
export function tarDataSize(header: { type: string | null; size?: number }): number {
  const size = header.size ?? 0;
  return header.type === "directory" || !(size > 0) ? 0 : size;
}

function roundUp(n: number): number {
  return Math.ceil(n / TAR_BLOCK) * TAR_BLOCK;
}

/** Counts a tar stream and completes its end; see the module doc. */
export class TarEndPadder {
  #length = 0;
  #lastNonZero = -1;
  #ended = false;
  /** The pass-through stream to put in front of the tar parser. */
  readonly stream: TransformStream<Uint8Array, Uint8Array>;

  constructor() {
    this.stream = new TransformStream({
      transform: (chunk, controller) => {
        // Usually the last byte is non-zero and the loop stops at once; only zero runs cost.
        for (let i = chunk.byteLength - 1; i >= 0; i--) {
          if (chunk[i] !== 0) {
            this.#lastNonZero = this.#length + i;
            break;
          }
        }
        this.#length += chunk.byteLength;
        controller.enqueue(chunk);
      },
      flush: (controller) => {
        this.#ended = true;
        const pad = roundUp(this.#length) - this.#length;
        controller.enqueue(new Uint8Array(pad + 2 * TAR_BLOCK));
      },
    });
  }

  /** Bytes of real input, once it has ended (undefined before). */
  get inputLength(): number | undefined {
    return this.#ended ? this.#length : undefined;
  }

  /**
   * Checks, after tar-stream has finished, that the input ended at a point Go accepts.
   *
   * @param last The last entry tar-stream produced, if any.
   * @param layer The layer's name for messages.
   * @throws {InvalidArgumentError} When the input ended inside the last entry's header or
   *   data, or inside a header or long-name record after it.
   */
  check(last: TarEntryEnd | undefined, layer: string): void {
    const length = this.#length;
    if (last) {
      const dataStart = last.offset + TAR_BLOCK;
      if (dataStart > length) {
        throw new InvalidArgumentError(
          `Layer "${layer}" is cut short inside the header of "${last.name}"`,
        );
      }
      if (dataStart + last.size > length) {
        throw new InvalidArgumentError(
          `Layer "${layer}" is cut short inside the data of "${last.name}": ${
            length - dataStart
          } of ${last.size} bytes are there`,
        );
      }
    }
    const end = last ? last.offset + TAR_BLOCK + roundUp(last.size) : 0;
    if (this.#lastNonZero >= end) {
      throw new InvalidArgumentError(
        `Layer "${layer}" is cut short inside a header ${
          last ? `after "${last.name}"` : "at its start"
        }: it ends at byte ${length}`,
      );
    }
  }
}
