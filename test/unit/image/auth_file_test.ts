import assert from "node:assert/strict";
import {
  credentialsFor,
  loadAuthFile,
  parseAuthFile,
  parseHelperOutput,
} from "../../../src/image/auth_file.ts";

const b64 = (s: string) => btoa(s);

Deno.test("credentialsFor(): the most specific key holding the repository", () => {
  const file = parseAuthFile(
    JSON.stringify({
      auths: {
        "quay.io": { auth: b64("host:1") },
        "quay.io/team": { auth: b64("team:2") },
        "quay.io/team/app": { auth: b64("app:3") },
        "https://index.docker.io/v1/": { auth: b64("hub:4") },
        "http://localhost:5000/v2/": { auth: b64("local:5") },
        "reg.example.com": { identitytoken: "refresh" },
        "empty.example.com": {},
      },
      credHelpers: { "gcr.io": "gcloud" },
    }),
    "/auth.json",
  );
  const who = (registry: string, repo: string) => {
    const found = credentialsFor(file, registry, repo);
    if (found && "helper" in found) return `helper ${found.helper} for ${found.registry}`;
    const a = found?.auth;
    return a?.auth ? atob(a.auth) : a?.identityToken;
  };
  assert.equal(who("quay.io", "team/app"), "app:3");
  assert.equal(who("quay.io", "team/app/sub"), "app:3");
  assert.equal(who("quay.io", "team/other"), "team:2");
  assert.equal(who("quay.io", "teamster/app"), "host:1", "a key is a whole path component");
  assert.equal(who("quay.io", "else"), "host:1");
  assert.equal(who("docker.io", "library/busybox"), "hub:4");
  assert.equal(who("registry-1.docker.io", "library/busybox"), "hub:4");
  assert.equal(who("localhost:5000", "a/b"), "local:5", "a URL key is its host");
  assert.equal(who("reg.example.com", "x"), "refresh");
  assert.equal(who("empty.example.com", "x"), undefined);
  assert.equal(who("ghcr.io", "x"), undefined);
  assert.equal(who("gcr.io", "proj/app"), "helper gcloud for gcr.io", "the helper wins");
});

Deno.test("credentialsFor(): a registry's credential helper wins over its auths; Docker Hub's URL", () => {
  const file = parseAuthFile(
    JSON.stringify({
      auths: { "123.dkr.ecr.example.com": { auth: b64("stale:0") } },
      credHelpers: { "123.dkr.ecr.example.com": "ecr-login", "docker.io": "hub" },
    }),
    "/auth.json",
  );
  assert.deepEqual(credentialsFor(file, "123.dkr.ecr.example.com", "app"), {
    helper: "ecr-login",
    registry: "123.dkr.ecr.example.com",
  });
  assert.deepEqual(credentialsFor(file, "registry-1.docker.io", "library/busybox"), {
    helper: "hub",
    registry: "https://index.docker.io/v1/",
  });
  assert.throws(
    () => parseAuthFile('{"credHelpers": {"a.io": "../../bin/sh"}}', "/a.json"),
    /the helper of "a.io" must be a program name suffix/,
  );
  assert.throws(
    () => parseAuthFile('{"credHelpers": []}', "/a.json"),
    /"credHelpers" must be an object/,
  );
});

Deno.test("parseHelperOutput(): credentials, an identity token, none, or the helper's failure", () => {
  const out = (code: number, stdout: string, stderr = "") => ({ code, stdout, stderr });
  assert.deepEqual(
    parseHelperOutput("x", out(0, '{"ServerURL":"r","Username":"AWS","Secret":"pw"}')),
    { username: "AWS", password: "pw" },
  );
  assert.deepEqual(
    parseHelperOutput("x", out(0, '{"Username":"<token>","Secret":"refresh"}')),
    { identityToken: "refresh" },
  );
  assert.equal(
    parseHelperOutput("x", out(1, "credentials not found in native keychain\n")),
    undefined,
    "none: the pull goes without",
  );
  assert.throws(
    () => parseHelperOutput("x", out(1, "", "no AWS region")),
    /docker-credential-x get failed \(exit 1\): no AWS region/,
  );
  assert.throws(() => parseHelperOutput("x", out(0, "{}")), /printed no credentials/);
  assert.throws(() => parseHelperOutput("x", out(0, "hi")), /printed no credentials/);
});

Deno.test("parseAuthFile() names the file and what is wrong", () => {
  for (
    const [text, why] of [
      ["{", /not JSON/],
      ["[]", /expected an object/],
      ['{"auths": []}', /"auths" must be an object/],
      ['{"auths": {"a.io": "x"}}', /entry of "a.io" must be an object/],
      ['{"auths": {"a.io": {"auth": 1}}}', /"auth" of "a.io" must be a string/],
    ] as const
  ) {
    assert.throws(() => parseAuthFile(text, "/a.json"), (e: Error) => {
      assert.match(e.message, /^Invalid registry credentials file "\/a.json": /);
      assert.match(e.message, why);
      return true;
    });
  }
  assert.equal(parseAuthFile("{}", "/a.json").auths.size, 0, "no auths: no credentials");
});

Deno.test('loadAuthFile(): none for "" or a missing file', async () => {
  assert.equal(await loadAuthFile(""), undefined);
  assert.equal(await loadAuthFile("/nonexistent/auth.json"), undefined);
});
