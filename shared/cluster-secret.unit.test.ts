import { CLUSTER_SECRET_MIN_LENGTH, clusterKeyring } from "./cluster-secret.js";

const OLD = "old-secret-old-secret-old-secret-0123456789";
const NEW = "new-secret-new-secret-new-secret-0123456789";

describe("clusterKeyring", () => {
	it("derives a different key per purpose from one secret, named by one key id", () => {
		const transit = clusterKeyring("transit", NEW);
		const signing = clusterKeyring("channel-signing", NEW);
		expect(transit.current.key).toHaveLength(32);
		expect(transit.current.id).toHaveLength(4);
		expect(transit.current.key.equals(signing.current.key)).toBe(false);
		expect(transit.current.id.equals(signing.current.id)).toBe(true);
		// Neither key is the secret, nor contains it.
		expect(transit.current.key.includes(Buffer.from(NEW.slice(0, 8)))).toBe(false);
		// The same secret makes the same keys on every node.
		expect(clusterKeyring("transit", NEW).current).toEqual(transit.current);
	});

	it("accepts the current secret and each previous one, by key id, and seals with the current one", () => {
		const keyring = clusterKeyring("transit", NEW, [OLD, NEW]);
		const old = clusterKeyring("transit", OLD).current;
		expect(keyring.current).toEqual(clusterKeyring("transit", NEW).current);
		expect([...keyring.accepted.keys()]).toEqual([keyring.current.id.toString("hex"), old.id.toString("hex")]);
		expect(keyring.accepted.get(old.id.toString("hex"))).toEqual(old);
	});

	it("refuses a secret or a previous secret shorter than 32 characters, without repeating it", () => {
		const short = "x".repeat(CLUSTER_SECRET_MIN_LENGTH - 1);
		expect(() => clusterKeyring("transit", short)).toThrow(/^The cluster secret must be at least 32 characters/);
		expect(() => clusterKeyring("transit", NEW, [short])).toThrow(/^Each previous cluster secret must be at least 32 characters/);
		expect(() => clusterKeyring("transit", short)).not.toThrow(short);
	});
});
