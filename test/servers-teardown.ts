import type { EmbeddedMongo } from "../shared/embedded/jongodb.js";

export async function tearDownServers(): Promise<void> {
	await (globalThis as { __JONGODB__?: EmbeddedMongo }).__JONGODB__?.stop();
}
