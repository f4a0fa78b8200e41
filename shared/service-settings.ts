import type { Service, ServiceSchema, ServiceSettingSchema } from "moleculer";
import type { AppConfig } from "./config.js";

/**
 * A service gets the configuration in its settings when it is created, from
 * the entry point that loaded it once (server.ts, the tests' startBroker): no
 * service or mixin reads the environment. Moleculer sends every service's
 * settings to the other nodes in its INFO packets, except the keys named in
 * `$secureSettings`, which it unites across mixins; the config holds the JWT
 * secret and URLs with passwords, so it stays on its node.
 */
export type ShopServiceSettings = ServiceSettingSchema & { config: AppConfig };

/**
 * `this` of a service, its `settings.config` typed. (Moleculer's own
 * Service<ShopServiceSettings> would not be a Service, which every mixin and
 * helper takes.)
 */
export type ShopService = Service & { settings: ShopServiceSettings };

/**
 * `schema` with `config` in its settings, for broker.createService. The config
 * comes as the outermost layer, the way Moleculer merges schema mods (whose
 * own argument to createService is deprecated and warns), so it is in the
 * settings that the schema's `merged` hooks see.
 */
export function withConfig(schema: ServiceSchema<ServiceSettingSchema, never>, config: AppConfig): ServiceSchema {
	return { name: schema.name, mixins: [schema as Partial<ServiceSchema>], settings: { config, $secureSettings: ["config"] } };
}
