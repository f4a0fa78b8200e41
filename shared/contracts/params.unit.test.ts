import { action, type CallParamsOf, type ParamsOf, type ResultOf } from "./params.js";

/** Compiles only when A and B are the same type: `tsc --noEmit`, the first step of npm test, checks these. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const assertType = <T extends true>(): T => true as T;

const example = action<{ ok: boolean }>()("example.do", {
	id: { type: "uuid" },
	name: { type: "string", optional: true },
	note: { type: "string", optional: true, nullable: true },
	count: { type: "number", integer: true, default: 1, convert: true },
	when: { type: "date", convert: true },
	kind: { type: "enum", values: ["a", "b"], default: "a" },
	tags: { type: "array", items: "string" },
	lines: { type: "array", items: { type: "object", props: { sku: { type: "string" }, quantity: { type: "number" } } } },
});

describe("action contracts", () => {
	it("name the action and remove unknown fields before the handler sees them", () => {
		expect(example.name).toBe("example.do");
		expect(example.params.$$strict).toBe("remove");
		expect(Object.keys(example.params)).toEqual(["$$strict", "id", "name", "note", "count", "when", "kind", "tags", "lines"]);
	});

	it("derive what the handler receives: defaults present, optional fields optional, conversions done", () => {
		type Expected = {
			id: string;
			name?: string;
			note?: string | null;
			count: number;
			when: Date;
			kind: "a" | "b";
			tags: string[];
			lines: { sku: string; quantity: number }[];
		};
		expect(assertType<Equal<ParamsOf<typeof example>, Expected>>()).toBe(true);
	});

	it("derive what a caller sends: defaulted fields may be left out, converted ones sent as text", () => {
		type Expected = {
			id: string;
			name?: string;
			note?: string | null;
			count?: number | string;
			when: Date | string;
			kind?: "a" | "b";
			tags: string[];
			lines: { sku: string; quantity: number }[];
		};
		expect(assertType<Equal<CallParamsOf<typeof example>, Expected>>()).toBe(true);
		expect(assertType<Equal<ResultOf<typeof example>, { ok: boolean }>>()).toBe(true);
	});
});
