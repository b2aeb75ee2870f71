/** ocid's version, printed by `ocid version` and returned by the Version RPC. */
export const VERSION = "0.1.0";
