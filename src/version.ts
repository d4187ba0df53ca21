/** The release version, printed by `vllm --version` and served at /version. */
export const VERSION = "0.1.0";
