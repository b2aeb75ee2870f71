import assert from "node:assert/strict";
import { appArmorEnabled } from "../../../src/host/apparmor.ts";

Deno.test("appArmorEnabled() needs securityfs's apparmor dir and the module's Y", async () => {
  const node = (dir: boolean, enabled: string | undefined) => ({
    exists: (p: string) => Promise.resolve(dir && p === "/sys/kernel/security/apparmor"),
    readText: (p: string) =>
      enabled === undefined || p !== "/sys/module/apparmor/parameters/enabled"
        ? Promise.reject(new Deno.errors.NotFound(p))
        : Promise.resolve(enabled),
  });
  assert.equal(await appArmorEnabled(node(true, "Y\n")), true);
  assert.equal(await appArmorEnabled(node(true, "N\n")), false);
  assert.equal(await appArmorEnabled(node(false, "Y\n")), false);
  assert.equal(await appArmorEnabled(node(true, undefined)), false);
});
