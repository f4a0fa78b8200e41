import { register } from "tsx/esm/api";

register();
const { tearDownServers } = await import("./servers-teardown.ts");
export default tearDownServers;
