import { MessageSigner, SIGNATURE_HEADER } from "./message-signing.js";

const OLD = "old-secret-old-secret-old-secret-0123456789";
const NEW = "new-secret-new-secret-new-secret-0123456789";
const EXCHANGE = "shop.payments.settled";
const body = Buffer.from(JSON.stringify({ orderId: "o-1", status: "succeeded" }));

describe("MessageSigner", () => {
	const signer = new MessageSigner({ secret: NEW });
	const signed = (value = signer.sign(EXCHANGE, body)) => ({ [SIGNATURE_HEADER]: value, "x-outbox-id": "payments:1" });

	it("signs the exchange and the exact body bytes: v1.<key id>.<HMAC-SHA256, base64url>", () => {
		expect(signer.sign(EXCHANGE, body)).toMatch(/^v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]{43}$/);
		expect(signer.verify(EXCHANGE, body, signed())).toEqual({ valid: true });
		// The same on every node that holds the secret.
		expect(new MessageSigner({ secret: NEW }).verify(EXCHANGE, body, signed())).toEqual({ valid: true });
	});

	it("refuses a message with no signature, one that is not a signature, or one that does not match", () => {
		expect(signer.verify(EXCHANGE, body, undefined)).toEqual({ valid: false, failure: "missing" });
		expect(signer.verify(EXCHANGE, body, { "x-outbox-id": "payments:1" })).toEqual({ valid: false, failure: "missing" });
		for (const bad of [42, Buffer.from("v1"), "v1", "v2.00000000.AAAA", "v1.a.b.c"]) {
			expect(signer.verify(EXCHANGE, body, { [SIGNATURE_HEADER]: bad })).toEqual({ valid: false, failure: "malformed" });
		}
		expect(signer.verify(EXCHANGE, body, { [SIGNATURE_HEADER]: "v1.00000000.AAAA" })).toEqual({ valid: false, failure: "unknown-secret" });
		// Another body, another channel, another namespace, a truncated or altered MAC.
		const altered = Buffer.from(body);
		altered[altered.length - 3] ^= 1;
		expect(signer.verify(EXCHANGE, altered, signed())).toEqual({ valid: false, failure: "mismatch" });
		expect(signer.verify("shop.orders.created", body, signed())).toEqual({ valid: false, failure: "mismatch" });
		expect(signer.verify("staging.payments.settled", body, signed())).toEqual({ valid: false, failure: "mismatch" });
		const value = signer.sign(EXCHANGE, body);
		expect(signer.verify(EXCHANGE, body, signed(value.slice(0, -2)))).toEqual({ valid: false, failure: "mismatch" });
		expect(signer.verify(EXCHANGE, body, signed(`${value.slice(0, -1)}${value.endsWith("A") ? "B" : "A"}`))).toEqual({ valid: false, failure: "mismatch" });
	});

	it("tells a secret it does not accept from a forgery, and accepts previous secrets during a rotation", () => {
		const old = new MessageSigner({ secret: OLD });
		const rotating = new MessageSigner({ secret: NEW, previousSecrets: [OLD] });
		expect(signer.verify(EXCHANGE, body, signed(old.sign(EXCHANGE, body)))).toEqual({ valid: false, failure: "unknown-secret" });
		expect(rotating.verify(EXCHANGE, body, signed(old.sign(EXCHANGE, body)))).toEqual({ valid: true });
		expect(rotating.verify(EXCHANGE, body, signed(signer.sign(EXCHANGE, body)))).toEqual({ valid: true });
		// A node still on the old secret alone does not accept the new one.
		expect(old.verify(EXCHANGE, body, signed(rotating.sign(EXCHANGE, body)))).toEqual({ valid: false, failure: "unknown-secret" });
		// A rotating node signs with its current secret, as a node on that secret alone does.
		expect(rotating.sign(EXCHANGE, body)).toBe(signer.sign(EXCHANGE, body));
	});
});
