/**
 * CPU usage rate (`usage_nano_cores`) from successive samples of a cumulative CPU time, kept
 * in memory per key (a container or pod ID), as CRI-O and containerd do.
 *
 * @module
 */

/** One sample: when, and the cumulative CPU time then. */
interface Sample {
  atNs: bigint;
  usageNs: bigint;
  /** The rate computed when this sample was taken, if any. */
  rate?: bigint;
}

/** Options of {@linkcode CpuRate}. */
export interface CpuRateOptions {
  /**
   * Samples closer than this to the kept one do not replace it; they get the kept rate, so two
   * pollers asking at nearly the same time do not get a rate over a tiny, noisy interval.
   * @default 100
   */
  minIntervalMs?: number;
}

/** Tracks the last CPU sample per key and turns each new one into a rate. */
export class CpuRate {
  #samples = new Map<string, Sample>();
  #minIntervalNs: bigint;

  constructor(options: CpuRateOptions = {}) {
    this.#minIntervalNs = BigInt(Math.round((options.minIntervalMs ?? 100) * 1e6));
  }

  /**
   * Records a sample and returns the rate since the previous one, in nanocores (1e9 = one
   * core busy).
   *
   * @param key Whose CPU time this is.
   * @param sample `atNs`: when, in ns since the epoch; `usageNs`: cumulative CPU time.
   * @returns The rate, or undefined for a first sample or after the counter went backwards
   * (a recreated cgroup).
   */
  sample(key: string, sample: { atNs: bigint; usageNs: bigint }): bigint | undefined {
    const prev = this.#samples.get(key);
    if (prev && sample.atNs >= prev.atNs && sample.atNs - prev.atNs < this.#minIntervalNs) {
      return prev.rate;
    }
    let rate: bigint | undefined;
    if (prev && sample.atNs > prev.atNs && sample.usageNs >= prev.usageNs) {
      rate = ((sample.usageNs - prev.usageNs) * 1_000_000_000n) / (sample.atNs - prev.atNs);
    }
    this.#samples.set(key, rate === undefined ? { ...sample } : { ...sample, rate });
    return rate;
  }

  /** Drops the samples of keys not in `keep` (containers and pods that are gone). */
  retain(keep: ReadonlySet<string>): void {
    for (const key of this.#samples.keys()) if (!keep.has(key)) this.#samples.delete(key);
  }

  /** Drops one key's sample. */
  forget(key: string): void {
    this.#samples.delete(key);
  }

  /** How many keys have a sample. */
  get size(): number {
    return this.#samples.size;
  }
}
