/**
 * The Stream* twins of the List RPCs (StreamPodSandboxes, StreamContainers, StreamImages,
 * StreamContainerStats, StreamPodSandboxStats, StreamPodSandboxMetrics): the same answer as the
 * List RPC with the same filter, sent in chunks so that a node with many objects never hits the
 * client's message size limit. The stream ends after the last chunk; an empty list sends no
 * message.
 *
 * @module
 */
import type { CallContext } from "./instrument.ts";
import type { StreamSink } from "./instrument_stream.ts";

/** Items per message: a few hundred KiB at most for the largest items (stats). */
export const STREAM_CHUNK_ITEMS = 100;

/**
 * Turns a List handler into its streaming twin.
 *
 * @param list The List RPC's handler, already bound to its dependencies.
 * @param from The field of the List response that holds the items.
 * @param to The field of the Stream response to put each chunk in.
 */
export function streamInChunks<Req, Res>(
  list: (req: Req, ctx: CallContext) => Promise<Res>,
  from: keyof Res,
  to: string,
): (req: Req, sink: StreamSink, ctx: CallContext) => Promise<void> {
  return async (req, sink, ctx) => {
    const items = ((await list(req, ctx))[from] ?? []) as unknown[];
    for (let i = 0; i < items.length; i += STREAM_CHUNK_ITEMS) {
      await sink.write({ [to]: items.slice(i, i + STREAM_CHUNK_ITEMS) }, { signal: ctx.signal });
    }
  };
}
