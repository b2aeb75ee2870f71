/**
 * Smoke test of the benchmark harness: runs `bench/main.ts --quick` against ocid only
 * (the harness starts ocid, a registry and nothing else) and checks that the table has a
 * row for every operation and that the JSON parses with samples for each. No timing
 * assertions: the figures are whatever they are.
 *
 * Needs root, runc, conmon, the CNI plugins, docker-registry, skopeo and umoci.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { opNames } from "../../bench/report.ts";
import { QUICK_SCENARIO } from "../../bench/scenario.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));

Deno.test("bench/main.ts --quick drives ocid and reports every operation", async () => {
  for (
    const bin of ["/usr/bin/docker-registry", "/usr/bin/skopeo", "/usr/bin/umoci", "/usr/sbin/runc"]
  ) {
    await Deno.stat(bin).catch(() => {
      throw new Error(`The bench smoke test needs ${bin}; install it`);
    });
  }
  assert.equal(Deno.uid(), 0, "The bench smoke test needs root (it starts ocid and runs pods)");
  const dir = await Deno.makeTempDir({ prefix: "ocid-bench-smoke-" });
  try {
    const out = `${dir}/result.json`;
    const res = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "bench/main.ts",
        "--quick",
        "--throughput-rounds",
        "2",
        "--targets",
        "ocid",
        "--out",
        out,
      ],
      cwd: REPO,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(600_000),
    }).output();
    const stdout = new TextDecoder().decode(res.stdout);
    const stderr = new TextDecoder().decode(res.stderr);
    assert.equal(res.code, 0, `bench exited ${res.code}\nstdout:\n${stdout}\nstderr:\n${stderr}`);

    const lines = stdout.split("\n");
    for (const op of opNames(QUICK_SCENARIO.listSizes)) {
      const row = lines.find((l) => l.startsWith(`${op} ms p50/p95/p99`));
      assert.ok(row, `No table row for ${op}:\n${stdout}`);
      assert.match(row, /\d/, `Row for ${op} has no figures: ${row}`);
    }
    for (
      const label of [
        "pods/s at concurrency 1",
        "daemon RSS idle MiB",
        "monitor RSS per pod MiB",
        "daemon CPU s",
      ]
    ) {
      assert.ok(lines.some((l) => l.startsWith(label)), `No table row "${label}":\n${stdout}`);
    }

    const report = JSON.parse(await Deno.readTextFile(out));
    assert.equal(report.version, 1);
    assert.equal(report.targets.length, 1);
    const ocid = report.targets[0];
    assert.equal(ocid.name, "ocid");
    assert.deepEqual(ocid.errors, []);
    for (const op of opNames(QUICK_SCENARIO.listSizes)) {
      assert.ok(ocid.samples[op]?.length > 0, `No samples for ${op} in the JSON`);
      assert.equal(typeof ocid.latency[op].p99, "number");
    }
    assert.equal(typeof ocid.podsPerSecond["1"], "number");
    // Two rounds of each pods/s run; the figure is their (lower) median.
    const rounds: number[] = ocid.podsPerSecondRounds["1"];
    assert.equal(rounds.length, 2);
    assert.equal(ocid.podsPerSecond["1"], Math.min(...rounds));
    assert.ok(ocid.idleRssBytes > 0, "The JSON has no idle RSS for ocid");
    assert.ok(ocid.monitorCount > 0, "No conmon process was found while pods ran");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
