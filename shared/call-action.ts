import type { CallingOptions } from "moleculer";
import type { ActionContract, CallParamsOf, ResultOf } from "./contracts.js";

/** A context (calls inside a request, traced with it) or the broker (calls of its own). */
interface Caller {
	call<T, P>(actionName: string, params?: P, opts?: CallingOptions): Promise<T>;
}

/** Calls an action of the contract: its name, its params and its answer's type come from one declaration. */
export function callAction<A extends ActionContract>(caller: Caller, action: A, params: CallParamsOf<A>, opts?: CallingOptions): Promise<ResultOf<A>> {
	return caller.call<ResultOf<A>, CallParamsOf<A>>(action.name, params, opts);
}
