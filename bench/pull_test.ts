import assert from "node:assert/strict";
import {
  buildSummary,
  formatSummary,
  modeOrder,
  MODES,
  pairedRatios,
  parseCommandLine,
  type Sample,
  summarize,
} from "./pull.ts";

Deno.test("summarize() takes the middle value of an odd count", () => {
  assert.deepEqual(summarize([5, 1, 3]), { n: 3, median: 3, min: 1, max: 5, mean: 3 });
});

Deno.test("summarize() averages the two middle values of an even count", () => {
  assert.equal(summarize([4, 1, 3, 2]).median, 2.5);
});

Deno.test("summarize() refuses no values", () => {
  assert.throws(() => summarize([]), RangeError);
});

Deno.test("pairedRatios() divides within each run and skips unpaired runs", () => {
  const samples: Sample[] = [
    { run: 1, mode: "ocid-daemon", ms: 300 },
    { run: 0, mode: "ocid-daemon", ms: 200 },
    { run: 0, mode: "skopeo-dir", ms: 100 },
    { run: 1, mode: "skopeo-dir", ms: 100 },
    { run: 2, mode: "ocid-daemon", ms: 999 },
  ];
  assert.deepEqual(pairedRatios(samples, { a: "ocid-daemon", b: "skopeo-dir" }), [2, 3]);
});

Deno.test("modeOrder() rotates the modes by one each run", () => {
  const modes = ["ocid-daemon", "skopeo-dir", "skopeo-oci+unpack"] as const;
  assert.deepEqual(modeOrder(modes, 0), ["ocid-daemon", "skopeo-dir", "skopeo-oci+unpack"]);
  assert.deepEqual(modeOrder(modes, 1), ["skopeo-dir", "skopeo-oci+unpack", "ocid-daemon"]);
  assert.deepEqual(modeOrder(modes, 3), modeOrder(modes, 0));
});

Deno.test("buildSummary() reports the median of per-run ratios, not the ratio of medians", () => {
  const samples: Sample[] = [
    { run: 0, mode: "ocid-daemon", ms: 100, peakRssBytes: 10, cpuSeconds: 1 },
    { run: 0, mode: "skopeo-oci+unpack", ms: 100, parts: { copy: 40, unpack: 60 } },
    { run: 1, mode: "ocid-daemon", ms: 400, peakRssBytes: 30, cpuSeconds: 2 },
    { run: 1, mode: "skopeo-oci+unpack", ms: 100, parts: { copy: 50, unpack: 50 } },
    { run: 2, mode: "ocid-daemon", ms: 300, peakRssBytes: 20, cpuSeconds: 3 },
    { run: 2, mode: "skopeo-oci+unpack", ms: 200, parts: { copy: 60, unpack: 140 } },
  ];
  const s = buildSummary(samples);
  assert.deepEqual(s.modes.map((m) => m.mode), ["ocid-daemon", "skopeo-oci+unpack"]);
  assert.equal(s.modes[0]!.peakRssBytes!.max, 30);
  assert.equal(s.modes[1]!.parts!.unpack!.median, 60);
  assert.equal(s.ratios.length, 1);
  assert.deepEqual(s.ratios[0]!.perRun, [1, 4, 1.5]);
  assert.equal(s.ratios[0]!.median, 1.5);
  const table = formatSummary(s);
  assert.match(table, /ocid-daemon \/ skopeo-oci\+unpack\s+median 1\.50x/);
});

Deno.test("parseCommandLine() defaults to 5 runs of every mode", () => {
  assert.deepEqual(parseCommandLine([]), { help: false, runs: 5, modes: [...MODES] });
});

Deno.test("parseCommandLine() takes --runs, --modes and --out", () => {
  assert.deepEqual(
    parseCommandLine(["--runs", "2", "--modes", "ocid-daemon,skopeo-dir", "--out", "x.json"]),
    { help: false, runs: 2, modes: ["ocid-daemon", "skopeo-dir"], out: "x.json" },
  );
});

Deno.test("parseCommandLine() refuses a bad run count or an unknown mode", () => {
  assert.throws(() => parseCommandLine(["--runs", "0"]), /--runs "0"/);
  assert.throws(() => parseCommandLine(["--modes", "docker"]), /mode "docker"/);
});
