import assert from "node:assert/strict";
import { createRuntimeRouter, type OciRuntime } from "../../../src/oci/mod.ts";
import { FakeRuntime } from "../server/_fakes.ts";

/** A FakeRuntime whose list() reports `listed`. */
function listing() {
  const fake = new FakeRuntime();
  const listed: string[] = [];
  const runtime = new Proxy(fake, {
    get(target, prop) {
      if (prop === "list") {
        return async () => {
          await target.list();
          return listed.map((id) => ({ id, pid: 1, status: "running", bundle: "/b" }));
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as unknown as OciRuntime;
  return Object.assign(fake, { listed, runtime });
}

function setUp(records: Record<string, string> = {}) {
  const a = listing();
  const b = listing();
  const router = createRuntimeRouter({
    runtimes: new Map([["runc", a.runtime], ["runc-b", b.runtime]]),
    defaultHandler: "runc",
    handlerOf: (id) => records[id],
  });
  return { a, b, router };
}

const opts = (id: string, runtimeHandler?: string) => ({
  id,
  bundle: "/b",
  persistDir: "/b",
  logPath: "/b/log",
  ...(runtimeHandler === undefined ? {} : { runtimeHandler }),
});

Deno.test("the router creates with the requested handler and routes later calls there", async () => {
  const { a, b, router } = setUp();
  await router.create(opts("pod1", "runc-b"));
  await router.start("pod1");
  await router.kill("pod1", "KILL");
  await router.delete("pod1", { force: true });
  assert.deepEqual(b.verbs(), ["create", "start", "kill", "delete"]);
  assert.deepEqual(a.verbs(), []);
  await router.create(opts("pod2", ""));
  await router.create(opts("pod3"));
  assert.deepEqual(a.verbs(), ["create", "create"]);
});

Deno.test("the router routes by the records: a container follows its sandbox's handler", async () => {
  const { a, b, router } = setUp({ sbx: "runc-b", ctr: "runc-b", other: "" });
  await router.execSync("ctr", { args: ["true"], timeoutMs: 1000 });
  await router.state("sbx");
  await router.updateResources("other", {});
  assert.deepEqual(b.verbs(), ["execSync", "state"]);
  assert.deepEqual(a.verbs(), ["updateResources"]);
  assert.equal(router.handlerFor("ctr"), "runc-b");
  assert.equal(router.handlerFor("unknown"), "runc");
});

Deno.test("list() merges the runtimes and remembers where an id without a record lives", async () => {
  const { a, b, router } = setUp();
  a.listed.push("x");
  b.listed.push("y", "x");
  const states = await router.list();
  assert.deepEqual(states.map((s) => s.id), ["x", "y"]);
  await router.delete("y", { force: true });
  assert.deepEqual(b.calls.filter((c) => c.verb === "delete").map((c) => c.id), ["y"]);
  assert.ok(!a.calls.some((c) => c.verb === "delete"));
});

Deno.test("a failed create forgets the id; an unknown default handler is refused", async () => {
  const { a, b, router } = setUp();
  b.fail.create = new Error("crun create failed");
  await assert.rejects(router.create(opts("pod", "runc-b")), /crun create failed/);
  await router.delete("pod");
  assert.deepEqual(a.verbs(), ["delete"]);
  assert.throws(
    () =>
      createRuntimeRouter({
        runtimes: new Map(),
        defaultHandler: "runc",
        handlerOf: () => undefined,
      }),
    /default runtime handler "runc" has no runtime/,
  );
});
