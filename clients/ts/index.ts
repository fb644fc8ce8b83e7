/** d2c-edge reference OTA client: fetch, verify and install the adapters a device needs. */
export { OtaClient, type InstalledAdapter, type OtaClientOptions, type SyncResult } from "./client";
export type { FetchLike } from "./download";
export { MemoryStore, type AdapterStore } from "./store";
export type { AdapterFormat, Manifest, ManifestAdapter, SignedManifest } from "../../src/delivery/manifest";
export type { DeviceTraits } from "../../src/delivery/profiles";
export { materialisePart, partInfo, type MaterialisedFormat, type PartInfo } from "./parts";
