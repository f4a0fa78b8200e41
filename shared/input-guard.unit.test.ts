import { inputProblems, MAX_INPUT_DEPTH } from "./input-guard.js";

const nested = (depth: number): unknown => (depth === 0 ? "leaf" : [nested(depth - 1)]);

describe("inputProblems", () => {
	it("accepts ordinary params: text with tabs and new lines, emoji (whole surrogate pairs), numbers, nesting an order needs", () => {
		expect(
			inputProblems({
				q: "blue mug ☕",
				description: "Line one\n\tLine two\r\n",
				name: "Crème brûlée 🍮",
				items: [{ productId: "a", quantity: 2 }],
				page: 3,
				active: true,
				note: null,
			}),
		).toEqual([]);
		// Objects and arrays down to MAX_INPUT_DEPTH levels, a top-level field being the first.
		expect(inputProblems({ deep: nested(MAX_INPUT_DEPTH) })).toEqual([]);
		expect(inputProblems({ deep: nested(MAX_INPUT_DEPTH + 1) })).toEqual([expect.objectContaining({ type: "objectDepth" })]);
	});

	it("names each field holding a control character or half a surrogate pair", () => {
		expect(
			inputProblems({ q: "\u0000", name: "A\u0007B", items: [{ productId: "x\ud800" }], token: "\udc00" }).map(({ field, type }) => ({ field, type })),
		).toEqual([
			{ field: "q", type: "stringCharacters" },
			{ field: "name", type: "stringCharacters" },
			{ field: "items[0].productId", type: "stringCharacters" },
			{ field: "token", type: "stringCharacters" },
		]);
		expect(inputProblems({ "bad\u0000key": 1 })).toEqual([expect.objectContaining({ field: "bad\u0000key", type: "stringCharacters" })]);
	});

	it("refuses nesting deeper than MAX_INPUT_DEPTH at the first level too deep, even 40,000 levels, without recursion", () => {
		let deep: unknown = [];
		for (let i = 0; i < 40_000; i++) deep = [deep];
		const problems = inputProblems({ password: deep });
		expect(problems).toEqual([
			expect.objectContaining({ type: "objectDepth", field: `password${"[0]".repeat(MAX_INPUT_DEPTH)}`, expected: MAX_INPUT_DEPTH }),
		]);
	});
});
