/**
 * What crosses a service boundary, by area: each action's name and params
 * schema (from which its TypeScript types are derived, shared/contracts/params.ts),
 * results, event payloads and durable channel messages. Callers, handlers and
 * tests all import from here.
 */
export * from "./contracts/auth.js";
export * from "./contracts/common.js";
export * from "./contracts/logs.js";
export * from "./contracts/messaging.js";
export * from "./contracts/order.js";
export * from "./contracts/params.js";
export * from "./contracts/payment.js";
export * from "./contracts/product.js";
export * from "./contracts/websocket.js";
