import type { ActionHandler, ActionSchema, Context, Middleware } from "moleculer";
import type { RequestMeta } from "../contracts.js";
import { ForbiddenError, UnauthorizedError } from "../errors.js";

/**
 * Who may call an action is declared on the action (`permissions`) and checked
 * here, on the node that runs the action, so a route added to the gateway can
 * never bypass it. Actions without `permissions` are public or internal.
 */
export type Permission = "authenticated" | "admin";

declare module "moleculer" {
	interface ActionSchema {
		permissions?: Permission[];
	}
}

export const PermissionsMiddleware: Middleware = {
	localAction(handler: ActionHandler, action: ActionSchema) {
		const permissions = action.permissions as Permission[] | undefined;
		if (!permissions?.length) return handler;
		return function checkPermissions(ctx: Context<unknown, RequestMeta>) {
			const user = ctx.meta.user;
			// Rejected, not thrown: callers of broker.call expect a promise either way.
			if (!user) return Promise.reject(new UnauthorizedError("UNAUTHORIZED", "Log in to do this"));
			if (permissions.includes("admin") && user.role !== "admin") return Promise.reject(new ForbiddenError("Only admins can do this"));
			return handler(ctx);
		};
	},
};
