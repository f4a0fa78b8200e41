import type { BrokerOptions, Middleware, Service, ServiceSchema } from "moleculer";
import { Middleware as ChannelsMiddleware } from "@moleculer/channels";
import type { MiddlewareOptions as ChannelsOptions } from "@moleculer/channels/types/src/index.js";
import { durableChannelsAdapter } from "./shared/channels-amqp-adapter.js";
import { loadConfig, type AppConfig } from "./shared/config.js";
import { MessageSigner } from "./shared/messaging/message-signing.js";
import { ClusterAuthMiddleware } from "./shared/middlewares/cluster-auth.middleware.js";
import { PermissionsMiddleware } from "./shared/middlewares/permissions.middleware.js";
import { withoutCredentials } from "./shared/redact.js";
import { ResilientRedisCacher } from "./shared/resilient-redis-cacher.js";
import { createValidator } from "./shared/validation.js";

/**
 * Broker options, all from the configuration (shared/config.ts).
 * - TRANSPORTER set: services talk over RabbitMQ; unset: calls stay in process.
 * - REDIS_URL set: the Redis cacher, shared by every node; unset: memory cacher.
 * - Durable facts (order created, payment settled): @moleculer/channels, over
 *   RabbitMQ with TRANSPORTER, in process without; the whole story is told in
 *   shared/messaging/topology.ts.
 */
export function createBrokerOptions(config: AppConfig): BrokerOptions {
	return {
		namespace: config.namespace,
		nodeID: config.nodeId,
		logger: loggerOptions(config),
		logLevel: config.logLevel,
		transporter: transporterOptions(config),
		cacher: cacherOptions(config),

		serializer: "JSON",
		requestTimeout: 10_000,
		retryPolicy: { enabled: false },
		maxCallLevel: 100,
		// A node that died without saying so (kill -9, a lost host) stops
		// receiving requests 5 to 10 s after its last heartbeat.
		heartbeatInterval: 2,
		heartbeatTimeout: 5,
		contextParamsCloning: false,
		tracking: { enabled: true, shutdownTimeout: 5000 },
		disableBalancer: false,
		registry: { strategy: "RoundRobin", preferLocal: true },
		circuitBreaker: { enabled: false },
		bulkhead: { enabled: false },
		validator: createValidator(),
		errorHandler: undefined,
		metrics: { enabled: false },
		tracing: { enabled: false },

		// The cluster's own first: the closest to the wire, so what leaves is sealed and what arrives is opened before anything reads it.
		middlewares: [...clusterMiddlewares(config), PermissionsMiddleware, durableChannelsMiddleware(config)],
		internalServices: { $node: nodeServiceWithoutCredentials() },

		replCommands: null,
	};
}

function loggerOptions({ logLevel }: AppConfig): BrokerOptions["logger"] {
	return { type: "Console", options: { level: logLevel, formatter: "short", colors: process.stdout.isTTY, moduleColors: false } };
}

function transporterOptions({ transporterUrl }: AppConfig): BrokerOptions["transporter"] {
	if (!transporterUrl) return undefined;
	return {
		type: "AMQP",
		// Without these two the transporter serves ~16 requests/s (docs/decisions.md, 3):
		// prefetch 1 and Nagle's algorithm stall every request ~40 ms.
		options: { url: transporterUrl.split(";"), prefetch: 100, socketOptions: { noDelay: true } },
	};
}

function cacherOptions({ redisUrl, namespace }: AppConfig): BrokerOptions["cacher"] {
	return redisUrl ? new ResilientRedisCacher(redisUrl, { prefix: `${namespace}-cache`, ttl: 300 }) : { type: "Memory", options: { ttl: 300, clone: true } };
}

/** With a transporter, every packet sealed with the cluster secret (docs/architecture.md, the cluster's trust boundary). */
function clusterMiddlewares({ clusterSecrets }: AppConfig): Middleware[] {
	return clusterSecrets ? [ClusterAuthMiddleware(clusterSecrets)] : [];
}

/**
 * Moleculer's $node.options answers any member with the broker's options,
 * URLs with their passwords included; here it answers them without.
 */
function nodeServiceWithoutCredentials(): Partial<ServiceSchema> {
	return {
		actions: {
			options: {
				params: {},
				handler(this: Service) {
					return withoutCredentials(this.broker.options);
				},
			},
		},
	};
}

function durableChannelsMiddleware({ transporterUrl, namespace, clusterSecrets }: AppConfig): Middleware {
	// @moleculer/channels' typings require every option and do not fit moleculer's Middleware type.
	return ChannelsMiddleware({
		adapter: transporterUrl ? durableChannelsAdapter(transporterUrl, namespace, clusterSecrets && new MessageSigner(clusterSecrets)) : "Fake",
	} as ChannelsOptions) as unknown as Middleware;
}

// A function, which moleculer-runner calls, so that importing this file never
// reads the environment: server.ts reports a bad setting by name instead.
export default () => createBrokerOptions(loadConfig(process.env));
