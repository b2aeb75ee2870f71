/**
 * A client stream of a stream session that collects what the server writes, for the exec and
 * pty session tests.
 *
 * @module
 */

const dec = new TextDecoder();

/** A client stream that collects what the server writes. */
export class FakeOut {
  text = "";
  #waiters: Array<{ what: string; resolve: () => void }> = [];

  write(bytes: Uint8Array | string): Promise<void> {
    this.text += typeof bytes === "string" ? bytes : dec.decode(bytes);
    this.#waiters = this.#waiters.filter((w) => {
      if (!this.text.includes(w.what)) return true;
      w.resolve();
      return false;
    });
    return Promise.resolve();
  }

  /** Settles once the text written so far includes `what`. */
  seen(what: string): Promise<void> {
    if (this.text.includes(what)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ what, resolve }));
  }
}
