/**
 * Builds a Go test program of `test/` in GOPATH mode against Debian's Go packages under
 * /usr/share/gocode, once per process, into a temporary directory removed at exit. Shared by
 * the Go gRPC client (go_client.ts) and the Go streaming client (go_stream.ts).
 *
 * @module
 */
import { denoRunner, text } from "../../src/process.ts";

/** Options of {@linkcode buildGoProgram}. */
export interface GoBuildOptions {
  /** The binary's name, also in the temp dir's prefix: `go-client`. */
  name: string;
  /** What it is, for messages: `Go test client`. */
  what: string;
  /** What to do when the build fails: `install the Debian packages ...`. */
  hint: string;
}

const builds = new Map<string, Promise<string>>();

/**
 * Builds the Go program in `sourceDir` once per process (later calls share the first build).
 *
 * @param sourceDir The package's directory.
 * @param options Its name, what it is, and the hint for a failed build.
 * @returns The path of the binary.
 * @throws {Error} When `go` is missing or the build fails (with the compiler's output).
 */
export function buildGoProgram(sourceDir: string, options: GoBuildOptions): Promise<string> {
  let built = builds.get(sourceDir);
  if (!built) {
    built = build(sourceDir, options);
    builds.set(sourceDir, built);
  }
  return built;
}

async function build(sourceDir: string, options: GoBuildOptions): Promise<string> {
  const { name, what, hint } = options;
  const dir = await Deno.makeTempDir({ prefix: `ocid-${name}-` });
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* already gone */ }
  });
  const bin = `${dir}/${name}`;
  const env: Record<string, string> = {
    ...Deno.env.toObject(),
    GOPATH: "/usr/share/gocode",
    GO111MODULE: "off",
    GOFLAGS: "",
  };
  if (!env.HOME && !env.GOCACHE) env.GOCACHE = `${dir}/cache`;
  let result;
  try {
    result = await denoRunner.run("go", ["build", "-o", bin, "."], {
      cwd: sourceDir,
      env,
      check: false,
      timeoutMs: 300_000,
    });
  } catch (error) {
    throw new Error(`Cannot run "go" to build the ${what}: ${hint}`, { cause: error });
  }
  if (result.code !== 0) {
    throw new Error(
      `Cannot build the ${what} (go build exited ${result.code}); ${hint}:\n` +
        text(result.stderr),
    );
  }
  return bin;
}
