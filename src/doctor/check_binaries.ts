/**
 * Checks of the programs ocid runs: the OCI runtime, conmon and the pause binary, each present,
 * executable and answering `--version`.
 *
 * @module
 */
import type { Config } from "../config/types.ts";
import { text } from "../process.ts";
import { type Finding, finding } from "./finding.ts";
import type { DoctorHost } from "./host.ts";

/** The first line of `<path> --version`, or an error message. */
async function versionLine(host: DoctorHost, path: string): Promise<{ ok: boolean; line: string }> {
  try {
    const res = await host.runner.run(path, ["--version"], { check: false, timeoutMs: 10_000 });
    const out = (text(res.stdout) || text(res.stderr)).trim().split("\n")[0] ?? "";
    return res.code === 0 ? { ok: true, line: out } : { ok: false, line: out };
  } catch (err) {
    return { ok: false, line: err instanceof Error ? err.message : String(err) };
  }
}

async function binary(
  host: DoctorHost,
  check: string,
  path: string,
  fix: string,
): Promise<Finding> {
  if (!(await host.isExecutable(path))) {
    return finding("fail", check, `${path} is missing or not executable`, fix);
  }
  const v = await versionLine(host, path);
  if (!v.ok) return finding("fail", check, `${path} --version failed: ${v.line}`, fix);
  return finding("ok", check, `${v.line} (${path})`);
}

/** The runtime, conmon and (without a pause image) the pause binary. */
export async function checkBinaries(
  config: Config,
  host: DoctorHost,
): Promise<Finding[]> {
  const found = [
    await binary(
      host,
      "runtime",
      config.runtime.path,
      `apt-get install ${config.runtime.name}, or set [runtime] path in the configuration`,
    ),
    await binary(
      host,
      "conmon",
      config.conmon.path,
      "apt-get install conmon, or set [conmon] path in the configuration",
    ),
  ];
  if (config.pause.image === "") {
    found.push(
      (await host.isExecutable(config.pause.binary))
        ? finding("ok", "pause", `${config.pause.binary} (copied into the infra rootfs)`)
        : finding(
          "fail",
          "pause",
          `${config.pause.binary} is missing or not executable`,
          "apt-get install catatonit, or set [pause] binary or [pause] image",
        ),
    );
  } else {
    found.push(finding("ok", "pause", `image ${config.pause.image} (pulled at the first pod)`));
  }
  return found;
}
