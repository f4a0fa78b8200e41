import type { ServiceSchema } from "moleculer";
import { AuthActions, LogsActions, OrderActions, PaymentActions, ProductActions, WebsocketActions, type ActionContract } from "../shared/contracts.js";
import AuthService from "./auth/auth.service.js";
import LogsService from "./logs/logs.service.js";
import OrderService from "./order/order.service.js";
import PaymentService from "./payment/payment.service.js";
import ProductService from "./product/product.service.js";
import WebsocketService from "./websocket/websocket.service.js";

/** Each service beside the contract of its actions (shared/contracts/). */
const implementations = [
	{ service: AuthService, contract: AuthActions },
	{ service: ProductService, contract: ProductActions },
	{ service: OrderService, contract: OrderActions },
	{ service: PaymentService, contract: PaymentActions },
	{ service: LogsService, contract: LogsActions },
	{ service: WebsocketService, contract: WebsocketActions },
].map(({ service, contract }) => ({ name: service.name, service: service as ServiceSchema, contract: contract as Record<string, ActionContract> }));

describe.each(implementations)("the $name service", ({ service, contract }) => {
	const declared = (service.actions ?? {}) as Record<string, { params?: unknown }>;

	it("declares every action of its contract, validated by the contract's own params schema", () => {
		for (const action of Object.values(contract)) {
			const [serviceName, actionName] = action.name.split(".");
			expect(serviceName).toBe(service.name);
			// The very object: a schema copied into the service could drift from the contract's types.
			expect({ action: action.name, sameParams: declared[actionName]?.params === action.params }).toEqual({ action: action.name, sameParams: true });
		}
	});

	it("declares no action outside its contract", () => {
		const contracted = Object.values(contract).map((action) => action.name);
		expect(
			Object.keys(declared)
				.map((name) => `${service.name}.${name}`)
				.sort(),
		).toEqual(contracted.sort());
	});
});
