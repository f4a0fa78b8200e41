import { passwordProblems } from "./password-policy.js";

describe("passwordProblems", () => {
	const refused = (password: string, email = "ann.lee@example.com") => passwordProblems(password, email).map((p) => p.message);

	it("refuses the passwords tried first, whatever their case and the digits or signs added after them", () => {
		for (const password of ["password", "12345678", "Password1", "PASSWORD123!", "qwerty123", "letmein!!", "Welcome2024", "987654321"]) {
			expect({ password, problems: refused(password) }).toEqual({ password, problems: [expect.stringMatching(/commonly used password/)] });
		}
	});

	it("refuses one character repeated, and a password holding the email or its name part", () => {
		expect(refused("aaaaaaaaaa")).toEqual([expect.stringMatching(/one character repeated/)]);
		expect(refused("ann.lee@example.com")).toEqual([expect.stringMatching(/contains the email address/)]);
		expect(refused("my-ann.lee-2024")).toEqual([expect.stringMatching(/contains the email address/)]);
	});

	it("accepts a password of one's own, naming the field when it does not", () => {
		expect(refused("correct horse battery staple")).toEqual([]);
		expect(refused("k3ttle-on-the-hob")).toEqual([]);
		// A short name part is too common a string to refuse on.
		expect(passwordProblems("al-is-typing-a-long-one", "al@example.com")).toEqual([]);
		expect(passwordProblems("password", "x@y.z")).toEqual([expect.objectContaining({ field: "password", type: "passwordWeak" })]);
	});
});
