import assert from "node:assert/strict";
import { resolveAppArmor } from "../../../src/spec/apparmor.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../../../src/errors.ts";
import type { SecurityProfile } from "../../../src/cri/types.ts";

const FIELD = "linux.security_context";
const on = { field: FIELD, privileged: false, enabled: true };
const off = { ...on, enabled: false };
const profile = (profile_type: string, localhost_ref = ""): SecurityProfile =>
  ({ profile_type, localhost_ref }) as SecurityProfile;
const sc = (apparmor: SecurityProfile | null, apparmor_profile = "") => ({
  apparmor,
  apparmor_profile,
});

Deno.test("resolveAppArmor() applies a Localhost profile by name on a node with AppArmor", () => {
  assert.equal(resolveAppArmor(sc(profile("Localhost", "k8s-nginx")), on), "k8s-nginx");
  assert.equal(resolveAppArmor(sc(profile("Localhost", "localhost/k8s-nginx")), on), "k8s-nginx");
  assert.equal(resolveAppArmor(sc(null, "localhost/k8s-nginx"), on), "k8s-nginx");
  // The field wins over the deprecated string, as kubelet sends both.
  assert.equal(resolveAppArmor(sc(profile("Unconfined"), "localhost/x"), on), undefined);
  assert.equal(
    resolveAppArmor(sc(profile("Localhost", "p")), { ...on, privileged: true }),
    undefined,
  );
});

Deno.test("resolveAppArmor() gives RuntimeDefault, Unconfined and nothing no profile", () => {
  for (const enabled of [on, off]) {
    assert.equal(resolveAppArmor(null, enabled), undefined);
    assert.equal(resolveAppArmor(sc(null), enabled), undefined);
    assert.equal(resolveAppArmor(sc(profile("RuntimeDefault")), enabled), undefined);
    assert.equal(resolveAppArmor(sc(profile("Unconfined")), enabled), undefined);
    assert.equal(resolveAppArmor(sc(null, "runtime/default"), enabled), undefined);
    assert.equal(resolveAppArmor(sc(null, "unconfined"), enabled), undefined);
  }
});

Deno.test("resolveAppArmor() refuses a Localhost profile on a node without AppArmor", () => {
  assert.throws(
    () => resolveAppArmor(sc(profile("Localhost", "k8s-nginx")), off),
    (err: unknown) =>
      err instanceof FailedPreconditionError &&
      err.message ===
        'Cannot apply AppArmor profile "k8s-nginx" (linux.security_context.apparmor.localhost_ref): ' +
          "AppArmor is not enabled on this node",
  );
  assert.throws(() => resolveAppArmor(sc(null, "localhost/x"), off), FailedPreconditionError);
});

Deno.test("resolveAppArmor() refuses unknown types and strings, and a Localhost without a name", () => {
  const cases: [ReturnType<typeof sc>, RegExp][] = [
    [sc(profile("Strict")), /Unknown AppArmor profile type "Strict"/],
    [sc(null, "docker-default"), /Unknown AppArmor profile "docker-default"/],
    [sc(profile("Localhost", "")), /Missing the AppArmor profile's name/],
    [sc(null, "localhost/"), /Missing the AppArmor profile's name/],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => resolveAppArmor(input, on),
      (err: unknown) => err instanceof InvalidArgumentError && message.test(err.message),
    );
  }
});
