import { createHmac, timingSafeEqual } from "node:crypto";
import { clusterKeyring, type ClusterKeyring } from "../cluster-secret.js";

/**
 * Signed durable messages. The durable channels (./topology.ts) travel
 * through RabbitMQ exchanges, outside the transporter and so outside its
 * sealing (../middlewares/cluster-auth.middleware.ts): whoever can publish to
 * `<ns>.payments.settled` could otherwise mark an unpaid order paid, and to
 * `<ns>.orders.created` have a payment made for an order that does not exist.
 *
 * Each message carries an HMAC-SHA256, under a key derived from the cluster
 * secret (../cluster-secret.ts, purpose "channel-signing"), over the channel's
 * exchange name (`<namespace>.<channel>`, so a fact of one channel or
 * namespace cannot be passed off as another's) and the exact body bytes, in
 * the `x-signature` header: `v1.<key id>.<base64url MAC>`. ConfirmedPublisher
 * signs what the outbox relay publishes, ResilientAmqpAdapter what
 * `sendToChannel` publishes, and the adapter checks every message before its
 * handler runs (shared/channels-amqp-adapter.ts).
 *
 * Only the body and the channel are signed, not the other headers: consumers
 * read nothing else (no channel here has `context: true`, whose `$meta`
 * header would become ctx.meta, unsigned).
 *
 * No timestamp: a fact legitimately waits in its queue for as long as its
 * consumer is down, so no age can be refused; a replayed genuine message is
 * harmless, since every consumer is idempotent (docs/decisions.md, 4).
 *
 * The in-process "Fake" adapter (no TRANSPORTER) needs none of this: its
 * messages are Moleculer events that never leave the process. Should it ever
 * run with a transporter, those events cross the transporter, sealed.
 */

export const SIGNATURE_HEADER = "x-signature";

const VERSION = "v1";

export type SignatureFailure = "missing" | "malformed" | "unknown-secret" | "mismatch";

export type SignatureCheck = { valid: true } | { valid: false; failure: SignatureFailure };

export interface MessageSignerOptions {
	/** The cluster secret (CLUSTER_SECRET): messages are signed with it. */
	secret: string;
	/** Secrets whose signatures are still accepted (CLUSTER_SECRET_PREVIOUS), during a rotation. */
	previousSecrets?: readonly string[];
}

export class MessageSigner {
	private readonly keyring: ClusterKeyring;

	constructor({ secret, previousSecrets }: MessageSignerOptions) {
		this.keyring = clusterKeyring("channel-signing", secret, previousSecrets);
	}

	/** The `x-signature` header of `body` published to `exchange`. */
	sign(exchange: string, body: Buffer): string {
		const { id, key } = this.keyring.current;
		return `${VERSION}.${id.toString("hex")}.${mac(key, exchange, body).toString("base64url")}`;
	}

	/** Whether `headers` carry a signature of `body` on `exchange` by an accepted secret. */
	verify(exchange: string, body: Buffer, headers: Record<string, unknown> | undefined): SignatureCheck {
		const value = headers?.[SIGNATURE_HEADER];
		if (value === undefined || value === null) return { valid: false, failure: "missing" };
		const parts = typeof value === "string" ? value.split(".") : [];
		if (parts.length !== 3 || parts[0] !== VERSION) return { valid: false, failure: "malformed" };
		const signer = this.keyring.accepted.get(parts[1]);
		if (!signer) return { valid: false, failure: "unknown-secret" };
		const given = Buffer.from(parts[2], "base64url");
		const expected = mac(signer.key, exchange, body);
		if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { valid: false, failure: "mismatch" };
		return { valid: true };
	}
}

export function describeSignatureFailure(failure: SignatureFailure): string {
	switch (failure) {
		case "missing":
			return "carry no signature";
		case "malformed":
			return "carry a signature that is not one";
		case "unknown-secret":
			return "are signed with a cluster secret this node does not accept (CLUSTER_SECRET not the same on every node, or a rotation step skipped?)";
		case "mismatch":
			return "carry a signature that does not match (forged or altered)";
	}
}

/** HMAC-SHA256 over the exchange name (length-prefixed, so no name/body split is ambiguous) and the body. */
function mac(key: Buffer, exchange: string, body: Buffer): Buffer {
	const name = Buffer.from(exchange);
	const length = Buffer.alloc(4);
	length.writeUInt32BE(name.length);
	return createHmac("sha256", key).update(`moleculer-shop channel ${VERSION}\0`).update(length).update(name).update(body).digest();
}
