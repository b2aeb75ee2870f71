import assert from "node:assert/strict";
import { parseQualifiedName, requestedCdiDevices } from "../../../src/cdi/names.ts";

Deno.test("parseQualifiedName() splits vendor.com/class=name and checks each part", () => {
  assert.deepEqual(parseQualifiedName("nvidia.com/gpu=0"), {
    vendor: "nvidia.com",
    class: "gpu",
    name: "0",
  });
  assert.deepEqual(parseQualifiedName("a-b.c/x_y=GPU-1:mig.2").name, "GPU-1:mig.2");
  for (
    const bad of [
      "gpu0",
      "nvidia.com/gpu",
      "/gpu=0",
      "nvidia.com/=0",
      "nvidia.com/gpu=",
      "1vendor.com/gpu=0",
      "vendor.com/gpu.x=0",
      "vendor.com/gpu=-0",
      "vendor.com/gpu=a/b",
      "ven_dor.com/gpu=0",
      "vendor.com-/gpu=0",
    ]
  ) {
    assert.throws(() => parseQualifiedName(bad), { name: "InvalidArgumentError" }, bad);
  }
});

Deno.test("requestedCdiDevices() takes CDI_devices, then cdi.k8s.io/ annotations, once each", () => {
  assert.deepEqual(
    requestedCdiDevices({
      CDI_devices: [{ name: "v.com/c=a" }, { name: "v.com/c=b" }],
      annotations: {
        "cdi.k8s.io/z": "v.com/c=a, v.com/c=d",
        "cdi.k8s.io/y": "v.com/c=c,",
        "other.io/x": "not=checked",
      },
    }),
    ["v.com/c=a", "v.com/c=b", "v.com/c=c", "v.com/c=d"],
  );
  assert.deepEqual(requestedCdiDevices({ CDI_devices: [], annotations: {} }), []);
  assert.throws(
    () => requestedCdiDevices({ annotations: { "cdi.k8s.io/x": "gpu0" } }),
    { name: "InvalidArgumentError", message: /Invalid CDI device "gpu0"/ },
  );
  assert.throws(() => requestedCdiDevices({ CDI_devices: [{ name: "" }] }), /CDI_devices\[0\]/);
});
