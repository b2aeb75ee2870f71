/**
 * Layers other runtimes accept, built here with the tools that write them (umoci, GNU tar,
 * zstd), pushed to the real docker-registry on 127.0.0.1 and pulled through the real daemon
 * (CRI PullImage). The files are then read from the image's layers as a container would see
 * them: an overlay mount of the pulled layer dirs. Needs root (overlay mounts).
 *
 * No pod is started: the daemon runs without a network (bridge "ocidt32" is reserved for this
 * file, subnet 10.234.32.0/24).
 */
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { call } from "../../src/cri/proto.ts";
import { denoRunner } from "../../src/process.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import {
  type Blob,
  buildTar,
  digestOf,
  gzip,
  type LayerEntry,
  skopeoPush,
} from "../helpers/images.ts";
import { pushImage, pushManifest } from "../helpers/push.ts";
import { startRegistry } from "../helpers/registry.ts";

const BRIDGE = "ocidt32";
const SUBNET = "10.234.32.0/24";
const PULL = { deadlineMs: 60_000 };
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** A layer as pushed: the blob (maybe compressed) and the diff ID of its tar. */
interface RawLayer {
  blob: Blob;
  diffId: string;
}

function layer(tar: Uint8Array, blobBytes: Uint8Array, mediaType: string): RawLayer {
  return {
    blob: { bytes: blobBytes, digest: digestOf(blobBytes), mediaType },
    diffId: digestOf(tar),
  };
}

/** Config + manifest over layers, in OCI or Docker schema 2 media types. */
function image(layers: RawLayer[], kind: "oci" | "docker" = "oci") {
  const types = kind === "oci"
    ? {
      config: "application/vnd.oci.image.config.v1+json",
      manifest: "application/vnd.oci.image.manifest.v1+json",
    }
    : {
      config: "application/vnd.docker.container.image.v1+json",
      manifest: "application/vnd.docker.distribution.manifest.v2+json",
    };
  const configBytes = enc({
    architecture: "amd64",
    os: "linux",
    config: { Cmd: ["/bin/sh"] },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
  });
  const config: Blob = {
    bytes: configBytes,
    digest: digestOf(configBytes),
    mediaType: types.config,
  };
  const manifestBytes = enc({
    schemaVersion: 2,
    mediaType: types.manifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: configBytes.byteLength },
    layers: layers.map((l) => ({
      mediaType: l.blob.mediaType,
      digest: l.blob.digest,
      size: l.blob.bytes.byteLength,
    })),
  });
  const manifest: Blob = {
    bytes: manifestBytes,
    digest: digestOf(manifestBytes),
    mediaType: types.manifest,
  };
  return { config, manifest, blobs: [...layers.map((l) => l.blob), config] };
}

/** Runs a program and returns its stdout; fails the test with its stderr. */
async function run(cmd: string, args: string[], stdin?: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await child.output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}

/** The pulled image's layers mounted read-only as one tree (what a container's rootfs shows). */
async function mountPulled(
  daemon: TestDaemon,
  imageId: string,
): Promise<{ dir: string } & AsyncDisposable> {
  const images = `${daemon.dirs.root}/images`;
  const rec = JSON.parse(await Deno.readTextFile(`${images}/records/${imageId.slice(7)}.json`));
  const lowers = (rec.chainIds as string[]).toReversed().map((c) =>
    `${images}/layers/${c.slice(7)}/diff`
  );
  const base = await Deno.makeTempDir({ prefix: "ocid-layers-view-" });
  await Deno.mkdir(`${base}/empty`);
  await Deno.mkdir(`${base}/merged`);
  // Overlay without an upper dir needs two lower dirs at least: an empty one at the bottom.
  await denoRunner.run("mount", [
    "-t",
    "overlay",
    "overlay",
    "-o",
    `lowerdir=${[...lowers, `${base}/empty`].join(":")}`,
    `${base}/merged`,
  ]);
  return {
    dir: `${base}/merged`,
    async [Symbol.asyncDispose]() {
      await denoRunner.run("umount", [`${base}/merged`], { check: false });
      await Deno.remove(base, { recursive: true });
    },
  };
}

async function pull(daemon: TestDaemon, ref: string): Promise<string> {
  const res = await call(daemon.clients.image, "PullImage", { image: { image: ref } }, PULL);
  return res.image_ref;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** A tree with names and link targets past the 100 bytes a plain ustar header holds. */
async function longNameTree(dir: string): Promise<{ file: string; symlink: string; hard: string }> {
  const file = `long/${"d".repeat(90)}/${"f".repeat(120)}`;
  const symlink = `long/sym-${"s".repeat(110)}`;
  const hard = `long/hard-${"h".repeat(110)}`;
  await Deno.mkdir(`${dir}/${file.slice(0, file.lastIndexOf("/"))}`, { recursive: true });
  await Deno.writeTextFile(`${dir}/${file}`, "long name\n");
  await Deno.symlink(`/${"t".repeat(150)}/target`, `${dir}/${symlink}`);
  await Deno.link(`${dir}/${file}`, `${dir}/${hard}`);
  return { file, symlink, hard };
}

Deno.test("Layers other runtimes accept pull through the daemon", async (t) => {
  await using reg = await startRegistry();
  const daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET, noNetwork: true });
  const scratch = await Deno.makeTempDir({ prefix: "ocid-layers-src-" });
  try {
    await t.step("a layer from umoci insert: no padding, no end blocks", async () => {
      const layout = `${scratch}/umoci`;
      await Deno.mkdir(`${scratch}/ins/sub`, { recursive: true });
      await Deno.writeTextFile(`${scratch}/ins/a`, "first\n");
      await Deno.writeTextFile(`${scratch}/ins/sub/z`, "z".repeat(1000));
      await run("umoci", ["init", "--layout", layout]);
      await run("umoci", ["new", "--image", `${layout}:t`]);
      await run("umoci", ["insert", "--image", `${layout}:t`, `${scratch}/ins`, "/opt/data"]);
      await run("umoci", ["insert", "--image", `${layout}:t`, `${scratch}/ins/a`, "/etc/one"]);
      // The point of the test: umoci's tar streams end right after the last file's data.
      const index = JSON.parse(await Deno.readTextFile(`${layout}/index.json`));
      const blob = (d: string) => Deno.readFile(`${layout}/blobs/sha256/${d.slice(7)}`);
      const manifest = JSON.parse(new TextDecoder().decode(await blob(index.manifests[0].digest)));
      for (const l of manifest.layers) {
        const tar = gunzipSync(await blob(l.digest));
        assert.notEqual(tar.byteLength % 512, 0, "umoci wrote an unpadded tar");
      }
      await skopeoPush(layout, { tag: "t", dest: `${reg.host}/umoci/insert:1` });
      const id = await pull(daemon, `${reg.host}/umoci/insert:1`);
      await using view = await mountPulled(daemon, id);
      assert.equal(await Deno.readTextFile(`${view.dir}/opt/data/a`), "first\n");
      assert.equal(await Deno.readTextFile(`${view.dir}/opt/data/sub/z`), "z".repeat(1000));
      assert.equal(await Deno.readTextFile(`${view.dir}/etc/one`), "first\n");
    });

    await t.step("a layer cut inside a file's data is refused, naming the file", async () => {
      const whole = await buildTar([{ name: "cut/ok", content: "ok\n" }, {
        name: "cut/victim",
        content: "v".repeat(2000),
      }]);
      // ok: header + 1 block; victim: header @1024, data @1536; keep 1000 of its 2000 bytes.
      const tar = whole.slice(0, 1536 + 1000);
      const img = image([
        layer(tar, await gzip(tar), "application/vnd.oci.image.layer.v1.tar+gzip"),
      ]);
      await pushImage(reg.host, "cut/img", "1", img);
      await assert.rejects(pull(daemon, `${reg.host}/cut/img:1`), (err: Error) => {
        assert.match(err.message, /^3 INVALID_ARGUMENT/);
        assert.match(err.message, /inside the data of "cut\/victim": 1000 of 2000 bytes/);
        return true;
      });
      const listed = await call(daemon.clients.image, "ListImages", {});
      assert.ok(!listed.images.some((i) => i.id === img.config.digest), "nothing half-pulled");
    });

    await t.step("an uncompressed OCI layer (tar)", async () => {
      const tar = await buildTar([{ name: "plain/", type: "directory" }, {
        name: "plain/f",
        content: "uncompressed\n",
      }]);
      const img = image([layer(tar, tar, "application/vnd.oci.image.layer.v1.tar")]);
      await pushImage(reg.host, "plain/tar", "1", img);
      const id = await pull(daemon, `${reg.host}/plain/tar:1`);
      assert.equal(id, img.config.digest);
      await using view = await mountPulled(daemon, id);
      assert.equal(await Deno.readTextFile(`${view.dir}/plain/f`), "uncompressed\n");
    });

    await t.step(
      "Docker schema 2: a manifest list, a v2 manifest, a docker gzip layer",
      async () => {
        const tar = await buildTar([{ name: "docker/f", content: "docker\n" }]);
        const img = image(
          [layer(tar, await gzip(tar), "application/vnd.docker.image.rootfs.diff.tar.gzip")],
          "docker",
        );
        const listBytes = enc({
          schemaVersion: 2,
          mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
          manifests: [{
            mediaType: img.manifest.mediaType,
            digest: img.manifest.digest,
            size: img.manifest.bytes.byteLength,
            platform: { architecture: "amd64", os: "linux" },
          }],
        });
        const list: Blob = {
          bytes: listBytes,
          digest: digestOf(listBytes),
          mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
        };
        await pushImage(reg.host, "docker/s2", img.manifest.digest, img);
        await pushManifest(reg.host, "docker/s2", "list", list);
        await pushManifest(reg.host, "docker/s2", "single", img.manifest);
        for (const tag of ["list", "single"]) {
          const id = await pull(daemon, `${reg.host}/docker/s2:${tag}`);
          assert.equal(id, img.config.digest, tag);
          await using view = await mountPulled(daemon, id);
          assert.equal(await Deno.readTextFile(`${view.dir}/docker/f`), "docker\n", tag);
        }
      },
    );

    await t.step("zstd layers (+zstd), one with a 128 MiB window (zstd --long)", async () => {
      const t1 = await buildTar([{ name: "z/one", content: "zstd one\n" }]);
      const t2 = await buildTar([{ name: "z/two", content: "zstd two\n".repeat(10_000) }]);
      const zstdType = "application/vnd.oci.image.layer.v1.tar+zstd";
      const img = image([
        layer(t1, await run("zstd", ["-q", "-c"], t1), zstdType),
        layer(t2, await run("zstd", ["-q", "-c", "-19", "--long=27"], t2), zstdType),
      ]);
      await pushImage(reg.host, "zstd/img", "1", img);
      const id = await pull(daemon, `${reg.host}/zstd/img:1`);
      await using view = await mountPulled(daemon, id);
      assert.equal(await Deno.readTextFile(`${view.dir}/z/one`), "zstd one\n");
      assert.equal(await Deno.readTextFile(`${view.dir}/z/two`), "zstd two\n".repeat(10_000));
    });

    await t.step("GNU and PAX long names, long symlink targets, long hardlink names", async () => {
      const layers: RawLayer[] = [];
      const names: { file: string; symlink: string; hard: string }[] = [];
      for (const format of ["gnu", "pax"]) {
        const dir = `${scratch}/${format}`;
        await Deno.mkdir(dir);
        names.push(await longNameTree(dir));
        const tar = await run("tar", ["-C", dir, `--format=${format}`, "-cf", "-", "long"]);
        layers.push(layer(tar, await gzip(tar), "application/vnd.oci.image.layer.v1.tar+gzip"));
      }
      // Both layers write the same paths: the upper one (PAX) wins; check each on its own too.
      const img = image(layers);
      await pushImage(reg.host, "long/names", "1", img);
      const id = await pull(daemon, `${reg.host}/long/names:1`);
      const rec = JSON.parse(
        await Deno.readTextFile(`${daemon.dirs.root}/images/records/${id.slice(7)}.json`),
      );
      for (const [i, chain] of (rec.chainIds as string[]).entries()) {
        const diff = `${daemon.dirs.root}/images/layers/${chain.slice(7)}/diff`;
        const n = names[i]!;
        assert.equal(await Deno.readTextFile(`${diff}/${n.file}`), "long name\n", `layer ${i}`);
        assert.equal(await Deno.readLink(`${diff}/${n.symlink}`), `/${"t".repeat(150)}/target`);
        assert.equal(
          (await Deno.stat(`${diff}/${n.hard}`)).ino,
          (await Deno.stat(`${diff}/${n.file}`)).ino,
        );
      }
      await using view = await mountPulled(daemon, id);
      assert.equal(await Deno.readTextFile(`${view.dir}/${names[1]!.hard}`), "long name\n");
    });

    await t.step(
      "a GNU sparse file (PAX form) unpacks whole; type S is refused by name",
      async () => {
        const dir = `${scratch}/sparse`;
        await Deno.mkdir(`${dir}/s`, { recursive: true });
        const size = 6 << 20;
        const f = await Deno.open(`${dir}/s/file`, { write: true, create: true });
        await f.write(new TextEncoder().encode("head"));
        await f.seek(size - 4, Deno.SeekMode.Start);
        await f.write(new TextEncoder().encode("tail"));
        f.close();
        const pax = await run("tar", ["-C", dir, "--format=pax", "--sparse", "-cf", "-", "s"]);
        assert.ok(pax.byteLength < size, "GNU tar stored the file sparse");
        const img = image([
          layer(pax, await gzip(pax), "application/vnd.oci.image.layer.v1.tar+gzip"),
        ]);
        await pushImage(reg.host, "sparse/pax", "1", img);
        const id = await pull(daemon, `${reg.host}/sparse/pax:1`);
        {
          await using view = await mountPulled(daemon, id);
          const got = await Deno.readFile(`${view.dir}/s/file`);
          assert.equal(got.byteLength, size);
          assert.equal(new TextDecoder().decode(got.subarray(0, 4)), "head");
          assert.equal(new TextDecoder().decode(got.subarray(size - 4)), "tail");
          assert.ok(got.subarray(4, size - 4).every((b) => b === 0), "the hole reads as zeros");
          assert.equal(await exists(`${view.dir}/GNUSparseFile.0`), false);
        }
        const gnu = await run("tar", ["-C", dir, "--format=gnu", "--sparse", "-cf", "-", "s"]);
        const bad = image([
          layer(gnu, await gzip(gnu), "application/vnd.oci.image.layer.v1.tar+gzip"),
        ]);
        await pushImage(reg.host, "sparse/gnu", "1", bad);
        await assert.rejects(pull(daemon, `${reg.host}/sparse/gnu:1`), (err: Error) => {
          assert.match(err.message, /^3 INVALID_ARGUMENT/);
          assert.match(err.message, /"s\/file" of a tar type ocid cannot unpack/);
          return true;
        });
        const listed = await call(daemon.clients.image, "ListImages", {});
        assert.ok(!listed.images.some((i) => i.id === bad.config.digest), "nothing half-pulled");
      },
    );

    await t.step(
      "hardlinks to lower-layer files, whole-directory whiteouts, opaque dirs",
      async () => {
        const lowerEntries: LayerEntry[] = [
          { name: "bin/", type: "directory" },
          { name: "bin/tool", content: "tool\n", mode: 0o755 },
          { name: "gone/", type: "directory" },
          { name: "gone/a", content: "a" },
          { name: "gone/sub/", type: "directory" },
          { name: "gone/sub/b", content: "b" },
          { name: "opq/", type: "directory" },
          { name: "opq/old", content: "old" },
          { name: "opq/olddir/", type: "directory" },
          { name: "opq/olddir/x", content: "x" },
        ];
        const upperEntries: LayerEntry[] = [
          { name: "bin/alias", type: "link", linkname: "bin/tool" },
          { name: ".wh.gone", content: "" },
          { name: "opq/", type: "directory" },
          { name: "opq/.wh..wh..opq", content: "" },
          { name: "opq/new", content: "new" },
        ];
        const layers: RawLayer[] = [];
        for (const entries of [lowerEntries, upperEntries]) {
          const tar = await buildTar(entries);
          layers.push(layer(tar, await gzip(tar), "application/vnd.oci.image.layer.v1.tar+gzip"));
        }
        const img = image(layers);
        await pushImage(reg.host, "wh/img", "1", img);
        const id = await pull(daemon, `${reg.host}/wh/img:1`);
        await using view = await mountPulled(daemon, id);
        assert.equal(await Deno.readTextFile(`${view.dir}/bin/alias`), "tool\n");
        assert.equal(
          (await Deno.stat(`${view.dir}/bin/alias`)).ino,
          (await Deno.stat(`${view.dir}/bin/tool`)).ino,
          "one inode, copied up into the upper layer",
        );
        assert.equal(await exists(`${view.dir}/gone`), false, "the whole directory is gone");
        assert.deepEqual([...Deno.readDirSync(`${view.dir}/opq`)].map((e) => e.name), ["new"]);
      },
    );

    await t.step(
      "xattrs from GNU tar --xattrs: binary capabilities kept, overlay's own refused",
      async () => {
        // cap_setuid=ep, as on Debian's newuidmap: a 0x80 byte that is not valid UTF-8.
        const cap = "0x0100000280000000000000000000000000000000";
        const dir = `${scratch}/xattrs`;
        await Deno.mkdir(`${dir}/bin`, { recursive: true });
        await Deno.mkdir(`${dir}/x`);
        await Deno.writeTextFile(`${dir}/bin/newuidmap`, "elf");
        await run("setfattr", ["-n", "security.capability", "-v", cap, `${dir}/bin/newuidmap`]);
        await run("setfattr", ["-n", "user.test", "-v", "v", `${dir}/bin/newuidmap`]);
        // Would make x/ opaque, hiding x/keep of the layer below, if ocid applied it.
        await run("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", `${dir}/x`]);
        const lower = await buildTar([{ name: "x/keep", content: "keep" }]);
        const upper = await run("tar", [
          "-C",
          dir,
          "--format=pax",
          "--xattrs",
          "--xattrs-include=*",
          "-cf",
          "-",
          "bin",
          "x",
        ]);
        assert.ok(
          new TextDecoder().decode(upper).includes("SCHILY.xattr.trusted.overlay.opaque"),
          "GNU tar wrote the overlay xattr",
        );
        const gz = "application/vnd.oci.image.layer.v1.tar+gzip";
        const img = image([
          layer(lower, await gzip(lower), gz),
          layer(upper, await gzip(upper), gz),
        ]);
        await pushImage(reg.host, "xattr/img", "1", img);
        const id = await pull(daemon, `${reg.host}/xattr/img:1`);
        await using view = await mountPulled(daemon, id);
        const attrs = new TextDecoder().decode(
          await run("getfattr", ["-d", "-m", "-", "-e", "hex", `${view.dir}/bin/newuidmap`]),
        );
        assert.match(attrs, new RegExp(`^security\\.capability=${cap}$`, "m"));
        assert.match(attrs, /^user\.test=0x76$/m);
        assert.equal(await Deno.readTextFile(`${view.dir}/x/keep`), "keep", "x/ is not opaque");

        // A failing setfattr (user.* on a symlink: EPERM) fails the pull and leaves nothing.
        const bad = await buildTar([
          { name: "s", type: "symlink", linkname: "t", pax: { "SCHILY.xattr.user.x": "1" } },
        ]);
        const badImg = image([layer(bad, await gzip(bad), gz)]);
        await pushImage(reg.host, "xattr/bad", "1", badImg);
        await assert.rejects(pull(daemon, `${reg.host}/xattr/bad:1`), (err: Error) => {
          assert.match(err.message, /^3 INVALID_ARGUMENT/);
          assert.match(err.message, /extended attribute "user\.x" on "s".*not permitted/);
          return true;
        });
        const listed = await call(daemon.clients.image, "ListImages", {});
        assert.ok(!listed.images.some((i) => i.id === badImg.config.digest), "nothing half-pulled");
      },
    );
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
    await daemon.cleanup();
  }
});
