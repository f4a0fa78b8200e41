// Jest loads its global setup with Node's own resolver, which cannot follow
// the project's TypeScript imports; tsx can.
import { register } from "tsx/esm/api";

register();
const { setUpServers } = await import("./servers-setup.ts");
export default setUpServers;
