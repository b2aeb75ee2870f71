import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import { type DnsInput, resolvConf } from "../../../src/spec/resolv.ts";

const HOST = "nameserver 192.0.2.53\nsearch example.org\n";
const empty: DnsInput = { servers: [], searches: [], options: [] };

Deno.test("resolvConf() copies the host file when dns_config is null or empty", () => {
  assert.equal(resolvConf(null, HOST), HOST);
  assert.equal(resolvConf(empty, HOST), HOST);
});

Deno.test("resolvConf() writes searches, servers and options", () => {
  const out = resolvConf({
    servers: ["10.96.0.10", "fd00::a"],
    searches: ["default.svc.cluster.local", "svc.cluster.local", "cluster.local."],
    options: ["ndots:5", "edns0", "use-vc"],
  }, HOST);
  assert.equal(
    out,
    "search default.svc.cluster.local svc.cluster.local cluster.local.\n" +
      "nameserver 10.96.0.10\nnameserver fd00::a\noptions ndots:5 edns0 use-vc\n",
  );
});

Deno.test("resolvConf() writes only the parts given", () => {
  assert.equal(resolvConf({ ...empty, servers: ["10.96.0.10"] }, HOST), "nameserver 10.96.0.10\n");
  assert.equal(resolvConf({ ...empty, options: ["ndots:2"] }, HOST), "options ndots:2\n");
});

Deno.test("resolvConf() rejects injected lines and bad entries naming the field", () => {
  const cases: [Partial<DnsInput>, string][] = [
    [{ servers: ["10.0.0.1\nnameserver 6.6.6.6"] }, "dns_config.servers"],
    [{ servers: ["dns.example.org"] }, "dns_config.servers"],
    [{ searches: ["a.com\nnameserver 6.6.6.6"] }, "dns_config.searches"],
    [{ searches: ["a b"] }, "dns_config.searches"],
    [{ searches: [""] }, "dns_config.searches"],
    [{ options: ["ndots:5\nnameserver 6.6.6.6"] }, "dns_config.options"],
    [{ options: ["ndots 5"] }, "dns_config.options"],
    [{ options: ["#x"] }, "dns_config.options"],
  ];
  for (const [part, field] of cases) {
    assert.throws(
      () => resolvConf({ ...empty, ...part }, HOST),
      (e: unknown) => e instanceof InvalidArgumentError && e.message.includes(field),
      JSON.stringify(part),
    );
  }
});
