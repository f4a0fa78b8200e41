import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

/**
 * PGlite (PostgreSQL compiled to WASM) served on a local port, so the services
 * use it through pg and sequelize exactly as they use a real server. For
 * `npm start` on a machine with nothing installed; tests use the real server.
 *
 * In memory, like the jongodb catalog beside it (which cannot keep data on
 * disk): both start empty and forget everything together, so the inventory
 * never holds stock for products that no longer exist.
 */
export interface EmbeddedPostgres {
	url: string;
	stop(): Promise<void>;
}

export async function startPglite(port = 0): Promise<EmbeddedPostgres> {
	const db = await PGlite.create();
	// Every pooled connection of every service shares this one server.
	const server = new PGLiteSocketServer({ db, port, host: "127.0.0.1", maxConnections: 200 });
	await server.start();
	const address = server.getServerConn();
	return {
		url: `postgres://postgres:postgres@${address}/postgres`,
		stop: async () => {
			await server.stop();
			await db.close();
		},
	};
}
