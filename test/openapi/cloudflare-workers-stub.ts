/**
 * `cloudflare:workers` for the Node test project, which loads the API to
 * validate its OpenAPI document with a validator that cannot run in workerd
 * (it compiles schemas with `new Function`). Only what the API's modules
 * extend at import time; nothing here is called.
 */
export class DurableObject {}
export class WorkerEntrypoint {}
export const env = {};
