import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import { resolveContainerUser, resolveUser } from "../../../src/spec/user.ts";
import { containerSecurity } from "./_fixtures.ts";

const files = {
  passwd: [
    "root:x:0:0:root:/root:/bin/sh",
    "# comment",
    "broken line",
    "www:x:33:33:www:/var/www:/bin/false",
    "app:x:1000:1001::/home/app:/bin/sh",
  ].join("\n"),
  group: ["root:x:0:", "www:x:33:app", "app:x:1001:", "video:x:44:app,www", "bad:x:y:app"].join(
    "\n",
  ),
};

Deno.test("resolveUser() handles every user[:group] form", () => {
  assert.deepEqual(resolveUser("", files), {
    uid: 0,
    gid: 0,
    additionalGids: [],
    name: "root",
    home: "/root",
  });
  assert.deepEqual(resolveUser("app", files), {
    uid: 1000,
    gid: 1001,
    additionalGids: [33, 44],
    name: "app",
    home: "/home/app",
  });
  assert.equal(resolveUser("1000", files).gid, 1001);
  assert.deepEqual(resolveUser("4242", files), { uid: 4242, gid: 0, additionalGids: [] });
  assert.equal(resolveUser("app:video", files).gid, 44);
  assert.equal(resolveUser("app:7", files).gid, 7);
  assert.deepEqual(resolveUser("5:6", { passwd: "", group: "" }), {
    uid: 5,
    gid: 6,
    additionalGids: [],
  });
});

Deno.test("resolveUser() rejects unknown names and malformed strings", () => {
  assert.throws(
    () => resolveUser("nobody", files),
    (e: unknown) => e instanceof InvalidArgumentError && /"nobody"/.test(e.message),
  );
  assert.throws(() => resolveUser("app:nogroup", files), /"nogroup"/);
  assert.throws(() => resolveUser("a:b:c", files), InvalidArgumentError);
  assert.throws(() => resolveUser("99999999999", files), InvalidArgumentError);
});

Deno.test("resolveContainerUser() follows Kubernetes precedence", async (t) => {
  await t.step("the image's user when the context sets none", () => {
    assert.equal(resolveContainerUser(null, { imageUser: "www", files }).uid, 33);
    assert.equal(resolveContainerUser(null, { imageUser: "www:video", files }).gid, 44);
  });
  await t.step("run_as_user wins over run_as_username and the image", () => {
    const sc = { ...containerSecurity(), run_as_user: { value: "1000" }, run_as_username: "www" };
    const u = resolveContainerUser(sc, { imageUser: "www:video", files });
    assert.deepEqual([u.uid, u.gid], [1000, 1001]);
  });
  await t.step("run_as_username is looked up", () => {
    const sc = { ...containerSecurity(), run_as_username: "www" };
    assert.equal(resolveContainerUser(sc, { imageUser: "", files }).uid, 33);
  });
  await t.step("run_as_group overrides the primary group", () => {
    const sc = {
      ...containerSecurity(),
      run_as_user: { value: "1000" },
      run_as_group: { value: "5" },
    };
    assert.equal(resolveContainerUser(sc, { imageUser: "", files }).gid, 5);
    const noUser = { ...containerSecurity(), run_as_group: { value: "5" } };
    assert.throws(() => resolveContainerUser(noUser, { imageUser: "", files }), /run_as_group/);
  });
  await t.step("supplemental_groups are added; Strict drops /etc/group ones", () => {
    const sc = {
      ...containerSecurity(),
      run_as_user: { value: "1000" },
      supplemental_groups: ["44", "500"],
    };
    assert.deepEqual(resolveContainerUser(sc, { imageUser: "", files }).additionalGids, [
      1001,
      33,
      44,
      500,
    ]);
    const strict = { ...sc, supplemental_groups_policy: "Strict" as const };
    assert.deepEqual(resolveContainerUser(strict, { imageUser: "", files }).additionalGids, [
      1001,
      44,
      500,
    ]);
  });
  await t.step("the primary group is a supplementary group, first unless already listed", () => {
    const u = (s: Partial<ReturnType<typeof containerSecurity>>, imageUser = "") =>
      resolveContainerUser({ ...containerSecurity(), ...s }, { imageUser, files }).additionalGids;
    assert.deepEqual(u({}), [0], "root");
    assert.deepEqual(u({}, "www"), [33, 44], "www's group is its own");
    assert.deepEqual(u({ run_as_user: { value: "4242" } }), [0], "a uid not in /etc/passwd");
    assert.deepEqual(
      u({ run_as_user: { value: "1000" }, run_as_group: { value: "7" } }),
      [7, 33, 44],
      "run_as_group",
    );
    assert.deepEqual(
      u({ run_as_user: { value: "1000" }, supplemental_groups: ["1001"] }),
      [33, 44, 1001],
      "listed among supplemental_groups: kept where it is",
    );
  });
  await t.step("negative ids are rejected naming the field", () => {
    const sc = { ...containerSecurity(), run_as_user: { value: "-1" } };
    assert.throws(() => resolveContainerUser(sc, { imageUser: "", files }), /run_as_user/);
  });
});
