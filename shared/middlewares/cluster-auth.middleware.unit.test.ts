import { jest } from "@jest/globals";
import type { ServiceBroker } from "moleculer";
import { clusterKeyring } from "../cluster-secret.js";
import { ClusterAuthMiddleware, DEFAULT_MAX_PACKET_AGE_MS, SEALING_OVERHEAD, TransitSealer } from "./cluster-auth.middleware.js";

const OLD = "old-secret-old-secret-old-secret-0123456789";
const NEW = "new-secret-new-secret-new-secret-0123456789";
const packet = Buffer.from(JSON.stringify({ ver: "4", sender: "node-1", action: "auth.login", params: { email: "a@b.c", password: "hunter2hunter2" } }));
const sealer = (secret = NEW, previous: string[] = [], namespace = "shop") => new TransitSealer(clusterKeyring("transit", secret, previous), namespace);

describe("TransitSealer", () => {
	it("seals a packet so that nothing of it shows, with a fresh IV each time, and opens it again", () => {
		const node = sealer();
		const sealed = node.seal("REQ", packet);
		expect(sealed).toHaveLength(packet.length + SEALING_OVERHEAD);
		expect(sealed.includes(Buffer.from("hunter2"))).toBe(false);
		expect(sealed.includes(Buffer.from("auth.login"))).toBe(false);
		expect(node.seal("REQ", packet).equals(sealed)).toBe(false);
		// IVs come from a pool refilled from the CSPRNG: never one twice, across refills too.
		const ivs = new Set(Array.from({ length: 3000 }, () => node.seal("REQ", packet).toString("hex", 29, 41)));
		expect(ivs.size).toBe(3000);
		// Another node with the same secret opens it.
		expect(sealer().open("REQ", sealed)).toEqual({ ok: true, packet });
	});

	it("drops a packet with any one byte flipped: the header names its failure, the rest does not authenticate", () => {
		const node = sealer();
		const sealed = node.seal("EVENT", packet);
		const reasons = new Set<string>();
		for (let i = 0; i < sealed.length; i++) {
			const flipped = Buffer.from(sealed);
			flipped[i] ^= 0x01;
			const opened = node.open("EVENT", flipped);
			expect(opened.ok).toBe(false);
			if (!opened.ok) reasons.add(`${i < 1 ? "version" : i < 5 ? "key id" : "rest"}: ${opened.reason}`);
		}
		expect([...reasons].sort()).toEqual(["key id: unknown-secret", "rest: forged", "version: unsealed"]);
	});

	it("drops a packet opened as another packet type, in another namespace, or sealed with another secret", () => {
		const sealed = sealer().seal("REQ", packet);
		expect(sealer().open("EVENT", sealed)).toEqual({ ok: false, reason: "forged" });
		expect(sealer(NEW, [], "staging").open("REQ", sealed)).toEqual({ ok: false, reason: "forged" });
		expect(sealer(OLD).open("REQ", sealed)).toEqual({ ok: false, reason: "unknown-secret" });
	});

	it("drops what was never sealed: a foreign node's JSON, an empty or short buffer", () => {
		const node = sealer();
		expect(node.open("INFO", packet)).toEqual({ ok: false, reason: "unsealed" });
		expect(node.open("INFO", Buffer.alloc(0))).toEqual({ ok: false, reason: "unsealed" });
		expect(node.open("INFO", node.seal("INFO", packet).subarray(0, SEALING_OVERHEAD - 1))).toEqual({ ok: false, reason: "unsealed" });
	});

	it("drops an authentic packet sent longer ago, or dated further ahead, than the maximum age", () => {
		const node = sealer();
		const now = Date.now();
		const at = (sentAt: number) => node.open("REQ", node.seal("REQ", packet, sentAt), now);
		expect(at(now - DEFAULT_MAX_PACKET_AGE_MS)).toEqual({ ok: true, packet });
		expect(at(now + DEFAULT_MAX_PACKET_AGE_MS)).toEqual({ ok: true, packet });
		expect(at(now - DEFAULT_MAX_PACKET_AGE_MS - 1)).toEqual({ ok: false, reason: "stale" });
		expect(at(now + DEFAULT_MAX_PACKET_AGE_MS + 1)).toEqual({ ok: false, reason: "stale" });
	});

	it("opens packets sealed with a previous secret, and seals with the current one", () => {
		const rotating = sealer(NEW, [OLD]);
		expect(rotating.open("INFO", sealer(OLD).seal("INFO", packet))).toEqual({ ok: true, packet });
		expect(sealer().open("INFO", rotating.seal("INFO", packet))).toEqual({ ok: true, packet });
		expect(sealer(OLD).open("INFO", rotating.seal("INFO", packet))).toEqual({ ok: false, reason: "unknown-secret" });
	});

	it("takes a new session key after so many packets, which receivers open alike", () => {
		const node = new TransitSealer(clusterKeyring("transit", NEW), "shop", { sessionPackets: 2 });
		const receiver = sealer();
		const sealed = [1, 2, 3].map(() => node.seal("HEARTBEAT", packet));
		const salt = (b: Buffer) => b.toString("hex", 5, 21);
		expect(salt(sealed[1])).toBe(salt(sealed[0]));
		expect(salt(sealed[2])).not.toBe(salt(sealed[0]));
		for (const b of sealed) expect(receiver.open("HEARTBEAT", b)).toEqual({ ok: true, packet });
	});
});

describe("ClusterAuthMiddleware", () => {
	type Send = (topic: string, data: Buffer, meta: { packet: { type: string } }) => Promise<void>;
	type Receive = (cmd: string, data: Buffer, s?: unknown) => unknown;
	interface Hooks {
		created(broker: ServiceBroker): void;
		transporterSend(next: Send): Send;
		transporterReceive(next: Receive): Receive;
		stopped(): void;
	}
	const setUp = (secret = NEW) => {
		const log = { info: [] as string[], warn: [] as string[] };
		const hooks = ClusterAuthMiddleware({
			secret,
			logger: { info: (line: unknown) => log.info.push(String(line)), warn: (line: unknown) => log.warn.push(String(line)) },
		}) as unknown as Hooks;
		hooks.created({ namespace: "shop" } as ServiceBroker);
		return { hooks, log };
	};

	afterEach(() => jest.useRealTimers());

	it("refuses a secret shorter than 32 characters when the configuration is built", () => {
		expect(() => ClusterAuthMiddleware({ secret: "too short" })).toThrow(/at least 32 characters/);
	});

	it("seals what the transporter sends, and hands on what opens, bound to the packet type", async () => {
		const { hooks, log } = setUp();
		const wire: { topic: string; data: Buffer }[] = [];
		const send = hooks.transporterSend(async (topic, data) => void wire.push({ topic, data }));
		await send("MOL-shop.REQB.auth.login", packet, { packet: { type: "REQ" } });
		expect(wire[0].topic).toBe("MOL-shop.REQB.auth.login");
		expect(wire[0].data.includes(Buffer.from("hunter2"))).toBe(false);

		const received: [string, Buffer, unknown][] = [];
		const receive = hooks.transporterReceive((cmd, data, s) => received.push([cmd, data, s]));
		receive("REQ", wire[0].data, "extra");
		expect(received).toEqual([["REQ", packet, "extra"]]);
		expect(log.info).toEqual([expect.stringMatching(/^Transporter packets are sealed with AES-256-GCM under cluster secret [0-9a-f]{8}$/)]);
		expect(log.warn).toEqual([]);
	});

	it("drops a packet sent on a channel that is closing, as amqplib says by throwing, and passes any other error on", async () => {
		const { hooks } = setUp();
		const closing = Object.assign(new Error("Channel closing"), { name: "IllegalOperationError" });
		const throwing = (err: Error) =>
			hooks.transporterSend(() => {
				throw err;
			});
		await expect(throwing(closing)("MOL-shop.HEARTBEAT", packet, { packet: { type: "HEARTBEAT" } })).resolves.toBeUndefined();
		expect(() => throwing(new TypeError("a bug"))("MOL-shop.HEARTBEAT", packet, { packet: { type: "HEARTBEAT" } })).toThrow("a bug");
	});

	it("never hands on a packet that does not open, and warns once per reason a minute, without the packet", async () => {
		jest.useFakeTimers();
		const { hooks, log } = setUp();
		const other = setUp(OLD).hooks;
		let foreign: Buffer = Buffer.alloc(0);
		await other.transporterSend(async (_topic, data) => void (foreign = data))("MOL-shop.INFO", packet, { packet: { type: "INFO" } });
		const receive = hooks.transporterReceive(() => {
			throw new Error("a packet that does not open was handed on");
		});
		for (let i = 0; i < 100; i++) expect(receive("REQ", packet)).toBeUndefined();
		for (let i = 0; i < 10; i++) expect(receive("INFO", foreign)).toBeUndefined();
		expect(log.warn).toEqual([
			"Cluster auth: dropped transporter packets not sealed (a node without the cluster secret?) [REQ]; more like it are counted and reported at most every 60 s",
			expect.stringMatching(
				/^Cluster auth: dropped transporter packets sealed with a cluster secret this node does not accept .* \[INFO\]; more like it/,
			),
		]);
		jest.advanceTimersByTime(60_000);
		expect(log.warn.slice(2)).toEqual([
			"Cluster auth: dropped transporter packets not sealed (a node without the cluster secret?): 99 more since the last report [REQ ×99]",
			expect.stringMatching(/: 9 more since the last report \[INFO ×9\]$/),
		]);
		expect(log.warn.join("\n")).not.toMatch(/hunter2|auth\.login|node-1/);
		hooks.stopped();
		other.stopped();
	});
});
