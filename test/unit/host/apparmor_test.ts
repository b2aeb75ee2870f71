import assert from "node:assert/strict";
import { appArmorEnabled } from "../../../src/host/apparmor.ts";

Deno.test("appArmorEnabled() needs securityfs's apparmor dir and the module's Y", () => {
  const node = (dir: boolean, enabled: string | undefined) => ({
    exists: (p: string) => dir && p === "/sys/kernel/security/apparmor",
    readText: (p: string) => {
      if (enabled === undefined || p !== "/sys/module/apparmor/parameters/enabled") {
        throw new Deno.errors.NotFound(p);
      }
      return enabled;
    },
  });
  assert.equal(appArmorEnabled(node(true, "Y\n")), true);
  assert.equal(appArmorEnabled(node(true, "N\n")), false);
  assert.equal(appArmorEnabled(node(false, "Y\n")), false);
  assert.equal(appArmorEnabled(node(true, undefined)), false);
});
