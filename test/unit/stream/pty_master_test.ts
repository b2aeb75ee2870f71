import assert from "node:assert/strict";
import { PtyMaster } from "../../../src/sys/pty.ts";

const dec = new TextDecoder();

function fdCount(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

/** Reads the master to its end. */
async function readAll(pty: PtyMaster): Promise<string> {
  let out = "";
  for (;;) {
    const chunk = await pty.read();
    if (chunk === null) return out;
    out += dec.decode(chunk);
  }
}

/** Runs `script` in a new session with stdio on the slave, which becomes its terminal. */
function onSlave(pty: PtyMaster, script: string): Deno.ChildProcess {
  return new Deno.Command("setsid", {
    args: ["--wait", "sh", "-c", `exec 0<>"$0" 1>&0 2>&0; ${script}`, pty.slavePath],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

Deno.test("PtyMaster.open() gives an unlocked slave whose size follows resize()", async () => {
  const pty = PtyMaster.open();
  try {
    assert.match(pty.slavePath, /^\/dev\/pts\/\d+$/);
    pty.resize({ width: 123, height: 45 });
    assert.deepEqual(pty.size(), { width: 123, height: 45 });
  } finally {
    await pty.close();
  }
});

Deno.test("PtyMaster reads what a program on the slave prints and writes its input", async () => {
  const before = fdCount();
  const pty = PtyMaster.open();
  try {
    pty.resize({ width: 100, height: 40 });
    const child = onSlave(pty, "test -t 0 && echo tty; stty size; read x; echo got $x; exit 3");
    const output = readAll(pty);
    await pty.write(new TextEncoder().encode("hello\n"));
    assert.equal((await child.status).code, 3);
    // Cooked mode: the terminal echoes the input (whenever it comes) and prints \r\n.
    const text = await output;
    assert.equal(text.replace("hello\r\n", ""), "tty\r\n40 100\r\ngot hello\r\n");
  } finally {
    await pty.close();
  }
  assert.equal(fdCount(), before, "the master and its eventfd are closed");
});

Deno.test("PtyMaster.makeRaw() turns off echo and newline translation", async () => {
  const pty = PtyMaster.open();
  try {
    pty.makeRaw();
    const child = onSlave(pty, "head -c 6; printf 'a\\nb'");
    const output = readAll(pty);
    await pty.write(new TextEncoder().encode("hello\n"));
    assert.equal((await child.status).code, 0);
    assert.equal(await output, "hello\na\nb");
  } finally {
    await pty.close();
  }
});

Deno.test("PtyMaster.resize() signals SIGWINCH to the terminal's foreground group", async () => {
  const pty = PtyMaster.open();
  try {
    const child = onSlave(
      pty,
      "trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.05; done",
    );
    let seen = "";
    while (!seen.includes("ready")) seen += dec.decode((await pty.read()) ?? new Uint8Array());
    pty.resize({ width: 77, height: 22 });
    seen += await readAll(pty);
    assert.equal((await child.status).code, 0);
    assert.match(seen, /22 77/);
  } finally {
    await pty.close();
  }
});

Deno.test("PtyMaster.close() ends a pending read and a blocked write", async () => {
  const before = fdCount();
  const pty = PtyMaster.open();
  // Nobody reads the slave: the input queue fills and the write waits.
  const pendingRead = pty.read();
  const pendingWrite = pty.write(new Uint8Array(1 << 20));
  const writeFailed = pendingWrite.then(() => false, () => true);
  await pty.close();
  assert.equal(await pendingRead, null);
  assert.equal(await writeFailed, true);
  assert.equal(await pty.read(), null);
  await pty.close();
  assert.equal(fdCount(), before);
});
