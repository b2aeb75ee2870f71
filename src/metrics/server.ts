/**
 * The HTTP endpoint for Prometheus: `GET /metrics` answers the exposition text; everything else
 * is 404 (405 for other methods on /metrics). Plain HTTP on `metrics_address:metrics_port`.
 *
 * @module
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** What the endpoint serves. */
export interface MetricsSource {
  scrape(): Promise<string>;
  contentType: string;
}

/** A listening metrics endpoint. */
export interface MetricsServer {
  /** The bound address and port. */
  address: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves `source` on `address:port`.
 *
 * @param source the registry's scrape function
 * @param listen where to listen
 * @returns the listening server
 * @throws {Error} when the address cannot be bound (in use, not local)
 */
export async function startMetricsServer(
  source: MetricsSource,
  listen: { address: string; port: number },
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("Not found; try /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" }).end();
      return;
    }
    source.scrape().then(
      (text) => {
        res.writeHead(200, { "content-type": source.contentType });
        res.end(req.method === "HEAD" ? undefined : text);
      },
      (err: unknown) => {
        res.writeHead(500, { "content-type": "text/plain" }).end(`${err}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.address, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: bound.address,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
