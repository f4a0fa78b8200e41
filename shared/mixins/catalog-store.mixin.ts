import type { Service, ServiceSchema } from "moleculer";
import DbService from "moleculer-db";
import MongooseDbAdapter from "moleculer-db-adapter-mongoose";
import mongoose from "mongoose";
import { DependencyErrorsMixin } from "../dependency-failures.js";
import { HealthMixin, registerHealthProbe } from "../health.js";
import type { ShopService, ShopServiceSettings } from "../service-settings.js";
import { redactUrl } from "../redact.js";
import { StartupError } from "../startup-error.js";

/**
 * moleculer-db over MongoDB (mongoose adapter) when MONGO_URL is set, over
 * moleculer-db's in-process memory adapter otherwise (the embedded default on
 * a machine where no MongoDB-compatible server runs). Service code uses only
 * what both adapters, and the jongodb stand-in that tests run against, accept:
 * find with filter/sort/skip/limit, count, insert, update by id.
 *
 * moleculer-db's CRUD actions are switched off: the owning service declares
 * its own actions with strict params.
 */

/** How long one attempt to reach MongoDB waits for a server, at start and for each query. */
const SERVER_SELECTION_TIMEOUT_MS = 5000;

// moleculer-db's own `started` retries the connection every second for ever,
// logging a stack each time and never naming the URL; this mixin connects
// itself, within DEPENDENCY_WAIT_SECONDS. Its `stopped` lets the mongoose
// adapter warn "has disconnected" on every clean stop; this mixin's does not.
const { started: _retriesForever, stopped: _warnsOnCleanStop, ...CatalogDbService } = DbService as unknown as ServiceSchema;

export function CatalogStoreMixin<T>(modelName: string, schema: mongoose.Schema<T>): Partial<ServiceSchema> {
	const crudActions = ["find", "count", "list", "create", "insert", "get", "update", "remove"];
	return {
		mixins: [CatalogDbService, HealthMixin, DependencyErrorsMixin],
		actions: Object.fromEntries(crudActions.map((name) => [name, false])),
		// moleculer-db takes its adapter from the schema in its own `created`,
		// which runs before this mixin's: chosen here, from the settings the
		// service was created with.
		merged(serviceSchema: ServiceSchema<ShopServiceSettings>) {
			const { mongoUrl } = serviceSchema.settings!.config;
			serviceSchema.adapter = mongoUrl
				? new MongooseDbAdapter(mongoUrl, {
						autoCreate: false,
						autoIndex: true,
						serverSelectionTimeoutMS: SERVER_SELECTION_TIMEOUT_MS,
						// Fail a query at once while disconnected (503), instead of queueing it.
						bufferCommands: false,
					})
				: new DbService.MemoryAdapter();
			// The mongoose adapter connects mongoose's default connection when given a model.
			if (mongoUrl) serviceSchema.model = mongoose.models[modelName] ?? mongoose.model<T>(modelName, schema);
		},
		created(this: Service) {
			if (!(this as ShopService).settings.config.mongoUrl) return;
			registerHealthProbe(this, "mongodb", async () => {
				const db = mongoose.connection.db;
				if (!db || mongoose.connection.readyState !== 1) throw new Error("not connected");
				await db.admin().ping();
			});
		},
		async stopped(this: Service) {
			if ((this as ShopService).settings.config.mongoUrl) mongoose.connection.removeAllListeners("disconnected");
			await (this as Service & { disconnect(): Promise<void> }).disconnect();
		},
		async started(this: Service) {
			const connect = () => (this as Service & { connect(): Promise<void> }).connect();
			const { mongoUrl, dependencyWaitSeconds } = (this as ShopService).settings.config;
			const deadline = Date.now() + dependencyWaitSeconds * 1000;
			for (;;) {
				try {
					return await connect();
				} catch (err) {
					// Each attempt waits SERVER_SELECTION_TIMEOUT_MS for a server.
					if (!mongoUrl || Date.now() + SERVER_SELECTION_TIMEOUT_MS > deadline) {
						const where = mongoUrl ? `MongoDB at ${redactUrl(mongoUrl)}` : "The catalog's memory store";
						throw new StartupError(
							`${where} did not answer within ${dependencyWaitSeconds} s (${(err as Error).message}); start it, or fix MONGO_URL`,
						);
					}
				}
			}
		},
	};
}
