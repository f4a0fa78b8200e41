import type { CallingOptions, Service } from "moleculer";
import type { ActionContract, CallParamsOf, ResultOf } from "./contracts.js";

/** Whatever can call an action: a context (a call inside a request, traced with it), or a broker (a node's own call). */
interface Calls {
	call<T, P>(actionName: string, params?: P, opts?: CallingOptions): Promise<T>;
}

/**
 * Who calls: a context, a broker, or a service calling outside any request (a
 * timer, a channel handler), which is named as the caller so that an internal
 * action's `callers` (shared/middlewares/permissions.middleware.ts) know it.
 */
export type Caller = Calls | Service;

const isService = (caller: Caller): caller is Service => "fullName" in caller;

/** Calls an action of the contract: its name, its params and its answer's type come from one declaration. */
export function callAction<A extends ActionContract>(caller: Caller, action: A, params: CallParamsOf<A>, opts?: CallingOptions): Promise<ResultOf<A>> {
	if (isService(caller)) return caller.broker.call<ResultOf<A>, CallParamsOf<A>>(action.name, params, { caller: caller.fullName, ...opts });
	return caller.call<ResultOf<A>, CallParamsOf<A>>(action.name, params, opts);
}
