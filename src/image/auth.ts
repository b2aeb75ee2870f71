/**
 * Registry credentials (from the CRI AuthConfig) and the `WWW-Authenticate` challenge.
 *
 * @module
 */

/** Credentials for one pull; the CRI AuthConfig in camelCase. */
export interface RegistryAuth {
  username?: string;
  password?: string;
  /** base64 of `username:password`. */
  auth?: string;
  /** A bearer token sent as is. */
  registryToken?: string;
  /**
   * An OAuth2 refresh token, exchanged at a bearer challenge's token server for an access token
   * (the distribution token spec's POST with `grant_type=refresh_token`).
   */
  identityToken?: string;
}

/** A parsed `WWW-Authenticate` header. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header such as
 * `Bearer realm="https://auth/token",service="registry",scope="repository:a:pull"`.
 *
 * @returns The challenge, or undefined when the header is empty.
 */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g;
  const rest = m[2] ?? "";
  let p: RegExpExecArray | null;
  while ((p = re.exec(rest)) !== null) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3] ?? "";
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

/**
 * The `username:password` pair of `auth`, or undefined when it gives none.
 */
export function basicCredentials(auth: RegistryAuth | undefined): [string, string] | undefined {
  if (!auth) return undefined;
  if (auth.username) return [auth.username, auth.password ?? ""];
  if (auth.auth) {
    const decoded = new TextDecoder().decode(
      Uint8Array.from(atob(auth.auth), (c) => c.charCodeAt(0)),
    );
    const i = decoded.indexOf(":");
    if (i > 0) return [decoded.slice(0, i), decoded.slice(i + 1)];
  }
  return undefined;
}

/** The `Authorization: Basic ...` value for a user and password. */
export function basicHeader([user, pass]: [string, string]): string {
  const bytes = new TextEncoder().encode(`${user}:${pass}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}
