/**
 * The names of the Container Device Interface (CDI): a device is asked for by its fully
 * qualified name `vendor.com/class=name`, in CRI `ContainerConfig.CDI_devices` (kubelet's
 * device manager fills it from a device plugin's answer) or in annotations with the
 * `cdi.k8s.io/` prefix (each value a comma-separated list of names), as containerd and CRI-O
 * read them. The rules of each part follow the CDI spec and its reference parser
 * (container-device-interface `pkg/parser`).
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";

/** The prefix of annotation keys that name CDI devices. */
export const CDI_ANNOTATION_PREFIX = "cdi.k8s.io/";

/** A fully qualified CDI device name, in parts. */
export interface QualifiedName {
  /** `vendor.com` */
  vendor: string;
  /** `class` */
  class: string;
  /** `name` */
  name: string;
}

const LETTER = /[A-Za-z]/;
const ALNUM = /[A-Za-z0-9]/;

/**
 * Why a vendor, class or device name is invalid, or undefined when it is valid. Vendor: a
 * letter first, a letter or digit last, letters, digits, `-` and `.` between. Class: the same
 * with `_` instead of `.`. Device: a letter or digit at both ends, and `-`, `_`, `.` or `:`
 * between.
 */
export function namePartProblem(
  part: "vendor" | "class" | "device",
  s: string,
): string | undefined {
  if (s === "") return `empty ${part} name`;
  const inner = part === "vendor"
    ? /^[A-Za-z0-9.-]*$/
    : part === "class"
    ? /^[A-Za-z0-9_-]*$/
    : /^[A-Za-z0-9_.:-]*$/;
  const first = part === "device" ? ALNUM : LETTER;
  if (!first.test(s[0]!)) {
    return `${part} name "${s}" must start with a letter${part === "device" ? " or digit" : ""}`;
  }
  if (!ALNUM.test(s[s.length - 1]!)) return `${part} name "${s}" must end with a letter or digit`;
  if (!inner.test(s)) return `${part} name "${s}" has a character that is not allowed`;
  return undefined;
}

/**
 * Parses `vendor.com/class=name`.
 *
 * @throws {InvalidArgumentError} naming the device and what is wrong with it
 */
export function parseQualifiedName(device: string): QualifiedName {
  const slash = device.indexOf("/");
  const eq = device.indexOf("=", slash + 1);
  if (slash <= 0 || eq < 0) {
    throw new InvalidArgumentError(
      `Invalid CDI device "${device}": a fully qualified name is vendor.com/class=name`,
    );
  }
  const parts = {
    vendor: device.slice(0, slash),
    class: device.slice(slash + 1, eq),
    name: device.slice(eq + 1),
  };
  const problem = namePartProblem("vendor", parts.vendor) ??
    namePartProblem("class", parts.class) ?? namePartProblem("device", parts.name);
  if (problem) throw new InvalidArgumentError(`Invalid CDI device "${device}": ${problem}`);
  return parts;
}

/**
 * The CDI devices a container asks for: its `CDI_devices`, then the devices of its
 * `cdi.k8s.io/` annotations (keys in sorted order), each once, in that order.
 *
 * @throws {InvalidArgumentError} for a name that is not fully qualified
 */
export function requestedCdiDevices(config: {
  CDI_devices?: readonly { name: string }[] | undefined;
  annotations?: Readonly<Record<string, string>> | undefined;
}): string[] {
  const names: string[] = (config.CDI_devices ?? []).map((d, i) => {
    if (!d.name) throw new InvalidArgumentError(`Missing CDI_devices[${i}].name`);
    return d.name;
  });
  const annotations = config.annotations ?? {};
  for (const key of Object.keys(annotations).sort()) {
    if (!key.startsWith(CDI_ANNOTATION_PREFIX)) continue;
    for (const raw of annotations[key]!.split(",")) {
      const name = raw.trim();
      if (name !== "") names.push(name);
    }
  }
  const unique = [...new Set(names)];
  for (const name of unique) parseQualifiedName(name);
  return unique;
}
