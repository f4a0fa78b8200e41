import { randomBytes, randomUUID } from "node:crypto";
import amqp from "amqplib";
import { Errors, ServiceBroker, type BrokerOptions, type Context, type ServiceSchema } from "moleculer";
import { testServers } from "../../test/support/servers.js";
import { deleteTransporterTopology } from "../../test/support/transporter-topology.js";
import { waitFor } from "../../test/support/wait-for.js";
import { clusterKeyring } from "../cluster-secret.js";
import { ClusterAuthMiddleware, TransitSealer, type ClusterAuthOptions } from "./cluster-auth.middleware.js";

/**
 * The cluster's trust boundary on the real RabbitMQ: nodes sealing with the
 * same secret form a cluster; a node without it, or with another one, or a
 * packet put on RabbitMQ by hand, reaches nobody.
 */

const secret = () => randomBytes(32).toString("base64url");
const SECRET = secret();
const MARKER = "FORGED-PAYLOAD-MARKER";

let namespace: string;
let brokers: ServiceBroker[];
/** What the middleware of each node warned about, as `<nodeID>: <line>`. */
let warnings: string[];

beforeEach(() => {
	namespace = `trust-${randomBytes(5).toString("hex")}`;
	brokers = [];
	warnings = [];
});

afterEach(async () => {
	await Promise.all(brokers.map((broker) => broker.stop()));
	await deleteTransporterTopology(
		namespace,
		brokers.map((broker) => broker.nodeID),
	);
});

type Auth = Omit<ClusterAuthOptions, "logger">;

/** A node of the test's namespace over the real RabbitMQ, transporter options as moleculer.config.ts sets them; sealing with `auth`, or not at all. */
function node(nodeID: string, auth: Auth | undefined, services: ServiceSchema[] = [], options: BrokerOptions = {}): ServiceBroker {
	const broker = new ServiceBroker({
		namespace,
		nodeID,
		logger: false,
		transporter: { type: "AMQP", options: { url: testServers.amqpUrl, prefetch: 100, socketOptions: { noDelay: true } } },
		heartbeatInterval: 1,
		heartbeatTimeout: 3,
		requestTimeout: 2000,
		middlewares: auth
			? [ClusterAuthMiddleware({ ...auth, logger: { info: () => undefined, warn: (line: unknown) => void warnings.push(`${nodeID}: ${String(line)}`) } })]
			: [],
		...options,
	});
	for (const schema of services) broker.createService(schema);
	brokers.push(broker);
	return broker;
}

/** What the services of a test saw. */
interface Seen {
	hello: string[];
	greetings: unknown[];
	logins: unknown[];
}

function echoService(seen: Seen, name = "echo"): ServiceSchema {
	return {
		name,
		actions: {
			hello: {
				handler(ctx: Context<{ name: string }>) {
					seen.hello.push(ctx.params.name);
					return `hello ${ctx.params.name} from ${ctx.broker.nodeID}`;
				},
			},
		},
		events: {
			"greeting.sent": {
				handler(ctx: Context<unknown>) {
					seen.greetings.push(ctx.params);
				},
			},
		},
	};
}

function authService(seen: Seen): ServiceSchema {
	return {
		name: "auth",
		actions: {
			login(ctx: Context<{ email: string; password: string }>) {
				seen.logins.push(ctx.params);
				return { token: `token from ${ctx.broker.nodeID}` };
			},
		},
	};
}

const nothingSeen = (): Seen => ({ hello: [], greetings: [], logins: [] });

/** The ids of the live nodes a broker knows, itself included. */
async function nodesKnownTo(broker: ServiceBroker): Promise<string[]> {
	const nodes = (await broker.call("$node.list", { onlyAvailable: true })) as { id: string }[];
	return nodes.map((n) => n.id).sort();
}

describe("nodes with the cluster secret", () => {
	it("discover each other, call actions and receive events, and put nothing readable on RabbitMQ", async () => {
		const seen = nothingSeen();
		// A queue of the test's own on the INFO exchange: every node's broadcast description of itself.
		const spy = await amqp.connect(testServers.amqpUrl);
		const channel = await spy.createChannel();
		await channel.assertExchange(`MOL-${namespace}.INFO`, "fanout", {});
		const { queue } = await channel.assertQueue("", { exclusive: true });
		await channel.bindQueue(queue, `MOL-${namespace}.INFO`, "");

		try {
			const a = node("a", { secret: SECRET }, [echoService(seen)]);
			const b = node("b", { secret: SECRET });
			await Promise.all([a.start(), b.start()]);
			await b.waitForServices("echo", 10_000);

			expect(await b.call("echo.hello", { name: "bob" })).toBe("hello bob from a");
			await b.emit("greeting.sent", { to: "alice" });
			await b.broadcast("greeting.sent", { to: "everyone" });
			await waitFor(() => seen.greetings.length === 2, "both events");
			expect(seen.greetings).toEqual(expect.arrayContaining([{ to: "alice" }, { to: "everyone" }]));

			const infos: Buffer[] = [];
			for (let message = await channel.get(queue, { noAck: true }); message; message = await channel.get(queue, { noAck: true }))
				infos.push(message.content);
			expect(infos.length).toBeGreaterThan(0);
			for (const info of infos) {
				expect(info[0]).toBe(1); // the sealing's version, not a JSON "{"
				for (const clear of ["echo.hello", '"sender"', namespace]) expect(info.includes(Buffer.from(clear))).toBe(false);
			}

			// Broker options, as any member may read them remotely, never show the secret.
			expect(JSON.stringify(await b.call("$node.options", {}, { nodeID: "a" }))).not.toContain(SECRET);
			expect(warnings).toEqual([]);
		} finally {
			await spy.close();
		}
	});
});

describe.each([
	["without the secret", undefined],
	["with another secret", { secret: secret() }],
])("a foreign node %s, on the same RabbitMQ and namespace", (_, foreignAuth: Auth | undefined) => {
	it("is never discovered, cannot call the cluster's actions, and its rogue auth service receives no login", async () => {
		const seen = nothingSeen();
		const rogue = nothingSeen();
		const a = node("a", { secret: SECRET }, [echoService(seen), authService(seen)]);
		const gateway = node("gateway", { secret: SECRET });
		const foreign = node("foreign", foreignAuth, [authService(rogue)]);
		await Promise.all([a.start(), gateway.start(), foreign.start()]);
		await gateway.waitForServices(["echo", "auth"], 10_000);

		// Several heartbeats (1 s) and discoveries later, it still knows nobody.
		await expect(foreign.waitForServices("echo", 3_000)).rejects.toThrow(/timed out/i);
		await expect(foreign.call("echo.hello", { name: "mallory" })).rejects.toBeInstanceOf(Errors.ServiceNotFoundError);
		await expect(foreign.call("$node.options", {}, { nodeID: "a" })).rejects.toBeInstanceOf(Errors.ServiceNotFoundError);
		expect(await nodesKnownTo(foreign)).toEqual(["foreign"]);

		// Nor do the cluster's nodes know it: every login goes to the genuine auth service.
		expect(await nodesKnownTo(gateway)).toEqual(["a", "gateway"]);
		const answers = await Promise.all(
			Array.from({ length: 20 }, (_, i) => gateway.call("auth.login", { email: `user${i}@shop.test`, password: "a long password" })),
		);
		expect(answers).toEqual(Array.from({ length: 20 }, () => ({ token: "token from a" })));
		expect(seen.logins).toHaveLength(20);
		expect(rogue.logins).toEqual([]);
		expect(seen.hello).toEqual([]);

		// The cluster's nodes dropped its discovery packets.
		expect(
			warnings.some((line) =>
				/^(a|gateway): Cluster auth: dropped transporter packets (not sealed|sealed with a cluster secret this node does not accept)/.test(line),
			),
		).toBe(true);
	});
});

describe("packets put on RabbitMQ by hand", () => {
	/** A packet as Moleculer 0.14 serializes it (protocol 4), from a sender nobody knows. */
	const eventPacket = (data: object) => ({
		ver: ServiceBroker.PROTOCOL_VERSION,
		sender: "forger",
		id: randomUUID(),
		event: "greeting.sent",
		data,
		groups: ["echo"],
		broadcast: false,
		meta: {},
		level: 1,
		tracing: null,
		parentID: null,
		requestID: randomUUID(),
		caller: null,
		needAck: null,
	});
	const requestPacket = (name: string) => ({
		ver: ServiceBroker.PROTOCOL_VERSION,
		sender: "forger",
		id: randomUUID(),
		action: "echo.hello",
		params: { name },
		meta: {},
		timeout: 0,
		level: 1,
		tracing: null,
		parentID: null,
		requestID: randomUUID(),
		caller: null,
		stream: false,
	});
	const json = (packet: object) => Buffer.from(JSON.stringify(packet));
	const flipped = (sealed: Buffer, at: number) => {
		const copy = Buffer.from(sealed);
		copy[at] ^= 0x01;
		return copy;
	};

	let connection: amqp.ChannelModel;
	let channel: amqp.Channel;

	beforeEach(async () => {
		connection = await amqp.connect(testServers.amqpUrl);
		channel = await connection.createChannel();
	});

	afterEach(async () => {
		await connection.close();
	});

	it("reach a node only when sealed with the cluster secret for that packet type and unaltered; a flipped byte is dropped", async () => {
		const seen = nothingSeen();
		const a = node("a", { secret: SECRET }, [echoService(seen)]);
		await a.start();
		const member = new TransitSealer(clusterKeyring("transit", SECRET), namespace);
		const outsider = new TransitSealer(clusterKeyring("transit", secret()), namespace);
		const events = `MOL-${namespace}.EVENT.a`;
		const requests = `MOL-${namespace}.REQ.a`;

		// In one queue, in order: whatever was going to arrive has arrived once the last one has.
		const sealedEvent = member.seal("EVENT", json(eventPacket({ marker: MARKER, forged: "flipped" })));
		channel.sendToQueue(events, json(eventPacket({ marker: MARKER, forged: "plain" })));
		channel.sendToQueue(events, outsider.seal("EVENT", json(eventPacket({ marker: MARKER, forged: "other secret" }))));
		channel.sendToQueue(events, flipped(sealedEvent, sealedEvent.length - 30));
		channel.sendToQueue(events, member.seal("REQ", json(eventPacket({ marker: MARKER, forged: "sealed as a request" }))));
		channel.sendToQueue(events, member.seal("EVENT", json(eventPacket({ genuine: true }))));
		await waitFor(() => seen.greetings.length > 0, "the genuine event");
		expect(seen.greetings).toEqual([{ genuine: true }]);

		const sealedRequest = member.seal("REQ", json(requestPacket("flipped")));
		channel.sendToQueue(requests, json(requestPacket("plain")));
		channel.sendToQueue(requests, flipped(sealedRequest, 40));
		channel.sendToQueue(requests, member.seal("REQ", json(requestPacket("genuine"))));
		await waitFor(() => seen.hello.length > 0, "the genuine request");
		expect(seen.hello).toEqual(["genuine"]);

		// One warning per reason, naming the packet types, never what they carried.
		expect(warnings.map((line) => line.replace(/ \(.*?\)/g, ""))).toEqual([
			"a: Cluster auth: dropped transporter packets not sealed [EVENT]; more like it are counted and reported at most every 60 s",
			"a: Cluster auth: dropped transporter packets sealed with a cluster secret this node does not accept [EVENT]; more like it are counted and reported at most every 60 s",
			"a: Cluster auth: dropped transporter packets that did not authenticate [EVENT]; more like it are counted and reported at most every 60 s",
		]);
		expect(warnings.join("\n")).not.toMatch(new RegExp(`${MARKER}|forger|echo\\.hello`));
	});

	it("cost a flood one warning, not one per packet", async () => {
		const seen = nothingSeen();
		const a = node("a", { secret: SECRET }, [echoService(seen)]);
		await a.start();
		const requests = `MOL-${namespace}.REQ.a`;
		for (let i = 0; i < 500; i++) channel.sendToQueue(requests, json(requestPacket(`flood ${i}`)));
		channel.sendToQueue(requests, new TransitSealer(clusterKeyring("transit", SECRET), namespace).seal("REQ", json(requestPacket("genuine"))));
		await waitFor(() => seen.hello.length > 0, "the genuine request after the flood");
		expect(seen.hello).toEqual(["genuine"]);
		expect(warnings).toHaveLength(1);
	});
});

describe("rotating the cluster secret", () => {
	const OLD = secret();
	const NEW = secret();

	// CLUSTER_SECRET / CLUSTER_SECRET_PREVIOUS of two nodes, one step of the rollout apart.
	it.each([
		["step 1: one node also accepts the new secret, the other is not rotated yet", { secret: OLD, previousSecrets: [NEW] }, { secret: OLD }],
		[
			"step 2: one node seals with the new secret, the other still with the old one",
			{ secret: NEW, previousSecrets: [OLD] },
			{ secret: OLD, previousSecrets: [NEW] },
		],
		["step 3: one node no longer accepts the old secret, the other still does", { secret: NEW }, { secret: NEW, previousSecrets: [OLD] }],
	])("%s: they talk both ways", async (_, first: Auth, second: Auth) => {
		const seen = nothingSeen();
		const a = node("a", first, [echoService(seen, "alpha")]);
		const b = node("b", second, [echoService(seen, "beta")]);
		await Promise.all([a.start(), b.start()]);
		await Promise.all([a.waitForServices("beta", 10_000), b.waitForServices("alpha", 10_000)]);
		expect(await a.call("beta.hello", { name: "from a" })).toBe("hello from a from b");
		expect(await b.call("alpha.hello", { name: "from b" })).toBe("hello from b from a");
		await a.emit("greeting.sent", { from: "a" });
		await waitFor(() => seen.greetings.length >= 2, "the event in both services");
		expect(warnings).toEqual([]);
	});

	it("a node sealing with the new secret is not heard by a node that does not accept it yet (step 1 skipped)", async () => {
		const seen = nothingSeen();
		const rotated = node("rotated", { secret: NEW, previousSecrets: [OLD] }, [echoService(seen, "alpha")]);
		const behind = node("behind", { secret: OLD }, [echoService(seen, "beta")]);
		await Promise.all([rotated.start(), behind.start()]);
		// It hears the old node, but the old node drops all it sends: its requests too.
		await rotated.waitForServices("beta", 10_000);
		await expect(behind.waitForServices("alpha", 3_000)).rejects.toThrow(/timed out/i);
		await expect(rotated.call("beta.hello", { name: "lost" })).rejects.toBeInstanceOf(Errors.RequestTimeoutError);
		expect(seen.hello).toEqual([]);
		expect(warnings[0]).toMatch(/^behind: Cluster auth: dropped transporter packets sealed with a cluster secret this node does not accept/);
	});
});
