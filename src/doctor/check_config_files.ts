/**
 * Checks of the files ocid reads besides its own configuration: registries.conf parses.
 *
 * @module
 */
import type { Config } from "../config/types.ts";
import { parseRegistriesConf } from "../image/registries_conf.ts";
import { type Finding, finding } from "./finding.ts";
import type { DoctorHost } from "./host.ts";

/** registries.conf parses (a missing file is fine: no mirrors, no rewrites). */
export async function checkRegistriesConf(config: Config, host: DoctorHost): Promise<Finding[]> {
  const path = config.image.registriesConf;
  let text: string;
  try {
    text = await host.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      return [
        finding("ok", "registries", `${path} is absent: no mirrors, no rewrites`),
      ];
    }
    return [
      finding(
        "fail",
        "registries",
        `Cannot read ${path}: ${(err as Error).message}`,
        `fix the permissions of ${path}`,
      ),
    ];
  }
  try {
    const conf = parseRegistriesConf(text, path);
    return [finding("ok", "registries", `${path}: ${conf.registries.length} [[registry]] entries`)];
  } catch (err) {
    return [
      finding(
        "fail",
        "registries",
        (err as Error).message,
        `fix ${path} (containers-registries.conf(5))`,
      ),
    ];
  }
}
