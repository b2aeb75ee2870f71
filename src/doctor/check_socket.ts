/**
 * Checks of the CRI socket: its directory and mode, and whether another runtime already serves
 * on it.
 *
 * @module
 */
import { dirname } from "node:path";
import type { Config } from "../config/types.ts";
import { type Finding, finding } from "./finding.ts";
import type { DoctorHost } from "./host.ts";

/** The socket's directory and whoever answers on the socket. */
export async function checkSocket(config: Config, host: DoctorHost): Promise<Finding[]> {
  const found: Finding[] = [];
  const dir = dirname(config.listen);
  const info = await host.stat(dir);
  if (!info) {
    found.push(finding("ok", "socket", `${dir} does not exist yet; ocid creates it (mode 0750)`));
  } else if (!info.isDirectory) {
    found.push(
      finding(
        "fail",
        "socket",
        `${dir} is not a directory`,
        `remove ${dir}, or set listen elsewhere`,
      ),
    );
  } else if ((info.mode & 0o002) !== 0) {
    found.push(finding(
      "fail",
      "socket",
      `${dir} is world-writable (mode ${
        info.mode.toString(8).padStart(4, "0")
      }): anyone may replace the socket`,
      `chmod o-w ${dir}`,
    ));
  } else {
    found.push(finding("ok", "socket", `${dir} (mode ${info.mode.toString(8).padStart(4, "0")})`));
  }
  const probe = await host.probeSocket(config.listen);
  switch (probe.kind) {
    case "absent":
      found.push(finding("ok", "socket", `Nothing listens on ${config.listen} yet`));
      break;
    case "not-socket":
      found.push(
        finding(
          "fail",
          "socket",
          `${config.listen} exists and is not a socket`,
          `remove ${config.listen}`,
        ),
      );
      break;
    case "stale":
      found.push(
        finding(
          "ok",
          "socket",
          `${config.listen} is a stale socket (nobody listens); ocid replaces it`,
        ),
      );
      break;
    case "cri":
      found.push(
        probe.runtimeName === "ocid"
          ? finding(
            "warn",
            "socket",
            `ocid ${probe.runtimeVersion} already serves on ${config.listen}`,
            "stop it before starting another ocid",
          )
          : finding(
            "fail",
            "socket",
            `Another runtime (${probe.runtimeName} ${probe.runtimeVersion}) serves on ${config.listen}`,
            `stop ${probe.runtimeName}, or set listen to another path`,
          ),
      );
      break;
    case "other":
      found.push(finding(
        "fail",
        "socket",
        `Something that does not answer the CRI listens on ${config.listen}: ${probe.error}`,
        `stop it, or set listen to another path`,
      ));
      break;
  }
  return found;
}
