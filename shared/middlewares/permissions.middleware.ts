import type { ActionHandler, ActionSchema, Context, Middleware } from "moleculer";
import type { ServiceName } from "../config.js";
import type { AuthUser, RequestMeta } from "../contracts.js";
import { ForbiddenError, UnauthorizedError } from "../errors.js";

/**
 * Who may call an action is declared on the action (`permissions`) and checked
 * here, on the node that runs the action, so a route added to the gateway can
 * never bypass it. Actions without `permissions` are public or internal.
 *
 * An internal action (no route reaches it) declares which services may call it
 * (`callers`); "operator" stands for a node's own calls outside any service
 * (start-up seeding, the CLI's admin:create). Moleculer names the calling
 * service in `ctx.caller`: the service of the calling context, or the one
 * callAction names. Every member of the cluster holds its secret, so this keeps
 * each service to the calls its design gives it, not a compromised member out.
 *
 * Moleculer runs its own middlewares (validator, cacher) before this one, so
 * the gateway also checks the same declaration before calling (see
 * api.service.ts `authorize`): an anonymous caller learns nothing about an
 * admin action's params, and a cached answer is never served to the wrong caller.
 */
export type Permission = "authenticated" | "admin";

/** A service that may call an internal action, or "operator": a node's own call, from no service. */
export type InternalCaller = ServiceName | "operator";

declare module "moleculer" {
	interface ActionSchema {
		permissions?: Permission[];
		callers?: InternalCaller[];
	}
}

/** The error that refuses `user` an action declaring `permissions`, or null when allowed. */
export function permissionError(permissions: Permission[] | undefined, user: AuthUser | null | undefined): Error | null {
	if (!permissions?.length) return null;
	if (!user) return new UnauthorizedError("UNAUTHORIZED", "Log in to do this");
	if (permissions.includes("admin") && user.role !== "admin") return new ForbiddenError("Only admins can do this");
	return null;
}

/** The error that refuses the calling service (`caller`, null for a node's own call) an internal action, or null when allowed. */
export function callerError(action: string, callers: InternalCaller[] | undefined, caller: string | null): Error | null {
	if (!callers) return null;
	const who = caller ?? "operator";
	return (callers as string[]).includes(who) ? null : new ForbiddenError(`${action} is internal: ${who} may not call it (only ${callers.join(", ")})`);
}

export const PermissionsMiddleware: Middleware = {
	localAction(handler: ActionHandler, action: ActionSchema) {
		const { permissions, callers } = action;
		if (!permissions?.length && !callers) return handler;
		return function checkPermissions(ctx: Context<unknown, RequestMeta>) {
			const refused = callerError(action.name!, callers, ctx.caller) ?? permissionError(permissions, ctx.meta.user);
			// Rejected, not thrown: callers of broker.call expect a promise either way.
			return refused ? Promise.reject(refused) : handler(ctx);
		};
	},
};
