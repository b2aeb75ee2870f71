import assert from "node:assert/strict";
import { conmonCommand } from "../../../src/oci/conmon_spawn.ts";

Deno.test("conmonCommand() runs conmon itself once the daemon's fds are close-on-exec", () => {
  assert.deepEqual(conmonCommand("/usr/bin/conmon", ["-c", "abc"], true), {
    file: "/usr/bin/conmon",
    args: ["-c", "abc"],
  });
});

Deno.test("conmonCommand() falls back to a bash step that closes the fds", () => {
  const { file, args } = conmonCommand("/usr/bin/conmon", ["-c", "abc"], false);
  assert.equal(file, "/bin/bash");
  assert.deepEqual(args.slice(2), ["/usr/bin/conmon", "-c", "abc"]);
  assert.match(args[1]!, /exec \$n>&-/);
});
