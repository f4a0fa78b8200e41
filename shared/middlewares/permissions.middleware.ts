import type { ActionHandler, ActionSchema, Context, Middleware } from "moleculer";
import type { AuthUser, RequestMeta } from "../contracts.js";
import { ForbiddenError, UnauthorizedError } from "../errors.js";

/**
 * Who may call an action is declared on the action (`permissions`) and checked
 * here, on the node that runs the action, so a route added to the gateway can
 * never bypass it. Actions without `permissions` are public or internal.
 *
 * Moleculer runs its own middlewares (validator, cacher) before this one, so
 * the gateway also checks the same declaration before calling (see
 * api.service.ts `authorize`): an anonymous caller learns nothing about an
 * admin action's params, and a cached answer is never served to the wrong caller.
 */
export type Permission = "authenticated" | "admin";

declare module "moleculer" {
	interface ActionSchema {
		permissions?: Permission[];
	}
}

/** The error that refuses `user` an action declaring `permissions`, or null when allowed. */
export function permissionError(permissions: Permission[] | undefined, user: AuthUser | null | undefined): Error | null {
	if (!permissions?.length) return null;
	if (!user) return new UnauthorizedError("UNAUTHORIZED", "Log in to do this");
	if (permissions.includes("admin") && user.role !== "admin") return new ForbiddenError("Only admins can do this");
	return null;
}

export const PermissionsMiddleware: Middleware = {
	localAction(handler: ActionHandler, action: ActionSchema) {
		const permissions = action.permissions;
		if (!permissions?.length) return handler;
		return function checkPermissions(ctx: Context<unknown, RequestMeta>) {
			const refused = permissionError(permissions, ctx.meta.user);
			// Rejected, not thrown: callers of broker.call expect a promise either way.
			return refused ? Promise.reject(refused) : handler(ctx);
		};
	},
};
