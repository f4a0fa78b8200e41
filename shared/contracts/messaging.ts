/**
 * Names of what services tell each other without a reply: durable channels
 * (RabbitMQ, at least once; consumers are idempotent) and Moleculer events
 * (at most once; notifications to people and cache cleaning). The payloads
 * live beside each area's actions.
 */

export const Channels = {
	orderCreated: "orders.created",
	paymentSettled: "payments.settled",
} as const;

export type DurableChannel = (typeof Channels)[keyof typeof Channels];

/**
 * Who consumes each durable channel (the @moleculer/channels group). The
 * publisher declares these queues too, so a message published before its
 * consumer has ever started waits in the queue instead of being dropped.
 */
export const ChannelConsumers = {
	[Channels.orderCreated]: ["payment"],
	[Channels.paymentSettled]: ["order"],
} as const satisfies Record<DurableChannel, readonly string[]>;

export const Events = {
	productChanged: "product.changed",
	productUnavailable: "product.unavailable",
	productBackInStock: "product.backInStock",
	orderStatus: "order.status",
	paymentStatus: "payment.status",
} as const;

/** What a socket.io client receives: the fact, with an id to ask for what it missed. */
export interface Notification<T> {
	id: string;
	event: string;
	data: T;
	at: string;
}
