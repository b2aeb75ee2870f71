import { ocidTarget, startOcid } from "./peers/ocid.ts";
import { startRegistry } from "./_registry.ts";
const registry = await startRegistry(await Deno.makeTempDir());
const peer = await startOcid({ args: ["--log-level", "debug"] });
const t = await ocidTarget(peer, {
  busybox: registry.images.busybox,
  logDir: await Deno.makeTempDir(),
});
await t.images!.pull(registry.images.pause);
await t.images!.pull(registry.images.busybox);
for (let i = 0; i < 10; i++) {
  const pod = await t.runPodSandbox("p" + i);
  await new Promise((r) => setTimeout(r, 50));
  const mark = Deno.readTextFileSync(peer.daemon.logPath).length;
  const t0 = performance.now();
  const c = await t.createContainer(pod, "c");
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 50));
  if (i >= 9) {
    console.log(`--- CreateContainer ${ms.toFixed(1)} ms`);
    console.log(
      Deno.readTextFileSync(peer.daemon.logPath).slice(mark).split("\n").map((l) => l.slice(11))
        .join("\n"),
    );
  }
  await t.startContainer(c);
  await t.stopContainer(c);
  await t.stopPodSandbox(pod);
  await t.removePodSandbox(pod);
}
await t.close();
await peer.close();
await registry.close();
