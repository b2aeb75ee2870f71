/**
 * Integration tests of the image service against the real docker-registry (pushed with
 * skopeo) and a fake registry for faults. Needs root (overlay mounts, chown, mknod).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Config } from "../../src/config/types.ts";
import { defaultConfig } from "../../src/config/defaults.ts";
import { OcidError } from "../../src/errors.ts";
import { denoRunner } from "../../src/process.ts";
import { ImageService, isMountPoint } from "../../src/image/mod.ts";
import type { FetchFn } from "../../src/image/progress.ts";
import {
  buildImage,
  buildIndex,
  buildLayer,
  busyboxImage,
  digestOf,
  imageBlobs,
  largeImage,
  type Layer,
  layeredImage,
  skopeoPush,
  type TestImage,
  writeOciLayout,
} from "../helpers/images.ts";
import { startFakeRegistry, startRegistry } from "../helpers/registry.ts";

function testConfig(
  root: string,
  extra: Partial<Config["image"]> = {},
): Pick<Config, "root" | "image"> {
  return {
    root,
    image: {
      // The daemon's defaults (so a new image key needs no copy here), the test's own files.
      ...defaultConfig().image,
      registriesConf: `${root}/registries.conf`,
      insecureRegistries: ["localhost", "127.0.0.1"],
      pullProgressTimeoutSeconds: 30,
      storageDriver: "overlay",
      ...extra,
    },
  };
}

async function push(
  image: TestImage,
  options: { host: string; repo: string; tag: string; creds?: string },
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-layout-" });
  try {
    await writeOciLayout(dir, { top: image.manifest, blobs: imageBlobs(image), tag: options.tag });
    await skopeoPush(dir, {
      tag: options.tag,
      dest: `${options.host}/${options.repo}:${options.tag}`,
      ...(options.creds ? { creds: options.creds } : {}),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Lists every path below `dir` (relative). */
async function tree(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(rel ? `${dir}/${rel}` : dir)) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    out.push(r);
    if (e.isDirectory) out.push(...(await tree(dir, r)));
  }
  return out.sort();
}

/** The store holds nothing but empty directories: no temp files, layers, records, blobs. */
async function assertStoreEmpty(svc: ImageService): Promise<void> {
  const left = (await tree(svc.directory)).filter((p) =>
    !["blobs", "blobs/sha256", "layers", "records", "tmp"].includes(p)
  );
  assert.deepEqual(left, [], "the image store should hold nothing");
}

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "ocid-images-" });
  try {
    await fn(root);
  } finally {
    // Unmount anything a failed test left behind, then delete.
    const mounts = await Deno.readTextFile("/proc/self/mountinfo");
    for (const line of mounts.split("\n")) {
      const mp = line.split(" ")[4];
      if (mp?.startsWith(root)) await denoRunner.run("umount", ["-l", mp], { check: false });
    }
    await Deno.remove(root, { recursive: true });
  }
}

async function rejectsWith(p: Promise<unknown>, code: string, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof OcidError, `expected an OcidError, got ${err}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, re);
    return true;
  });
}

/**
 * A fetch whose requests for URLs naming `digest` wait until `open()`; `downloading` settles
 * when the first is asked.
 */
function gatedFetch(digest: string): {
  fetch: FetchFn;
  downloading: Promise<void>;
  open: () => void;
} {
  const downloading = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  const fetch: FetchFn = async (input, init) => {
    if (String(input).includes(digest)) {
      downloading.resolve();
      await gate.promise;
    }
    return await globalThis.fetch(input, init);
  };
  return { fetch, downloading: downloading.promise, open: () => gate.resolve() };
}

Deno.test("ImageService pulls, lists, mounts, removes and pulls again from docker-registry", async (t) => {
  await using reg = await startRegistry();
  const busybox = await busyboxImage();
  const layered = await layeredImage();
  await push(busybox, { host: reg.host, repo: "test/busybox", tag: "1" });
  await push(layered, { host: reg.host, repo: "test/layered", tag: "v2" });
  await withRoot(async (root) => {
    let svc = await ImageService.open({ config: testConfig(root), runner: denoRunner });
    const bbRef = `${reg.host}/test/busybox:1`;
    await t.step("pull() stores the image with tags and digests", async () => {
      const rec = await svc.pull(bbRef);
      assert.equal(rec.id, busybox.config.digest);
      assert.deepEqual(rec.repoTags, [bbRef]);
      assert.deepEqual(rec.repoDigests, [`${reg.host}/test/busybox@${busybox.manifest.digest}`]);
      assert.ok(rec.size > 500_000);
    });
    await t.step("list() and status() find it by tag, id, prefix and digest", () => {
      assert.equal(svc.list().length, 1);
      const id = busybox.config.digest;
      assert.equal(svc.status(bbRef)?.id, id);
      assert.equal(svc.status(id)?.id, id);
      assert.equal(svc.status(id.slice(7, 19))?.id, id);
      assert.equal(svc.status(`${reg.host}/test/busybox@${busybox.manifest.digest}`)?.id, id);
      assert.equal(svc.status(`${reg.host}/test/busybox:2`), undefined);
      assert.deepEqual(svc.list({ image: "nothing:here" }), []);
    });
    await t.step("records survive a restart", async () => {
      svc = await ImageService.open({ config: testConfig(root), runner: denoRunner });
      assert.equal(svc.status(bbRef)?.id, busybox.config.digest);
    });
    await t.step("concurrent pulls of the same image share one download", async () => {
      const ref = `${reg.host}/test/layered:v2`;
      const [a, b] = await Promise.all([svc.pull(ref), svc.pull(ref)]);
      assert.equal(a.id, layered.config.digest);
      assert.equal(b.id, a.id);
      assert.equal(a.uid, 1000);
      // The busybox layer is not the lower layer of `layered` (different content), so 3 layers.
      assert.equal((await Array.fromAsync(Deno.readDir(`${svc.directory}/layers`))).length, 3);
    });
    await t.step(
      "the overlay rootfs shows whiteouts, opaque dirs, hardlinks and modes",
      async () => {
        const rootfs = await svc.mountRootfs("ctr1", layered.config.digest);
        /** How many mounts sit on the rootfs (a second mount would stack). */
        const mounts = async () =>
          (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
            .filter((l) => l.split(" ")[4] === rootfs).length;
        try {
          assert.ok(await isMountPoint(rootfs));
          assert.equal(await svc.mountRootfs("ctr1", layered.config.digest), rootfs);
          assert.equal(await mounts(), 1, "mounting a mounted rootfs again stacks nothing");
          const read = (p: string) => Deno.readTextFile(`${rootfs}/${p}`);
          assert.equal(await read("data/keep"), "keep\n");
          assert.equal(await read("data/replaced"), "new\n");
          await assert.rejects(Deno.lstat(`${rootfs}/data/gone`), Deno.errors.NotFound);
          await assert.rejects(Deno.lstat(`${rootfs}/data/dir-gone`), Deno.errors.NotFound);
          assert.deepEqual(
            (await Array.fromAsync(Deno.readDir(`${rootfs}/opq`))).map((e) => e.name),
            ["new"],
          );
          const orig = await Deno.lstat(`${rootfs}/links/original`);
          const hard = await Deno.lstat(`${rootfs}/links/hard`);
          assert.equal(hard.ino, orig.ino);
          assert.equal(orig.nlink, 2);
          assert.equal(await Deno.readLink(`${rootfs}/links/soft`), "/data/keep");
          const suid = await Deno.lstat(`${rootfs}/modes/setuid`);
          assert.equal(suid.mode! & 0o7777, 0o4755);
          assert.equal(suid.uid, 1000);
          assert.equal((await Deno.lstat(`${rootfs}/modes/ro`)).mode! & 0o7777, 0o444);
          assert.equal((await Deno.lstat(`${rootfs}/modes`)).mode! & 0o7777, 0o700);
          assert.equal((await Deno.lstat(`${rootfs}/opq`)).mode! & 0o7777, 0o750);
          assert.equal((await Deno.lstat(`${rootfs}/tmp`)).mode! & 0o7777, 0o1777);
          assert.ok((await Deno.lstat(`${rootfs}/links/fifo`)).isFifo);
          assert.equal((await Deno.lstat(`${rootfs}/data/replaced`)).mode! & 0o777, 0o600);
          await Deno.writeTextFile(`${rootfs}/written`, "hello");
          const usage = await svc.writableLayerUsage();
          assert.equal(usage.length, 1);
          assert.equal(usage[0]!.containerId, "ctr1");
          assert.ok(usage[0]!.inodesUsed >= 2);
          const out = await denoRunner.run("chroot", [rootfs, "/bin/sh", "-c", "cat /data/keep"]);
          assert.equal(new TextDecoder().decode(out.stdout), "keep\n");
        } finally {
          await svc.unmountRootfs("ctr1");
          await svc.unmountRootfs("ctr1");
        }
        assert.ok(!(await isMountPoint(rootfs)));
        // Its dir is left: mounting again mounts it.
        assert.equal(await svc.mountRootfs("ctr1", layered.config.digest), rootfs);
        assert.equal(await mounts(), 1);
        await svc.unmountRootfs("ctr1");
        await svc.removeRootfs("ctr1");
        await svc.removeRootfs("ctr1");
        await assert.rejects(Deno.lstat(`${root}/containers/ctr1`), Deno.errors.NotFound);
      },
    );
    await t.step(
      "image volumes: read-only overlays of one or more layers, taken away with the rootfs",
      async () => {
        const dir = `${root}/containers/ctr2/image-volumes`;
        const mounted = async () =>
          (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
            .map((l) => l.split(" ")[4] ?? "").filter((p) => p.startsWith(`${dir}/`)).sort();
        const layeredVolume = await svc.mountImageVolume("ctr2", 0, layered.config.digest);
        const single = await svc.mountImageVolume("ctr2", 1, busybox.config.digest);
        assert.deepEqual(layeredVolume, { path: `${dir}/0`, imageId: layered.config.digest });
        assert.equal(single.path, `${dir}/1`);
        assert.equal(await Deno.readTextFile(`${layeredVolume.path}/data/replaced`), "new\n");
        await assert.rejects(Deno.lstat(`${layeredVolume.path}/data/gone`), Deno.errors.NotFound);
        assert.ok((await Deno.lstat(`${single.path}/bin/busybox`)).isFile);
        await assert.rejects(Deno.writeTextFile(`${single.path}/x`, ""), /Read-only file system/);
        // Mounting again stacks nothing.
        assert.deepEqual(await svc.mountImageVolume("ctr2", 1, busybox.config.digest), single);
        assert.deepEqual(await mounted(), [`${dir}/0`, `${dir}/1`]);
        await svc.removeRootfs("ctr2");
        assert.deepEqual(await mounted(), []);
        await assert.rejects(Deno.lstat(`${root}/containers/ctr2`), Deno.errors.NotFound);
        // The layers under the overlays are untouched.
        assert.ok((await svc.mountImageVolume("ctr3", 0, layered.config.digest)).path);
        await svc.removeRootfs("ctr3");
      },
    );
    await t.step(
      "remove() refuses an image whose rootfs or image volume is mounted (a container in creation has no record yet)",
      async () => {
        const rootfs = await svc.mountRootfs("ctr4", busybox.config.digest);
        await svc.mountImageVolume("ctr5", 0, layered.config.digest);
        await rejectsWith(svc.remove(bbRef), "FAILED_PRECONDITION", /a container uses it/);
        await rejectsWith(
          svc.remove(layered.config.digest),
          "FAILED_PRECONDITION",
          /a container uses it/,
        );
        assert.ok((await Deno.lstat(`${rootfs}/bin/busybox`)).isFile);
        await svc.removeRootfs("ctr4");
        await svc.removeRootfs("ctr5");
      },
    );
    await t.step("remove() refuses an image in use, then frees only unused layers", async () => {
      const inUse = new Set([busybox.config.digest]);
      svc = await ImageService.open({
        config: testConfig(root),
        runner: denoRunner,
        isInUse: (id) => inUse.has(id),
      });
      await rejectsWith(svc.remove(bbRef), "FAILED_PRECONDITION", /a container uses it/);
      inUse.clear();
      assert.equal(await svc.remove(bbRef), true);
      assert.equal(await svc.remove(bbRef), false);
      assert.equal(svc.status(bbRef), undefined);
      assert.equal((await Array.fromAsync(Deno.readDir(`${svc.directory}/layers`))).length, 2);
      const info = await svc.fsInfo();
      assert.ok(info.usedBytes > 0 && info.inodesUsed > 0);
      assert.equal(await svc.remove(layered.config.digest), true);
      await assertStoreEmpty(svc);
    });
    await t.step("pull() again after remove()", async () => {
      const rec = await svc.pull(bbRef);
      assert.equal(rec.id, busybox.config.digest);
      assert.equal(await svc.remove(rec.id), true);
      await assertStoreEmpty(svc);
    });
  });
});

Deno.test("ImageService picks this machine's platform from a multi-arch index", async () => {
  await using reg = await startRegistry();
  const amd = await busyboxImage({ architecture: "amd64" });
  const arm = buildImage([await buildLayer([{ name: "arm", content: "arm64\n" }])], {
    architecture: "arm64",
  });
  const index = buildIndex([
    { image: amd, architecture: "amd64" },
    { image: arm, architecture: "arm64", variant: "v8" },
  ]);
  const dir = await Deno.makeTempDir({ prefix: "ocid-layout-" });
  try {
    await writeOciLayout(dir, {
      top: index,
      blobs: [...imageBlobs(amd), ...imageBlobs(arm)],
      tag: "multi",
    });
    await skopeoPush(dir, { tag: "multi", dest: `${reg.host}/test/multi:multi` });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await withRoot(async (root) => {
    const svc = await ImageService.open({ config: testConfig(root), runner: denoRunner });
    const rec = await svc.pull(`${reg.host}/test/multi:multi`);
    const want = Deno.build.arch === "aarch64" ? arm : amd;
    assert.equal(rec.id, want.config.digest);
    assert.equal(rec.manifestDigest, want.manifest.digest);
    assert.deepEqual(rec.repoDigests, [`${reg.host}/test/multi@${index.digest}`]);
    // By digest of the index too.
    const again = await svc.pull(`${reg.host}/test/multi@${index.digest}`);
    assert.equal(again.id, rec.id);
    assert.equal(await svc.remove(rec.id), true);
    await assertStoreEmpty(svc);
  });
});

Deno.test("ImageService pulls with basic credentials and refuses wrong ones", async () => {
  await using reg = await startRegistry({ auth: true });
  const img = await busyboxImage();
  await push(img, { host: reg.host, repo: "private/bb", tag: "1", creds: reg.creds! });
  const [username, password] = reg.creds!.split(":") as [string, string];
  await withRoot(async (root) => {
    const svc = await ImageService.open({ config: testConfig(root), runner: denoRunner });
    const ref = `${reg.host}/private/bb:1`;
    await rejectsWith(svc.pull(ref), "UNAUTHENTICATED", /needs credentials/);
    await rejectsWith(
      svc.pull(ref, { auth: { username, password: "wrong" } }),
      "UNAUTHENTICATED",
      /refused the credentials/,
    );
    await assertStoreEmpty(svc);
    const rec = await svc.pull(ref, { auth: { auth: btoa(`${username}:${password}`) } });
    assert.equal(rec.id, img.config.digest);
    await svc.remove(ref);
    await assertStoreEmpty(svc);
  });
});

/**
 * Runs `fn` with an image pushed to a registry that needs credentials and an image service
 * whose `global_auth_file` is `authFile` (not written yet).
 */
async function withAuthFileService(
  fn: (t: {
    svc: ImageService;
    authFile: string;
    ref: string;
    reg: Awaited<ReturnType<typeof startRegistry>>;
    img: Awaited<ReturnType<typeof busyboxImage>>;
  }) => Promise<void>,
): Promise<void> {
  await using reg = await startRegistry({ auth: true });
  const img = await busyboxImage();
  await push(img, { host: reg.host, repo: "private/bb", tag: "1", creds: reg.creds! });
  await withRoot(async (root) => {
    const authFile = `${root}/auth.json`;
    const svc = await ImageService.open({
      config: testConfig(root, { globalAuthFile: authFile }),
      runner: denoRunner,
    });
    await fn({ svc, authFile, ref: `${reg.host}/private/bb:1`, reg, img });
  });
}

Deno.test("ImageService uses global_auth_file for a pull that brings no credentials", async () => {
  await withAuthFileService(async ({ svc, authFile, ref, reg, img }) => {
    // No file yet: as without one.
    await rejectsWith(svc.pull(ref), "UNAUTHENTICATED", /needs credentials/);
    // A key for another repository of the registry does not apply; the repository's does.
    const write = (auths: Record<string, unknown>) =>
      Deno.writeTextFile(authFile, JSON.stringify({ auths }));
    await write({ [`${reg.host}/other`]: { auth: btoa(reg.creds!) } });
    await rejectsWith(svc.pull(ref), "UNAUTHENTICATED", /needs credentials/);
    await write({ [`${reg.host}/private`]: { auth: btoa(reg.creds!) } });
    const rec = await svc.pull(ref);
    assert.equal(rec.id, img.config.digest);
    await svc.remove(ref);
    // The request's own credentials win over the file's.
    await rejectsWith(
      svc.pull(ref, { auth: { username: "tester", password: "wrong" } }),
      "UNAUTHENTICATED",
      /refused the credentials/,
    );
    // A file that does not parse fails the pull, naming it.
    await Deno.writeTextFile(authFile, "{");
    await rejectsWith(svc.pull(ref), "FAILED_PRECONDITION", /auth\.json": not JSON/);
    await assertStoreEmpty(svc);
  });
});

Deno.test("ImageService runs the credential helper global_auth_file names for a registry", async () => {
  await withAuthFileService(async ({ svc, authFile, ref, reg, img }) => {
    const bin = await Deno.makeTempDir({ prefix: "ocid-it-credhelper-" });
    const path = Deno.env.get("PATH") ?? "";
    try {
      // A helper as docker-credential-helpers writes them: `get`, the registry on stdin.
      const [user, password] = reg.creds!.split(":");
      const asked = join(bin, "asked");
      const script = (lines: string[]) => `#!/bin/sh\n${lines.join("\n")}\n`;
      await Deno.writeTextFile(
        join(bin, "docker-credential-ocidtest"),
        script([
          "read server",
          `echo "$1 $server" >> ${asked}`,
          `if [ "$server" = "${reg.host}" ] && [ -e ${bin}/allow ]; then`,
          `  printf '{"ServerURL":"%s","Username":"${user}","Secret":"${password}"}' "$server"`,
          "else",
          '  echo "credentials not found in native keychain"; exit 1',
          "fi",
        ]),
        { mode: 0o755 },
      );
      await Deno.writeTextFile(
        join(bin, "docker-credential-broken"),
        script(["echo boom >&2", "exit 2"]),
        { mode: 0o755 },
      );
      Deno.env.set("PATH", `${bin}:${path}`);
      const write = (file: Record<string, unknown>) =>
        Deno.writeTextFile(authFile, JSON.stringify(file));
      // The helper wins over a stale entry of auths; it has none yet: the pull goes without.
      await write({
        auths: { [reg.host]: { auth: btoa("tester:stale") } },
        credHelpers: { [reg.host]: "ocidtest" },
      });
      await rejectsWith(svc.pull(ref), "UNAUTHENTICATED", /needs credentials/);
      await Deno.writeTextFile(join(bin, "allow"), "");
      const rec = await svc.pull(ref);
      assert.equal(rec.id, img.config.digest);
      assert.deepEqual(
        (await Deno.readTextFile(asked)).trim().split("\n"),
        [`get ${reg.host}`, `get ${reg.host}`],
        "run with get, the registry on stdin",
      );
      await svc.remove(ref);
      // A helper that fails otherwise fails the pull, naming it; nothing is stored.
      await write({ credHelpers: { [reg.host]: "broken" } });
      await rejectsWith(
        svc.pull(ref),
        "FAILED_PRECONDITION",
        /docker-credential-broken get failed \(exit 2\): boom/,
      );
      await write({ credHelpers: { [reg.host]: "missing-helper" } });
      await rejectsWith(svc.pull(ref), "FAILED_PRECONDITION", /docker-credential-missing-helper/);
      await assertStoreEmpty(svc);
    } finally {
      Deno.env.set("PATH", path);
      await Deno.remove(bin, { recursive: true });
    }
  });
});

Deno.test("ImageService downloads at most max_concurrent_downloads layer blobs at once", async () => {
  const layers: Awaited<ReturnType<typeof buildLayer>>[] = [];
  for (let i = 0; i < 6; i++) layers.push(await buildLayer([{ name: `f${i}`, content: `${i}` }]));
  const img = buildImage(layers);
  // Every layer blob sends a few bytes, then nothing: downloads begun never end, so the count
  // of blob requests when the pull gives up is how many ran at once.
  await using fake = startFakeRegistry({
    manifests: { "slow/six:1": img.manifest },
    blobs: imageBlobs(img),
    stall: layers.map((l) => l.blob.digest),
  });
  for (const limit of [2, 5]) {
    await withRoot(async (root) => {
      const svc = await ImageService.open({
        config: testConfig(root, { maxConcurrentDownloads: limit, pullProgressTimeoutSeconds: 1 }),
        runner: denoRunner,
      });
      fake.blobRequests.clear();
      await rejectsWith(svc.pull(`${fake.host}/slow/six:1`), "UNKNOWN", /No progress/);
      const layerRequests = layers.reduce(
        (n, l) => n + (fake.blobRequests.get(l.blob.digest) ?? 0),
        0,
      );
      assert.equal(layerRequests, limit, `max_concurrent_downloads = ${limit}`);
    });
  }
});

Deno.test("ImageService pulls through bearer token auth", async () => {
  const img = await busyboxImage();
  await using fake = startFakeRegistry({
    manifests: { "tok/bb:1": img.manifest },
    blobs: imageBlobs(img),
    bearer: { user: "u", password: "p" },
  });
  await withRoot(async (root) => {
    const svc = await ImageService.open({ config: testConfig(root), runner: denoRunner });
    await rejectsWith(svc.pull(`${fake.host}/tok/bb:1`), "UNAUTHENTICATED", /no credentials given/);
    const rec = await svc.pull(`${fake.host}/tok/bb:1`, { auth: { username: "u", password: "p" } });
    assert.equal(rec.id, img.config.digest);
  });
});

Deno.test("ImageService exchanges an identity token (OAuth2 refresh token) for a bearer token", async () => {
  const img = await busyboxImage();
  await using fake = startFakeRegistry({
    manifests: { "tok/bb:1": img.manifest },
    blobs: imageBlobs(img),
    bearer: { user: "u", password: "p", refreshToken: "refresh-me" },
  });
  await withRoot(async (root) => {
    const svc = await ImageService.open({ config: testConfig(root), runner: denoRunner });
    const ref = `${fake.host}/tok/bb:1`;
    await rejectsWith(
      svc.pull(ref, { auth: { identityToken: "stale" } }),
      "UNAUTHENTICATED",
      /refused a token .*check the identity token/,
    );
    const rec = await svc.pull(ref, { auth: { identityToken: "refresh-me" } });
    assert.equal(rec.id, img.config.digest);
  });
});

Deno.test("ImageService fails clearly and leaves nothing on disk for bad input", async (t) => {
  const good = await busyboxImage();
  const good2 = buildImage([good.layers[0]!, await buildLayer([{ name: "two", content: "2" }])]);
  const evilLayers = {
    dotdot: await buildLayer([{ name: "../../escape", content: "x" }]),
    "symlink-parent": await buildLayer([
      { name: "etc", type: "symlink", linkname: "/tmp" },
      { name: "etc/owned", content: "x" },
    ]),
    "hardlink-out": await buildLayer([{
      name: "h",
      type: "link",
      linkname: "../../../etc/passwd",
    }]),
    "whiteout-out": await buildLayer([{ name: ".wh..", content: "" }]),
  };
  const evil = Object.fromEntries(
    Object.entries(evilLayers).map(([k, l]) => [k, buildImage([good.layers[0]!, l])]),
  ) as Record<keyof typeof evilLayers, TestImage>;
  // The bad layer first: the good one above it is downloaded ahead while the bad one unpacks.
  const evilFirst = buildImage([
    evilLayers.dotdot,
    await buildLayer([{ name: "above", content: "x".repeat(300_000) }]),
  ]);
  const manifests: Record<string, TestImage["manifest"]> = {
    "good/bb:1": good.manifest,
    "corrupt/bb:1": good.manifest,
    "stall/bb:1": good.manifest,
    "good/bb2:1": good2.manifest,
  };
  for (const [k, img] of Object.entries(evil)) manifests[`evil/${k}:1`] = img.manifest;
  manifests["evil/first:1"] = evilFirst.manifest;
  const blobs = [
    ...imageBlobs(good),
    ...imageBlobs(good2),
    ...Object.values(evil).flatMap(imageBlobs),
    ...imageBlobs(evilFirst),
  ];
  await using corrupt = startFakeRegistry({
    manifests,
    blobs,
    corrupt: [good.layers[0]!.blob.digest],
  });
  await using stall = startFakeRegistry({ manifests, blobs, stall: [good.layers[0]!.blob.digest] });
  await using fake = startFakeRegistry({ manifests, blobs });
  await using down = startFakeRegistry({ manifests, blobs, unavailable: ["down/bb"] });
  await withRoot(async (root) => {
    const svc = await ImageService.open({
      config: testConfig(root, { pullProgressTimeoutSeconds: 1 }),
      runner: denoRunner,
    });
    await t.step("unknown image → NOT_FOUND", async () => {
      await rejectsWith(svc.pull(`${fake.host}/good/nope:1`), "NOT_FOUND", /Cannot find manifest/);
    });
    // The kubelet reads its RegistryUnavailable reason from the start of an UNKNOWN status.
    await t.step("unreachable registry → RegistryUnavailable", async () => {
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (l.addr as Deno.NetAddr).port;
      l.close();
      await rejectsWith(
        svc.pull(`127.0.0.1:${port}/x/y:1`),
        "UNKNOWN",
        /^RegistryUnavailable: Cannot reach registry/,
      );
    });
    await t.step("registry answering 503 → RegistryUnavailable", async () => {
      await rejectsWith(
        svc.pull(`${down.host}/down/bb:1`),
        "UNKNOWN",
        /^RegistryUnavailable: Registry ".*" answered 503 Service Unavailable/,
      );
    });
    await t.step("corrupted blob → digest mismatch", async () => {
      await rejectsWith(svc.pull(`${corrupt.host}/corrupt/bb:1`), "INTERNAL", /should have digest/);
    });
    await t.step("stalled registry → RegistryUnavailable", async () => {
      await rejectsWith(
        svc.pull(`${stall.host}/stall/bb:1`),
        "UNKNOWN",
        /^RegistryUnavailable: No progress/,
      );
    });
    for (const k of Object.keys(evilLayers)) {
      await t.step(`malicious layer (${k}) → INVALID_ARGUMENT`, async () => {
        await rejectsWith(svc.pull(`${fake.host}/evil/${k}:1`), "INVALID_ARGUMENT", /escapes/);
        assert.ok(
          !(await Deno.lstat("/tmp/owned").catch(() => undefined)),
          "wrote through a symlink",
        );
      });
    }
    await t.step(
      "malicious first layer, a layer downloaded ahead above it → INVALID_ARGUMENT",
      async () => {
        await rejectsWith(svc.pull(`${fake.host}/evil/first:1`), "INVALID_ARGUMENT", /escapes/);
        const above = evilFirst.layers[1]!.blob.digest;
        assert.equal(fake.blobRequests.get(above), 1, "the layer above was downloaded ahead");
      },
    );
    await t.step("failed pulls leave nothing on disk", async () => {
      assert.deepEqual(svc.list(), []);
      await assertStoreEmpty(svc);
    });
    await t.step("a layer already present is not downloaded again", async () => {
      const layer = good.layers[0]!.blob.digest;
      const first = fake.blobRequests.get(layer) ?? 0;
      const [rec, recB] = await Promise.all([
        svc.pull(`${fake.host}/good/bb:1`),
        svc.pull(`${fake.host}/good/bb:1`),
      ]);
      assert.equal(recB.id, rec.id);
      const before = fake.blobRequests.get(layer);
      assert.equal(before, first + 1, "concurrent pulls download the layer once");
      const rec2 = await svc.pull(`${fake.host}/good/bb2:1`);
      assert.equal(fake.blobRequests.get(layer), before);
      assert.equal(rec2.chainIds[0], rec.chainIds[0]);
      await svc.remove(rec.id);
      assert.ok(await Deno.lstat(`${svc.directory}/layers/${rec.chainIds[0]!.slice(7)}`));
      await svc.remove(rec2.id);
      await assertStoreEmpty(svc);
    });
  });
});

Deno.test("Concurrent pulls of images that share a layer blob at different places both succeed", async () => {
  // L2 is the second layer of A and the only one of B: the same blob, two chains. Each pull
  // downloads it (once, shared) and removes it after its own unpacking.
  const l1 = await buildLayer([{ name: "one", content: "1".repeat(200_000) }]);
  const l2 = await buildLayer([{ name: "two", content: "2".repeat(200_000) }]);
  const a = buildImage([l1, l2]);
  const b = buildImage([l2]);
  await using fake = startFakeRegistry({
    manifests: { "share/a:1": a.manifest, "share/b:1": b.manifest },
    blobs: [...imageBlobs(a), ...imageBlobs(b)],
  });
  await withRoot(async (root) => {
    const svc = await ImageService.open({ config: testConfig(root), runner: denoRunner });
    for (let round = 0; round < 3; round++) {
      const [ra, rb] = await Promise.all([
        svc.pull(`${fake.host}/share/a:1`),
        svc.pull(`${fake.host}/share/b:1`),
      ]);
      assert.equal(ra.chainIds.length, 2);
      assert.equal(rb.chainIds.length, 1);
      assert.notEqual(ra.chainIds[1], rb.chainIds[0], "the same blob, two layers");
      await svc.remove(ra.id);
      await svc.remove(rb.id);
      await assertStoreEmpty(svc);
    }
  });
});

Deno.test("ImageService builds a vfs rootfs with whiteouts applied", async () => {
  const layered = await layeredImage();
  await using fake = startFakeRegistry({
    manifests: { "l/l:1": layered.manifest },
    blobs: imageBlobs(layered),
  });
  await withRoot(async (root) => {
    const svc = await ImageService.open({
      config: testConfig(root, { storageDriver: "vfs" }),
      runner: denoRunner,
    });
    const rec = await svc.pull(`${fake.host}/l/l:1`);
    const rootfs = await svc.mountRootfs("v1", rec.id);
    assert.equal(await Deno.readTextFile(`${rootfs}/data/replaced`), "new\n");
    await assert.rejects(Deno.lstat(`${rootfs}/data/gone`), Deno.errors.NotFound);
    await assert.rejects(Deno.lstat(`${rootfs}/opq/old`), Deno.errors.NotFound);
    assert.equal(
      (await Deno.lstat(`${rootfs}/links/hard`)).ino,
      (await Deno.lstat(`${rootfs}/links/original`)).ino,
    );
    assert.equal((await Deno.lstat(`${rootfs}/modes/setuid`)).mode! & 0o7777, 0o4755);
    // An image volume under vfs: a copy, with the same whiteouts applied, made once.
    const volume = await svc.mountImageVolume("v1", 3, rec.id);
    assert.deepEqual(volume, { path: `${root}/containers/v1/image-volumes/3`, imageId: rec.id });
    assert.equal(await Deno.readTextFile(`${volume.path}/data/replaced`), "new\n");
    await assert.rejects(Deno.lstat(`${volume.path}/data/gone`), Deno.errors.NotFound);
    await Deno.writeTextFile(`${volume.path}/marker`, "");
    assert.deepEqual(await svc.mountImageVolume("v1", 3, rec.id), volume);
    assert.ok(await Deno.lstat(`${volume.path}/marker`), "not copied again");
    await svc.removeRootfs("v1");
    await assert.rejects(Deno.lstat(`${root}/containers/v1`), Deno.errors.NotFound);
    await svc.remove(rec.id);
    await assertStoreEmpty(svc);
  });
});

Deno.test("ImageService pulls a larger multi-layer image", async () => {
  await using reg = await startRegistry();
  const big = await largeImage({ layers: 3, filesPerLayer: 20 });
  await push(big, { host: reg.host, repo: "test/big", tag: "1" });
  await withRoot(async (root) => {
    const svc = await ImageService.open({ config: testConfig(root), runner: denoRunner });
    const rec = await svc.pull(`${reg.host}/test/big:1`);
    assert.equal(rec.chainIds.length, 4);
    await svc.remove(rec.id);
    await assertStoreEmpty(svc);
  });
});

Deno.test("ImageService follows registries.conf: mirrors, fallback to upstream, blocked", async () => {
  const img = await busyboxImage();
  await using mirror = startFakeRegistry({
    manifests: { "m/bb:1": img.manifest },
    blobs: imageBlobs(img),
  });
  await using upstream = startFakeRegistry({
    manifests: { "u/bb:1": img.manifest },
    blobs: imageBlobs(img),
  });
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closed = `127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
  l.close();
  await withRoot(async (root) => {
    await Deno.writeTextFile(
      `${root}/registries.conf`,
      `
[[registry]]
prefix = "${upstream.host}/u"
location = "${upstream.host}/u"
[[registry.mirror]]
location = "${closed}/m"
[[registry.mirror]]
location = "${mirror.host}/m"

[[registry]]
location = "blocked.invalid"
blocked = true
`,
    );
    const svc = await ImageService.open({ config: testConfig(root), runner: denoRunner });
    const rec = await svc.pull(`${upstream.host}/u/bb:1`);
    assert.equal(rec.id, img.config.digest);
    assert.deepEqual(
      rec.repoTags,
      [`${upstream.host}/u/bb:1`],
      "tags name the upstream, not the mirror",
    );
    assert.equal(mirror.blobRequests.size, 2, "layer and config came from the working mirror");
    assert.equal(upstream.blobRequests.size, 0);
    await rejectsWith(svc.pull("blocked.invalid/x:1"), "PERMISSION_DENIED", /blocked/);
    await svc.remove(rec.id);
    await assertStoreEmpty(svc);
  });
});

Deno.test("ImageService unpacks a layer by what its bytes are, not by its media type", async () => {
  // containerd and CRI-O sniff the compression too: this gzip layer is labelled zstd (before,
  // ocid answered UNIMPLEMENTED for any zstd label).
  const img = await busyboxImage();
  const manifest = JSON.parse(new TextDecoder().decode(img.manifest.bytes));
  manifest.layers[0].mediaType = "application/vnd.oci.image.layer.v1.tar+zstd";
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  const zstd = { bytes, digest: digestOf(bytes), mediaType: img.manifest.mediaType };
  await using fake = startFakeRegistry({ manifests: { "z/z:1": zstd }, blobs: imageBlobs(img) });
  await withRoot(async (root) => {
    const svc = await ImageService.open({ config: testConfig(root), runner: denoRunner });
    const rec = await svc.pull(`${fake.host}/z/z:1`);
    assert.equal(rec.id, img.config.digest);
    await svc.remove(rec.id);
    await assertStoreEmpty(svc);
  });
});

Deno.test("remove() of an image that shares a layer with one being pulled leaves the layer to the pull", async () => {
  // Y is X's layer and one more. Y's pull finds X's layer stored and uses it; X is removed
  // while Y's second layer downloads.
  const base = await buildLayer([{ name: "base", content: "b".repeat(1000) }]);
  const top = await buildLayer([{ name: "top", content: "t".repeat(1000) }]);
  const x = buildImage([base]);
  const y = buildImage([base, top]);
  await using fake = startFakeRegistry({
    manifests: { "share/x:1": x.manifest, "share/y:1": y.manifest },
    blobs: [...imageBlobs(x), ...imageBlobs(y)],
  });
  await withRoot(async (root) => {
    const { fetch, downloading, open } = gatedFetch(top.blob.digest);
    const svc = await ImageService.open({ config: testConfig(root), runner: denoRunner, fetch });
    const rx = await svc.pull(`${fake.host}/share/x:1`);
    const pulling = svc.pull(`${fake.host}/share/y:1`);
    await downloading;
    assert.equal(await svc.remove(rx.id), true);
    open();
    const ry = await pulling;
    const rootfs = await svc.mountRootfs("c1", ry.id);
    assert.equal(await Deno.readTextFile(`${rootfs}/base`), "b".repeat(1000));
    assert.equal(await Deno.readTextFile(`${rootfs}/top`), "t".repeat(1000));
    await svc.removeRootfs("c1");
    assert.equal(await svc.remove(ry.id), true);
    await assertStoreEmpty(svc);
  });
});

Deno.test("Concurrent pulls of one image share the download, not the credentials nor the cancellation", async (t) => {
  const img = await busyboxImage();
  const layer = img.layers[0]!.blob.digest;
  await using fake = startFakeRegistry({
    manifests: { "tok/bb:1": img.manifest },
    blobs: imageBlobs(img),
    bearer: { user: "u", password: "p" },
  });
  const ref = `${fake.host}/tok/bb:1`;
  const auth = { username: "u", password: "p" };
  /** A service whose layer download waits for `open()`; `downloading` once it was asked. */
  const gated = async (root: string) => {
    const { fetch, downloading, open } = gatedFetch(layer);
    const svc = await ImageService.open({ config: testConfig(root), runner: denoRunner, fetch });
    return { svc, downloading, open };
  };
  await t.step("a pull without credentials does not ride on one with them", async () => {
    await withRoot(async (root) => {
      const { svc, downloading, open } = await gated(root);
      const withCreds = svc.pull(ref, { auth });
      await downloading;
      const without = svc.pull(ref);
      without.catch(() => {}); // awaited below
      open();
      assert.equal((await withCreds).id, img.config.digest);
      await rejectsWith(without, "UNAUTHENTICATED", /no credentials given/);
    });
  });
  await t.step(
    "the first caller going away does not cancel the pull another waits on",
    async () => {
      await withRoot(async (root) => {
        const { svc, downloading, open } = await gated(root);
        const first = new AbortController();
        const firstPull = svc.pull(ref, { auth, signal: first.signal });
        firstPull.catch(() => {});
        await downloading;
        const second = svc.pull(ref, { auth });
        await new Promise((r) => setTimeout(r, 50)); // it has joined
        first.abort();
        await rejectsWith(firstPull, "CANCELLED", /cancel/i);
        const before = fake.blobRequests.get(layer) ?? 0;
        open();
        assert.equal((await second).id, img.config.digest);
        assert.equal(fake.blobRequests.get(layer), before + 1, "one download");
      });
    },
  );
  await t.step("the pull stops once every caller went away", async () => {
    await withRoot(async (root) => {
      const { svc, downloading, open } = await gated(root);
      const a = new AbortController();
      const b = new AbortController();
      const pulls = [a, b].map((c) => svc.pull(ref, { auth, signal: c.signal }));
      for (const p of pulls) p.catch(() => {});
      await downloading;
      a.abort();
      b.abort();
      for (const p of pulls) await rejectsWith(p, "CANCELLED", /cancel/i);
      open();
      await waitForEmpty(svc);
    });
  });
});

/** Waits until the image store holds nothing (a cancelled pull's cleanup ends after it). */
async function waitForEmpty(svc: ImageService): Promise<void> {
  for (let i = 0;; i++) {
    try {
      return await assertStoreEmpty(svc);
    } catch (err) {
      if (i >= 100) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const SHARED: [string, (l1: Layer, l2: Layer) => [TestImage, TestImage]][] = [
  ["download", (l1, l2) => [buildImage([l1, l2]), buildImage([l2])]],
  // The same chain: B waits on A's unpacking of the layer too.
  ["download and unpacking", (_, l2) => [buildImage([l2]), buildImage([l2], { cmd: ["/two"] })]],
];
for (const [what, images] of SHARED) {
  Deno.test(`A pull sharing another's layer ${what} does it itself when that other pull is cancelled`, async () => {
    const l1 = await buildLayer([{ name: "one", content: "1".repeat(1000) }]);
    const l2 = await buildLayer([{ name: "two", content: "2".repeat(1000) }]);
    const [a, b] = images(l1, l2);
    await using fake = startFakeRegistry({
      manifests: { "share/a:1": a.manifest, "share/b:1": b.manifest },
      blobs: [...imageBlobs(a), ...imageBlobs(b)],
    });
    await withRoot(async (root) => {
      const { fetch, downloading, open } = gatedFetch(l2.blob.digest);
      const svc = await ImageService.open({ config: testConfig(root), runner: denoRunner, fetch });
      const cancel = new AbortController();
      const pullA = svc.pull(`${fake.host}/share/a:1`, { signal: cancel.signal });
      pullA.catch(() => {});
      await downloading;
      const pullB = svc.pull(`${fake.host}/share/b:1`);
      await new Promise((r) => setTimeout(r, 50)); // B waits on A's download of the layer
      cancel.abort();
      await rejectsWith(pullA, "CANCELLED", /cancel/i);
      open();
      const rec = await pullB;
      assert.equal(rec.id, b.config.digest);
      const rootfs = await svc.mountRootfs("c1", rec.id);
      assert.equal(await Deno.readTextFile(`${rootfs}/two`), "2".repeat(1000));
      await svc.removeRootfs("c1");
    });
  });
}
