import assert from "node:assert/strict";
import { NotFoundError, OcidError } from "../../../src/errors.ts";
import type * as cri from "../../../src/cri/types.ts";
import { exec } from "../../../src/server/container_exec.ts";
import { attach } from "../../../src/server/container_attach.ts";
import { portForward } from "../../../src/server/sandbox_port_forward.ts";
import type { ContainerStore, SandboxStore } from "../../../src/store/mod.ts";
import type { StreamRequest, StreamUrls } from "../../../src/stream/types.ts";

function fakeStores(state: { container: string; sandbox: string }) {
  const containers = {
    get(id: string) {
      if (!"c123456".startsWith(id)) throw new NotFoundError(`Cannot find container "${id}"`);
      return { id: "c123456", status: { state: state.container } };
    },
  } as unknown as ContainerStore;
  const sandboxes = {
    get(id: string) {
      if (!"p987".startsWith(id)) throw new NotFoundError(`Cannot find pod sandbox "${id}"`);
      return { id: "p987", status: { state: state.sandbox } };
    },
  } as unknown as SandboxStore;
  return { containers, sandboxes };
}

function fakeStreams(): StreamUrls & { requests: StreamRequest[] } {
  const requests: StreamRequest[] = [];
  return {
    requests,
    url(req) {
      requests.push(req);
      return `http://127.0.0.1:1/${req.kind}/tok${requests.length}`;
    },
  };
}

const execReq = (r: Partial<cri.ExecRequest>): cri.ExecRequest => ({
  container_id: "c12",
  cmd: ["ls"],
  tty: false,
  stdin: false,
  stdout: true,
  stderr: false,
  audit_request_id: "",
  ...r,
});

const code = (c: string) => (err: unknown) => err instanceof OcidError && err.code === c;

Deno.test("exec() stores the resolved request and returns its URL", async () => {
  const streams = fakeStreams();
  const deps = {
    ...fakeStores({ container: "CONTAINER_RUNNING", sandbox: "SANDBOX_READY" }),
    streams,
  };
  const res = await exec(deps, execReq({ stdin: true }));
  assert.equal(res.url, "http://127.0.0.1:1/exec/tok1");
  assert.deepEqual(streams.requests, [{
    kind: "exec",
    containerId: "c123456",
    cmd: ["ls"],
    tty: false,
    stdin: true,
    stdout: true,
    stderr: false,
  }]);
});

Deno.test("exec() keeps the request's audit ID for the session's log", async () => {
  const streams = fakeStreams();
  const deps = {
    ...fakeStores({ container: "CONTAINER_RUNNING", sandbox: "SANDBOX_READY" }),
    streams,
  };
  await exec(deps, execReq({ audit_request_id: "8f0c-audit" }));
  assert.equal((streams.requests[0] as { auditRequestId?: string }).auditRequestId, "8f0c-audit");
});

Deno.test("exec() validates the request", async (t) => {
  const running = {
    ...fakeStores({ container: "CONTAINER_RUNNING", sandbox: "SANDBOX_READY" }),
    streams: fakeStreams(),
  };
  const cases: Array<[string, Partial<cri.ExecRequest>, string]> = [
    ["no container id", { container_id: "" }, "INVALID_ARGUMENT"],
    ["no command", { cmd: [] }, "INVALID_ARGUMENT"],
    ["empty command", { cmd: [""] }, "INVALID_ARGUMENT"],
    ["no stream", { stdout: false }, "INVALID_ARGUMENT"],
    ["tty with stderr", { tty: true, stderr: true }, "INVALID_ARGUMENT"],
    ["unknown container", { container_id: "zz" }, "NOT_FOUND"],
  ];
  for (const [name, req, c] of cases) {
    await t.step(name, () => assert.rejects(exec(running, execReq(req)), code(c)));
  }
  await t.step("a container not running", () =>
    assert.rejects(
      exec({
        ...fakeStores({ container: "CONTAINER_EXITED", sandbox: "" }),
        streams: fakeStreams(),
      }, execReq({})),
      code("FAILED_PRECONDITION"),
    ));
  await t.step("no streaming server", () =>
    assert.rejects(
      exec(fakeStores({ container: "CONTAINER_RUNNING", sandbox: "" }), execReq({})),
      code("UNAVAILABLE"),
    ));
});

Deno.test("attach() validates the request and returns an attach URL", async () => {
  const streams = fakeStreams();
  const deps = { ...fakeStores({ container: "CONTAINER_RUNNING", sandbox: "" }), streams };
  const req: cri.AttachRequest = {
    container_id: "c1",
    stdin: false,
    tty: true,
    stdout: true,
    stderr: false,
    audit_request_id: "",
  };
  assert.match((await attach(deps, req)).url ?? "", /\/attach\/tok1$/);
  // The API server's audit ID goes with the session (its log lines name it).
  await attach(deps, { ...req, audit_request_id: "audit-2" });
  assert.equal((streams.requests[1] as { auditRequestId?: string }).auditRequestId, "audit-2");
  assert.equal("auditRequestId" in streams.requests[0]!, false, "none given, none kept");
  await assert.rejects(attach(deps, { ...req, stdout: false }), code("INVALID_ARGUMENT"));
  await assert.rejects(attach(deps, { ...req, stderr: true }), code("INVALID_ARGUMENT"));
  const exited = { ...fakeStores({ container: "CONTAINER_CREATED", sandbox: "" }), streams };
  await assert.rejects(attach(exited, req), code("FAILED_PRECONDITION"));
});

Deno.test("portForward() needs a ready pod and valid ports", async () => {
  const streams = fakeStreams();
  const ready = { ...fakeStores({ container: "", sandbox: "SANDBOX_READY" }), streams };
  const res = await portForward(ready, { pod_sandbox_id: "p9", port: [8080] });
  assert.match(res.url ?? "", /\/portforward\/tok1$/);
  assert.deepEqual(streams.requests, [{ kind: "portforward", sandboxId: "p987", ports: [8080] }]);
  await assert.rejects(
    portForward(ready, { pod_sandbox_id: "", port: [] }),
    code("INVALID_ARGUMENT"),
  );
  await assert.rejects(
    portForward(ready, { pod_sandbox_id: "p9", port: [0] }),
    code("INVALID_ARGUMENT"),
  );
  await assert.rejects(
    portForward(ready, { pod_sandbox_id: "p9", port: [70000] }),
    code("INVALID_ARGUMENT"),
  );
  await assert.rejects(portForward(ready, { pod_sandbox_id: "x", port: [80] }), code("NOT_FOUND"));
  const stopped = { ...fakeStores({ container: "", sandbox: "SANDBOX_NOTREADY" }), streams };
  await assert.rejects(
    portForward(stopped, { pod_sandbox_id: "p9", port: [80] }),
    code("FAILED_PRECONDITION"),
  );
});
