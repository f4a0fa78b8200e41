import { createCipheriv, createDecipheriv, createSecretKey, hkdfSync, randomBytes, randomFillSync, type KeyObject } from "node:crypto";
import type { Middleware, ServiceBroker } from "moleculer";
import { clusterKeyring, type ClusterKey, type ClusterKeyring } from "../cluster-secret.js";
import { RateLimitedWarnings } from "../rate-limited-warnings.js";

/**
 * The cluster's trust boundary on the transporter: every Moleculer packet
 * (requests, responses, events, discovery, heartbeats) is sealed with
 * AES-256-GCM under a key derived from the cluster secret
 * (../cluster-secret.ts), and a packet that does not open is dropped before it
 * is deserialized. A process that reaches RabbitMQ without the secret cannot
 * join the cluster: its INFO packets are dropped, so nobody discovers its
 * services or routes calls to them; it cannot read the cluster's packets (a
 * rogue `auth` service never sees a password), so it discovers nothing, and
 * every packet it forges, replays from another namespace or alters is
 * dropped.
 *
 * Why not Moleculer's own `Middlewares.Transmit.Encryption`: it is
 * aes-256-cbc, which only hides, and does not authenticate. A packet sealed
 * with a wrong key or altered on the way decrypts to garbage that reaches the
 * serializer (which throws, or, for a flipped byte in a later block, parses a
 * changed packet); its key comes from `crypto.createCipher`'s MD5-based
 * password derivation (deprecated, gone in Node 22), and its IV is either
 * derived from the password or one fixed IV for every packet, so equal packets
 * encrypt alike.
 *
 * A sealed packet:
 *
 *     version (1) · key id (4) · session salt (16) · sent at, ms (8) · IV (12) · ciphertext · GCM tag (16)
 *
 * - key id: which cluster secret sealed it. A node seals with its current
 *   secret and opens with it or any previous one (a rotation in progress).
 * - session salt: each node derives a session key of its own from the cluster
 *   key (HKDF, the salt chosen at random when it starts, and again every 2^28
 *   packets). Random 96-bit IVs under one key must stay well under 2^32
 *   packets to keep the chance of a repeated IV (which reveals the XOR of two
 *   packets and lets packets be forged) negligible, and a whole cluster
 *   sealing under one key for months would not; per session the chance stays
 *   under 2^-40.
 * - sent at: a packet older (or newer) than `maxPacketAgeMs` is dropped, so a
 *   packet recorded off RabbitMQ cannot be replayed later (a request from a
 *   gateway, say, to place an order again). Within that window a replay is
 *   possible; the nodes' clocks must agree within it.
 * - The header, the packet type (REQ, EVENT, INFO…) and the namespace are
 *   authenticated data: a sealed request cannot be delivered as an event, nor
 *   a packet of one namespace in another one sharing the secret.
 *
 * Drops are logged as warnings limited to one per reason per minute, with the
 * count since the last one; never with the packet, which is not trusted.
 *
 * In the broker's `middlewares`, put it before any other transmit middleware
 * (such as Compression): the first one listed is the closest to the wire, and
 * sealing must be the last step before it.
 */

export interface ClusterAuthOptions {
	/** The cluster secret (CLUSTER_SECRET), at least 32 characters; packets are sealed with it. */
	secret: string;
	/** Secrets still accepted when opening packets (CLUSTER_SECRET_PREVIOUS), during a rotation. */
	previousSecrets?: readonly string[];
	/** Where drops are reported; the broker's `cluster-auth` logger by default. */
	logger?: { info(...args: unknown[]): void; warn(...args: unknown[]): void };
	/** A packet sent longer ago than this (or dated this far ahead, a clock off) is dropped. */
	maxPacketAgeMs?: number;
}

export const DEFAULT_MAX_PACKET_AGE_MS = 120_000;

/** Why a received packet was dropped. */
export type DropReason = "unsealed" | "unknown-secret" | "forged" | "stale";

export type Opened = { ok: true; packet: Buffer } | { ok: false; reason: DropReason };

const VERSION = 1;
const KEY_ID_BYTES = 4;
const SALT_BYTES = 16;
const TIME_BYTES = 8;
const HEADER_BYTES = 1 + KEY_ID_BYTES + SALT_BYTES + TIME_BYTES;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** What sealing adds to a packet. */
export const SEALING_OVERHEAD = HEADER_BYTES + IV_BYTES + TAG_BYTES;
const SESSION_PACKETS = 2 ** 28;
/** Session keys of other nodes kept derived; one per live sender session is enough, more only saves a derivation. */
const SESSION_CACHE_SIZE = 1024;
/** IVs drawn from the CSPRNG at once: one call per packet costs more than the encryption itself. */
const IV_POOL_SIZE = 1024;

interface Session {
	header: Buffer; // version, key id and salt: the first bytes of every packet it seals
	key: KeyObject;
	sealed: number;
}

/**
 * Seals and opens packets of one namespace. The middleware uses one per
 * broker; tests use one to build packets as a member would.
 */
export class TransitSealer {
	private session: Session;
	/** Session keys of senders whose packets authenticated, by key id and salt (hex). */
	private readonly sessions = new Map<string, KeyObject>();
	private readonly namespace: Buffer;
	private readonly maxPacketAgeMs: number;
	/** Packets sealed under one session key before the next. */
	private readonly sessionPackets: number;
	/** Random bytes for the next IVs; IVs are public, only their randomness matters. */
	private readonly ivPool = Buffer.allocUnsafe(IV_POOL_SIZE * IV_BYTES);
	private ivOffset = this.ivPool.length;

	constructor(
		private readonly keyring: ClusterKeyring,
		namespace: string,
		{ maxPacketAgeMs = DEFAULT_MAX_PACKET_AGE_MS, sessionPackets = SESSION_PACKETS }: { maxPacketAgeMs?: number; sessionPackets?: number } = {},
	) {
		this.namespace = Buffer.from(namespace);
		this.maxPacketAgeMs = maxPacketAgeMs;
		this.sessionPackets = sessionPackets;
		this.session = this.newSession();
	}

	/** The hex key id of the secret this sealer seals with. */
	get keyId(): string {
		return this.keyring.current.id.toString("hex");
	}

	seal(type: string, packet: Buffer, sentAt = Date.now()): Buffer {
		if (this.session.sealed >= this.sessionPackets) this.session = this.newSession();
		this.session.sealed++;
		const header = Buffer.allocUnsafe(HEADER_BYTES);
		this.session.header.copy(header);
		header.writeBigUInt64BE(BigInt(sentAt), HEADER_BYTES - TIME_BYTES);
		if (this.ivOffset === this.ivPool.length) {
			randomFillSync(this.ivPool);
			this.ivOffset = 0;
		}
		// Copied into the sealed packet below, before the pool is drawn from again.
		const iv = this.ivPool.subarray(this.ivOffset, (this.ivOffset += IV_BYTES));
		const cipher = createCipheriv("aes-256-gcm", this.session.key, iv);
		cipher.setAAD(this.authenticatedData(header, type));
		return Buffer.concat([header, iv, cipher.update(packet), cipher.final(), cipher.getAuthTag()]);
	}

	open(type: string, sealed: Buffer, now = Date.now()): Opened {
		if (sealed.length < SEALING_OVERHEAD || sealed[0] !== VERSION) return { ok: false, reason: "unsealed" };
		const root = this.keyring.accepted.get(sealed.toString("hex", 1, 1 + KEY_ID_BYTES));
		if (!root) return { ok: false, reason: "unknown-secret" };
		const sessionId = sealed.toString("hex", 1, 1 + KEY_ID_BYTES + SALT_BYTES);
		const key = this.sessions.get(sessionId) ?? sessionKey(root, sealed.subarray(1 + KEY_ID_BYTES, 1 + KEY_ID_BYTES + SALT_BYTES));
		const header = sealed.subarray(0, HEADER_BYTES);
		const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(HEADER_BYTES, HEADER_BYTES + IV_BYTES), { authTagLength: TAG_BYTES });
		decipher.setAAD(this.authenticatedData(header, type));
		decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
		let packet: Buffer;
		try {
			packet = Buffer.concat([decipher.update(sealed.subarray(HEADER_BYTES + IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
		} catch {
			return { ok: false, reason: "forged" };
		}
		// Kept only once authentic, so forged packets with made-up salts cannot crowd out real senders.
		if (!this.sessions.has(sessionId)) {
			if (this.sessions.size >= SESSION_CACHE_SIZE) this.sessions.delete(this.sessions.keys().next().value as string);
			this.sessions.set(sessionId, key);
		}
		const sentAt = Number(header.readBigUInt64BE(HEADER_BYTES - TIME_BYTES));
		if (Math.abs(now - sentAt) > this.maxPacketAgeMs) return { ok: false, reason: "stale" };
		return { ok: true, packet };
	}

	private newSession(): Session {
		const { current } = this.keyring;
		const salt = randomBytes(SALT_BYTES);
		return { header: Buffer.concat([Buffer.of(VERSION), current.id, salt]), key: sessionKey(current, salt), sealed: 0 };
	}

	private authenticatedData(header: Buffer, type: string): Buffer {
		return Buffer.concat([header, Buffer.from(`${type}\0`), this.namespace]);
	}
}

function sessionKey(root: ClusterKey, salt: Buffer): KeyObject {
	return createSecretKey(Buffer.from(hkdfSync("sha256", root.key, salt, "moleculer-shop transit session v1", 32)));
}

const DROPPED_BECAUSE: Record<DropReason, string> = {
	unsealed: "not sealed (a node without the cluster secret?)",
	"unknown-secret": "sealed with a cluster secret this node does not accept (CLUSTER_SECRET not the same on every node, or a rotation step skipped?)",
	forged: "that did not authenticate (forged or corrupted)",
	stale: "that authenticated but were sent too long ago or dated ahead (replayed, or the nodes' clocks differ?)",
};

/** What the transporter hands to `transporterSend`'s next: the packet it serialized, as Moleculer 0.14 passes it. */
type Send = (topic: string, data: Buffer, meta: { packet: { type: string } }) => Promise<void>;
type Receive = (cmd: string, data: Buffer, s?: unknown) => unknown;

/**
 * The transit middleware: `ClusterAuthMiddleware({ secret, previousSecrets })`
 * in the broker's `middlewares`, on every node of the cluster.
 */
export function ClusterAuthMiddleware({ secret, previousSecrets = [], logger, maxPacketAgeMs }: ClusterAuthOptions): Middleware {
	// Checked here, when the configuration is built, rather than when the first packet goes out.
	const keyring = clusterKeyring("transit", secret, previousSecrets);
	// Both set in `created`, which Moleculer runs before the transporter connects.
	let sealer: TransitSealer;
	let drops: RateLimitedWarnings;

	const middleware = {
		name: "ClusterAuth",

		created(broker: ServiceBroker) {
			const log = logger ?? broker.getLogger("cluster-auth");
			sealer = new TransitSealer(keyring, broker.namespace, { maxPacketAgeMs });
			drops = new RateLimitedWarnings((message) => log.warn(message));
			const others = [...keyring.accepted.keys()].filter((id) => id !== sealer.keyId);
			log.info(
				`Transporter packets are sealed with AES-256-GCM under cluster secret ${sealer.keyId}` +
					(others.length ? `; packets sealed under ${others.join(", ")} are accepted too` : ""),
			);
		},

		transporterSend(next: Send): Send {
			return (topic, data, meta) => {
				try {
					return next(topic, sealer.seal(meta.packet.type, data), meta);
				} catch (err) {
					// amqplib throws, rather than rejects, on a channel that is closing; a heartbeat
					// that Moleculer's timer sends as the broker stops would end the process with
					// an unhandled rejection. Lost like any packet sent while disconnected.
					if (err instanceof Error && err.name === "IllegalOperationError") return Promise.resolve();
					throw err;
				}
			};
		},

		transporterReceive(next: Receive): Receive {
			return (cmd, data, s) => {
				const opened = sealer.open(cmd, data);
				if (opened.ok) return next(cmd, opened.packet, s);
				drops.report(opened.reason, `Cluster auth: dropped transporter packets ${DROPPED_BECAUSE[opened.reason]}`, cmd);
				// Nothing to wait for: the transporter acknowledges the message, so RabbitMQ forgets it.
				return undefined;
			};
		},

		stopped() {
			drops.stop();
		},
	};
	// Moleculer's Middleware type allows only hooks taking a handler, a service or the broker, not the transmit hooks' functions or a name.
	return middleware as unknown as Middleware;
}
