import { Errors } from "moleculer";
import { ConnectionRefusedError, DatabaseError, UniqueConstraintError } from "sequelize";
import { asDependencyError, unreachableDependency } from "./dependency-failures.js";
import { DependencyUnavailableError } from "./errors.js";

const named = (name: string, message = "x") => Object.assign(new Error(message), { name });
const pgError = (code: string | undefined, message: string) => new DatabaseError(Object.assign(new Error(message), { code, sql: "SELECT 1" }) as never);

describe("unreachableDependency", () => {
	it("names PostgreSQL for a refused connection, a dead session, a server shutting down or full", () => {
		expect(unreachableDependency(new ConnectionRefusedError(new Error("connect ECONNREFUSED 127.0.0.1:5432")))).toBe("PostgreSQL");
		expect(unreachableDependency(pgError(undefined, "Connection terminated unexpectedly"))).toBe("PostgreSQL");
		expect(unreachableDependency(pgError("57P01", "terminating connection due to administrator command"))).toBe("PostgreSQL");
		expect(unreachableDependency(pgError("53300", "sorry, too many clients already"))).toBe("PostgreSQL");
		expect(unreachableDependency(pgError("08006", "connection failure"))).toBe("PostgreSQL");
	});

	it("leaves the database's answers to bad requests alone", () => {
		expect(unreachableDependency(pgError("22P02", 'invalid input syntax for type uuid: "nope"'))).toBeNull();
		expect(unreachableDependency(new UniqueConstraintError({}))).toBeNull();
	});

	it("names MongoDB for the driver's and mongoose's connection errors, Redis for ioredis giving up", () => {
		for (const name of [
			"MongoServerSelectionError",
			"MongooseServerSelectionError",
			"MongoNetworkError",
			"MongoNotConnectedError",
			"MongoTopologyClosedError",
		]) {
			expect(unreachableDependency(named(name))).toBe("MongoDB");
		}
		expect(unreachableDependency(named("MongoServerError", "E11000 duplicate key"))).toBeNull();
		expect(unreachableDependency(named("MaxRetriesPerRequestError"))).toBe("Redis");
		expect(unreachableDependency(new Error("Connection is closed."))).toBe("Redis");
	});

	it("is null for anything else", () => {
		expect(unreachableDependency(new Error("boom"))).toBeNull();
		expect(unreachableDependency("a string")).toBeNull();
		expect(unreachableDependency(new Errors.MoleculerClientError("bad", 422, "VALIDATION_ERROR"))).toBeNull();
	});
});

describe("asDependencyError", () => {
	it("turns an outage into a retryable 503 SERVICE_UNAVAILABLE naming the dependency, and keeps other errors as they are", () => {
		const converted = asDependencyError(named("MongoServerSelectionError", "connect ECONNREFUSED")) as DependencyUnavailableError;
		expect(converted).toBeInstanceOf(DependencyUnavailableError);
		expect(converted).toMatchObject({ code: 503, type: "SERVICE_UNAVAILABLE", retryable: true, data: { dependency: "MongoDB" } });
		const other = new Error("boom");
		expect(asDependencyError(other)).toBe(other);
		// Converted once: a second mixin's hook sees a DependencyUnavailableError and leaves it.
		expect(asDependencyError(converted)).toBe(converted);
	});
});
