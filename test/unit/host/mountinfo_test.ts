import assert from "node:assert/strict";
import {
  mountOf,
  parseMountinfo,
  propagationOf,
  propagationProblem,
} from "../../../src/host/mountinfo.ts";

/** A mountinfo like this machine's: a private root, plus mounts of each kind. */
const MOUNTINFO = [
  "21 1 0:20 / / rw,relatime - overlay overlay rw",
  "22 21 0:21 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw",
  "30 21 8:1 /data /srv/shared rw,relatime shared:7 - ext4 /dev/sda1 rw",
  "31 30 8:1 /data/x /srv/shared/slave rw,relatime master:7 - ext4 /dev/sda1 rw",
  "32 21 8:1 /both /srv/both rw,relatime shared:9 master:7 - ext4 /dev/sda1 rw",
  "33 21 0:40 / /srv/with\\040space rw shared:11 - tmpfs tmpfs rw",
  "34 30 0:41 / /srv/shared/over rw shared:12 - tmpfs tmpfs rw",
  "35 30 0:42 / /srv/shared/over rw - tmpfs tmpfs rw",
  "garbage",
  "",
].join("\n");
const MOUNTS = parseMountinfo(MOUNTINFO);

Deno.test("parseMountinfo() reads mount points and optional fields", () => {
  assert.equal(MOUNTS.length, 8);
  assert.deepEqual(MOUNTS[0], { mountPoint: "/", optional: [] });
  assert.deepEqual(MOUNTS[4], { mountPoint: "/srv/both", optional: ["shared:9", "master:7"] });
  assert.equal(MOUNTS[5]!.mountPoint, "/srv/with space");
});

Deno.test("mountOf() finds the deepest mount, the top one of a stack", () => {
  assert.equal(mountOf("/srv/shared/a/b", MOUNTS)?.mountPoint, "/srv/shared");
  assert.equal(mountOf("/srv/shared", MOUNTS)?.mountPoint, "/srv/shared");
  assert.equal(mountOf("/srv/sharedx", MOUNTS)?.mountPoint, "/");
  assert.equal(mountOf("/srv/shared/slave/1", MOUNTS)?.mountPoint, "/srv/shared/slave");
  assert.deepEqual(mountOf("/srv/shared/over/f", MOUNTS)?.optional, [], "the later mount");
  assert.equal(mountOf("/x", []), undefined);
});

Deno.test("propagationOf() reads shared and master tags", () => {
  const of = (p: string) => propagationOf(mountOf(p, MOUNTS)!);
  assert.equal(of("/"), "private");
  assert.equal(of("/srv/shared"), "shared");
  assert.equal(of("/srv/shared/slave"), "slave");
  assert.equal(of("/srv/both"), "shared+slave");
});

Deno.test("propagationProblem() wants shared for rshared, shared or slave for rslave", () => {
  assert.equal(propagationProblem("/srv/shared/a", "rshared", MOUNTS), undefined);
  assert.equal(propagationProblem("/srv/both/a", "rshared", MOUNTS), undefined);
  assert.match(
    propagationProblem("/srv/shared/slave/a", "rshared", MOUNTS)!,
    /"\/srv\/shared\/slave\/a" is on mount "\/srv\/shared\/slave", which is slave, not a shared mount/,
  );
  assert.match(propagationProblem("/var/a", "rshared", MOUNTS)!, /mount "\/", which is private/);
  assert.equal(propagationProblem("/srv/shared/a", "rslave", MOUNTS), undefined);
  assert.equal(propagationProblem("/srv/shared/slave/a", "rslave", MOUNTS), undefined);
  assert.match(
    propagationProblem("/var/a", "rslave", MOUNTS)!,
    /private, not a shared or slave mount/,
  );
  assert.match(propagationProblem("/var/a", "rslave", [])!, /on no mount/);
});
