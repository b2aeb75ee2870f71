import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import { hostsFile, LOCALHOST_LINES } from "../../../src/spec/hosts.ts";

Deno.test("hostsFile() holds the localhost lines when no IP is known", () => {
  assert.equal(hostsFile("web-0"), LOCALHOST_LINES.join("\n") + "\n");
});

Deno.test("hostsFile() names the hostname on each pod IP", () => {
  const out = hostsFile("web-0", { ips: ["10.234.7.5", "fd00::5"] });
  assert.ok(out.startsWith("127.0.0.1\tlocalhost\n"));
  assert.ok(out.endsWith("\n10.234.7.5\tweb-0\nfd00::5\tweb-0\n"));
});

Deno.test("hostsFile() rejects a hostname or IP that would inject lines", () => {
  assert.throws(() => hostsFile("web\n1.2.3.4 evil"), InvalidArgumentError);
  assert.throws(() => hostsFile("-web"), InvalidArgumentError);
  assert.throws(() => hostsFile("web", { ips: ["10.0.0.1 evil"] }), InvalidArgumentError);
});
