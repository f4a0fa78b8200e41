import type { Service, ServiceSchema } from "moleculer";
import DbService from "moleculer-db";
import MongooseDbAdapter from "moleculer-db-adapter-mongoose";
import mongoose from "mongoose";
import { loadConfig } from "../config.js";
import { HealthMixin, registerHealthProbe } from "../health.js";

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
export function CatalogStoreMixin<T>(modelName: string, schema: mongoose.Schema<T>): Partial<ServiceSchema> {
	const crudActions = ["find", "count", "list", "create", "insert", "get", "update", "remove"];
	return {
		mixins: [DbService, HealthMixin],
		// Getters, so that MONGO_URL is read when the broker creates the service
		// (after server.ts or a test has set it), not when this module is imported.
		get adapter() {
			const { mongoUrl } = loadConfig();
			return mongoUrl
				? new MongooseDbAdapter(mongoUrl, { autoCreate: false, autoIndex: true, serverSelectionTimeoutMS: 5000 })
				: new DbService.MemoryAdapter();
		},
		// The mongoose adapter connects mongoose's default connection when given a model.
		get model() {
			return loadConfig().mongoUrl ? (mongoose.models[modelName] ?? mongoose.model<T>(modelName, schema)) : undefined;
		},
		actions: Object.fromEntries(crudActions.map((name) => [name, false])),
		created(this: Service) {
			if (!loadConfig().mongoUrl) return;
			registerHealthProbe(this, "mongodb", async () => {
				const db = mongoose.connection.db;
				if (!db || mongoose.connection.readyState !== 1) throw new Error("not connected");
				await db.admin().ping();
			});
		},
	};
}
