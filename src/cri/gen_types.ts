/**
 * Generates `src/cri/types.ts` from `proto/api.proto`, so the TypeScript shapes cannot drift
 * from the wire definition. `test/unit/cri/types_test.ts` fails when the checked-in file is
 * stale.
 *
 * Run: `deno run -A src/cri/gen_types.ts` (writes and formats `src/cri/types.ts`).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import type { PackageDefinition } from "@grpc/proto-loader";
import { loadCriDescriptors } from "./proto_descriptors.ts";

/** The package prefix of every CRI type name. */
const PACKAGE = "runtime.v1.";

/** Part of a `google.protobuf.FieldDescriptorProto`, as proto-loader gives it. */
interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}

/** Part of a `google.protobuf.DescriptorProto`, as proto-loader gives it. */
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
  enumType: EnumDescriptor[];
  options: { mapEntry?: boolean } | null;
}

/** Part of a `google.protobuf.EnumDescriptorProto`, as proto-loader gives it. */
interface EnumDescriptor {
  name: string;
  value: { name: string; number: number }[];
}

/** Part of a method of a proto-loader service definition. */
interface MethodDescriptor {
  originalName?: string;
  responseStream: boolean;
  requestType: { type: { name: string } };
  responseType: { type: { name: string } };
}

const INT64_TYPES = new Set([
  "TYPE_INT64",
  "TYPE_UINT64",
  "TYPE_SINT64",
  "TYPE_FIXED64",
  "TYPE_SFIXED64",
]);
const NUMBER_TYPES = new Set([
  "TYPE_INT32",
  "TYPE_UINT32",
  "TYPE_SINT32",
  "TYPE_FIXED32",
  "TYPE_SFIXED32",
  "TYPE_DOUBLE",
  "TYPE_FLOAT",
]);

/** Which side of the wire a TypeScript type describes. */
type Direction = "decoded" | "init";

/** The TypeScript type of one scalar, enum or message value (not repeated, not a map). */
function valueType(field: FieldDescriptor, direction: Direction): string {
  if (field.type === "TYPE_STRING") return "string";
  if (field.type === "TYPE_BOOL") return "boolean";
  if (field.type === "TYPE_BYTES") return "Uint8Array";
  if (NUMBER_TYPES.has(field.type)) return "number";
  if (INT64_TYPES.has(field.type)) return direction === "decoded" ? "string" : "Int64";
  if (field.type === "TYPE_ENUM") return field.typeName;
  if (field.type === "TYPE_MESSAGE") {
    return direction === "decoded" ? field.typeName : `${field.typeName}Init`;
  }
  throw new TypeError(`Cannot map field "${field.name}" of type "${field.type}"`);
}

/** The TypeScript type of a field, with repetition, maps and message presence. */
function fieldType(message: MessageDescriptor, field: FieldDescriptor, direction: Direction) {
  const entry = message.nestedType.find((n) => n.name === field.typeName && n.options?.mapEntry);
  if (field.label === "LABEL_REPEATED" && entry) {
    const [key, value] = entry.field;
    if (!key || !value) throw new TypeError(`Map entry "${entry.name}" lacks key or value`);
    return `Record<${valueType(key, direction)}, ${valueType(value, direction)}>`;
  }
  const type = valueType(field, direction);
  if (field.label === "LABEL_REPEATED") return `${type}[]`;
  if (field.type === "TYPE_MESSAGE") return `${type} | null`;
  return type;
}

function enumSource(e: EnumDescriptor, fullName: string): string {
  const values = e.value.map((v) => `\n  | ${JSON.stringify(v.name)}`).join("");
  return `/** Enum \`${fullName}\`, by value name (numbers in \`proto/api.proto\`). */\n` +
    `export type ${e.name} =${values};\n`;
}

function messageSource(m: MessageDescriptor, fullName: string): string {
  const decoded = m.field.map((f) => `  ${f.name}: ${fieldType(m, f, "decoded")};\n`).join("");
  const init = m.field.map((f) => `  ${f.name}?: ${fieldType(m, f, "init")} | undefined;\n`)
    .join("");
  const nested = m.enumType.map((e) => enumSource(e, `${fullName}.${e.name}`)).join("\n");
  return (nested ? `${nested}\n` : "") +
    `/** Decoded \`${fullName}\`. */\n` +
    (m.field.length === 0
      ? `export type ${m.name} = Record<string, never>;\n`
      : `export interface ${m.name} {\n${decoded}}\n`) +
    `\n/** \`${fullName}\` to encode. */\n` +
    (m.field.length === 0
      ? `export type ${m.name}Init = Record<string, never>;\n`
      : `export interface ${m.name}Init {\n${init}}\n`);
}

function serviceSource(name: string, methods: Record<string, MethodDescriptor>): string {
  const lines = Object.entries(methods).map(([rpc, method]) => {
    const req = method.requestType.type.name;
    const res = method.responseType.type.name;
    return `  ${rpc}: Rpc<${req}, ${req}Init, ${res}, ${res}Init, ${method.responseStream}>;\n`;
  });
  return `/** The RPCs of \`${PACKAGE}${name}\` with their message types. */\n` +
    `export interface ${name}Rpcs {\n${lines.join("")}}\n`;
}

const HEADER = `/**
 * TypeScript shapes of every CRI v1 message and enum (\`proto/api.proto\`), as
 * \`@grpc/proto-loader\` decodes them with
 * \`{ keepCase: true, longs: String, enums: String, defaults: true, oneofs: true }\`.
 *
 * GENERATED by \`deno run -A src/cri/gen_types.ts\`; do not edit by hand.
 *
 * - \`Foo\` is the decoded shape (what a handler receives, what a client gets back): field
 *   names snake_case as in the proto, every scalar present (proto3 defaults: \`""\`, \`0\`,
 *   \`false\`, first enum value), int64/uint64 as decimal \`string\`, enums as value names,
 *   maps as \`Record\`, repeated as arrays (\`[]\` when empty), bytes as \`Uint8Array\` (a
 *   \`Buffer\`), and an unset sub-message as \`null\`.
 * - \`FooInit\` is what may be encoded (what a handler returns, what a client sends): every
 *   field optional; int64 as \`string | number | bigint\`; sub-messages as \`BarInit | null\`.
 *   A decoded \`Foo\` is assignable to \`FooInit\`.
 *
 * @module
 */

/**
 * An int64 or uint64 to encode: a decimal string, a bigint (exact; use it for nanosecond
 * timestamps) or a number (exact only up to 2^53).
 */
export type Int64 = string | number | bigint;

/** Types of one RPC: decoded request and response, and what may be encoded for each. */
export interface Rpc<Req, ReqInit, Res, ResInit, Stream extends boolean> {
  request: Req;
  requestInit: ReqInit;
  response: Res;
  responseInit: ResInit;
  /** Whether the server answers with a stream of responses. */
  responseStream: Stream;
}
`;

/**
 * Renders the source of `src/cri/types.ts` (unformatted) from a loaded CRI definition.
 *
 * @param packageDefinition The proto-loader definition of `proto/api.proto`.
 * @returns TypeScript source text.
 */
export function generateTypes(packageDefinition: PackageDefinition): string {
  const parts = [HEADER];
  for (const [fullName, def] of Object.entries(packageDefinition)) {
    if (!fullName.startsWith(PACKAGE)) continue;
    const name = fullName.slice(PACKAGE.length);
    if ("format" in def && def.format === "Protocol Buffer 3 DescriptorProto") {
      parts.push(messageSource(def.type as MessageDescriptor, fullName));
    } else if ("format" in def && def.format === "Protocol Buffer 3 EnumDescriptorProto") {
      parts.push(enumSource(def.type as EnumDescriptor, fullName));
    } else {
      parts.push(serviceSource(name, def as unknown as Record<string, MethodDescriptor>));
    }
  }
  return parts.join("\n");
}

/**
 * Formats TypeScript source with `deno fmt` (the repository's settings).
 *
 * @param source Unformatted TypeScript.
 * @returns The formatted source.
 * @throws {Error} When `deno fmt` fails.
 */
export async function formatTypeScript(source: string): Promise<string> {
  const config = fileURLToPath(new URL("../../deno.json", import.meta.url));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--config", config, "--ext", "ts", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(source));
  await writer.close();
  const out = await child.output();
  const decoder = new TextDecoder();
  if (out.code !== 0) throw new Error(`Cannot format types: ${decoder.decode(out.stderr)}`);
  return decoder.decode(out.stdout);
}

if (import.meta.main) {
  const source = await formatTypeScript(generateTypes(loadCriDescriptors()));
  const target = fileURLToPath(new URL("./types.ts", import.meta.url));
  await Deno.writeTextFile(target, source);
  console.log(`Wrote ${target}`);
}
