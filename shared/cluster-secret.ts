import { hkdfSync } from "node:crypto";

/**
 * The cluster secret and the keys made from it.
 *
 * Every node of a cluster holds the same secret (CLUSTER_SECRET); holding it
 * is what makes a process a member. It never goes on the wire and is never
 * used as a key itself: each use gets a key of its own, derived with
 * HKDF-SHA256 under a purpose label, so the transporter's AES key is not the
 * channels' HMAC key, and learning one reveals neither the other nor the
 * secret.
 *
 * A secret is named on the wire by a 4-byte key id, derived under a label of
 * its own (so it reveals nothing of the keys). It lets a receiver pick the key
 * at once among the secrets it accepts, and tell "made with a secret this node
 * does not know" (a node with another CLUSTER_SECRET, a rotation step skipped)
 * from "forged or corrupted".
 *
 * HKDF does not stretch a weak secret: the secret must be random (at least 32
 * characters, e.g. `openssl rand -base64 48`), not a password.
 */

export const CLUSTER_SECRET_MIN_LENGTH = 32;

/** CLUSTER_SECRET, and CLUSTER_SECRET_PREVIOUS during a rotation. */
export interface ClusterSecrets {
	secret: string;
	previousSecrets: readonly string[];
}

/** What a key is for; each purpose derives a different key from the same secret. */
export type KeyPurpose = "transit" | "channel-signing";

export interface ClusterKey {
	/** The secret's key id, 4 bytes: the same for every purpose. */
	id: Buffer;
	/** The 32-byte key of the keyring's purpose. */
	key: Buffer;
}

/** The keys of one purpose: the current secret's, used to seal or sign, and every accepted secret's, by key id (hex). */
export interface ClusterKeyring {
	current: ClusterKey;
	accepted: ReadonlyMap<string, ClusterKey>;
}

const KEY_ID_BYTES = 4;

/**
 * The keyring of `purpose`: sealing or signing with `secret`; accepting
 * `secret` and each of `previousSecrets` (a rotation in progress). Throws if a
 * secret is shorter than CLUSTER_SECRET_MIN_LENGTH.
 */
export function clusterKeyring(purpose: KeyPurpose, secret: string, previousSecrets: readonly string[] = []): ClusterKeyring {
	const current = clusterKey(purpose, checked(secret, "The cluster secret"));
	const accepted = new Map([[current.id.toString("hex"), current]]);
	for (const previous of previousSecrets) {
		if (previous === secret) continue;
		const key = clusterKey(purpose, checked(previous, "Each previous cluster secret"));
		const id = key.id.toString("hex");
		// Two different secrets with the same 32-bit id: one in four billion, but then one would shadow the other.
		if (accepted.has(id)) throw new Error(`Two cluster secrets have the same key id (${id}); make a new one`);
		accepted.set(id, key);
	}
	return { current, accepted };
}

function clusterKey(purpose: KeyPurpose, secret: string): ClusterKey {
	return { id: derive(secret, "key-id", KEY_ID_BYTES), key: derive(secret, purpose, 32) };
}

function derive(secret: string, label: string, length: number): Buffer {
	return Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), `moleculer-shop ${label} v1`, length));
}

function checked(secret: string, what: string): string {
	if (secret.length < CLUSTER_SECRET_MIN_LENGTH) {
		throw new Error(`${what} must be at least ${CLUSTER_SECRET_MIN_LENGTH} characters (make one with: openssl rand -base64 48)`);
	}
	return secret;
}
