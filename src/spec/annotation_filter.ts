/**
 * Which of a request's annotations may reach `config.json`. Runtimes act on some annotation
 * keys: runc's systemd cgroup driver turns `org.systemd.property.*` into properties of the
 * container's unit, crun acts on `run.oci.*` (CRI-O's CVE-2024-3154 was a pod setting them),
 * and ocid reads its own keys back (`io.ocid.*`, and the `io.kubernetes.cri.*` keys it writes
 * for tools like kata and NRI plugins). A request's keys under those prefixes are dropped
 * unless an allow list names them; every other key passes unchanged.
 *
 * The allow list has CRI-O's prefix semantics (`allowed_annotations`): an entry allows every
 * key that starts with it, so `run.oci.` allows all of crun's keys and
 * `run.oci.keep_original_groups` that one key. Only what reaches `config.json` is filtered:
 * the CRI wants a sandbox's and a container's annotations returned as they were sent.
 *
 * @example
 * ```ts
 * const { kept, dropped } = filterUserAnnotations(
 *   { "run.oci.keep_original_groups": "1", team: "a" },
 *   { allowed: [] },
 * );
 * // kept: { team: "a" }; dropped: ["run.oci.keep_original_groups"]
 * ```
 *
 * @module
 */

/** Key prefixes a request may set only when an allow list names them. */
export const RESTRICTED_ANNOTATION_PREFIXES: readonly string[] = [
  // runc (systemd cgroup driver): unit properties.
  "org.systemd.property.",
  // crun: keep_original_groups, seccomp_fail_unknown_syscall, hooks.*, ...
  "run.oci.",
  // ocid's own keys.
  "io.ocid.",
  // The CRI keys ocid writes (container type, sandbox id, ...), which other tools trust.
  "io.kubernetes.cri.",
];

/** Options of {@linkcode filterUserAnnotations}. */
export interface AnnotationFilterOptions {
  /** Keys or key prefixes a request may set although they are restricted. */
  allowed: readonly string[];
}

/** What {@linkcode filterUserAnnotations} returns. */
export interface FilteredAnnotations {
  /** The annotations that may reach `config.json`. */
  kept: Record<string, string>;
  /** The keys dropped, in the request's order. */
  dropped: string[];
}

/**
 * Splits a request's annotations into those that may reach `config.json` and the keys a
 * runtime or ocid would act on.
 *
 * @param annotations The request's annotations.
 * @param options The allow list (prefixes; an empty string allows nothing).
 * @returns The kept annotations and the dropped keys.
 */
export function filterUserAnnotations(
  annotations: Readonly<Record<string, string>>,
  options: AnnotationFilterOptions,
): FilteredAnnotations {
  const allowed = options.allowed.filter((a) => a !== "");
  const kept: Record<string, string> = {};
  const dropped: string[] = [];
  for (const [key, value] of Object.entries(annotations)) {
    const restricted = RESTRICTED_ANNOTATION_PREFIXES.some((p) => key.startsWith(p));
    if (restricted && !allowed.some((a) => key.startsWith(a))) dropped.push(key);
    else kept[key] = value;
  }
  return { kept, dropped };
}

/** How a spec builder filters the request's annotations (both builders take these). */
export interface RequestAnnotationOptions {
  /**
   * Restricted keys or prefixes the request may set (see {@linkcode filterUserAnnotations});
   * the runtime handler's allow list.
   * @default []
   */
  allowedAnnotations?: readonly string[];
  /** Told the keys dropped from the request's annotations, when there are any. */
  onDroppedAnnotations?: (keys: string[]) => void;
}

/**
 * The request's annotations that go into a spec: the one place where both spec builders
 * filter them.
 *
 * @param annotations The request's annotations.
 * @param options The allow list and who hears of dropped keys.
 * @returns The kept annotations.
 */
export function requestAnnotations(
  annotations: Readonly<Record<string, string>>,
  options: RequestAnnotationOptions,
): Record<string, string> {
  const { kept, dropped } = filterUserAnnotations(annotations, {
    allowed: options.allowedAnnotations ?? [],
  });
  if (dropped.length > 0) options.onDroppedAnnotations?.(dropped);
  return kept;
}
