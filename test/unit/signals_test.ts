import assert from "node:assert/strict";
import { criSignal, runtimeSignal, signalNumber } from "../../src/signals.ts";

Deno.test("signalNumber() reads every way a signal is spelled", () => {
  for (const s of ["TERM", "SIGTERM", "sigterm", " 15 ", "15"]) assert.equal(signalNumber(s), 15);
  assert.equal(signalNumber("SIGIOT"), 6);
  assert.equal(signalNumber("CLD"), 17);
  assert.equal(signalNumber("RTMIN"), 34);
  assert.equal(signalNumber("SIGRTMIN+3"), 37);
  assert.equal(signalNumber("SIGRTMINPLUS3"), 37, "the CRI's name");
  assert.equal(signalNumber("RTMAX-2"), 62);
  assert.equal(signalNumber("SIGRTMAXMINUS14"), 50);
  assert.equal(signalNumber("SIGRTMAX"), 64);
  for (const bad of ["", "0", "65", "FOO", "SIGRTMIN-1", "SIGRTMAX+1", "RTMIN+31", "-9"]) {
    assert.equal(signalNumber(bad), undefined, bad);
  }
});

Deno.test("runtimeSignal() gives runc a name it parses, or a number for a real-time signal", () => {
  assert.equal(runtimeSignal("USR1"), "SIGUSR1");
  assert.equal(runtimeSignal("10"), "SIGUSR1");
  assert.equal(runtimeSignal("SIGRTMINPLUS3"), "37");
  assert.equal(runtimeSignal("RTMIN+3"), "37");
  assert.equal(runtimeSignal("SIGRTMAX"), "64");
  assert.equal(runtimeSignal("BOGUS"), "BOGUS", "left for the runtime to refuse");
});

Deno.test("criSignal() names every signal the CRI's Signal enum has, the same way back", () => {
  assert.equal(criSignal("TERM"), "SIGTERM");
  assert.equal(criSignal("SIGPOLL"), "SIGIO");
  assert.equal(criSignal("RTMIN+15"), "SIGRTMINPLUS15");
  assert.equal(criSignal("RTMAX-14"), "SIGRTMAXMINUS14");
  assert.equal(criSignal("BOGUS"), "RUNTIME_DEFAULT");
  for (let n = 1; n <= 64; n++) {
    if (n === 32 || n === 33) continue; // glibc's own
    const name = criSignal(String(n));
    assert.notEqual(name, "RUNTIME_DEFAULT", String(n));
    assert.equal(signalNumber(name), n, name);
    assert.equal(signalNumber(runtimeSignal(name)), n, name);
  }
});
