import type { FieldProblem } from "../../shared/validation.js";

/**
 * What a new password must not be, beside the contract's length (8 to 128):
 * NIST SP 800-63B's advice, a list of passwords that are tried first rather
 * than rules of character classes, which push people to `Password1`. A
 * password is refused when, lowercased and without its trailing digits and
 * punctuation, it is a commonly used one ("Password1!" is "password"), when
 * it is one character repeated, or when it holds the email or its name part.
 */
const COMMON = new Set([
	"password",
	"passw0rd",
	"pass",
	"123456",
	"12345678",
	"123456789",
	"1234567890",
	"qwerty",
	"qwertyuiop",
	"azerty",
	"abc123",
	"abcdef",
	"abcdefgh",
	"letmein",
	"welcome",
	"iloveyou",
	"admin",
	"administrator",
	"login",
	"monkey",
	"dragon",
	"football",
	"baseball",
	"sunshine",
	"princess",
	"master",
	"shadow",
	"superman",
	"batman",
	"trustno1",
	"starwars",
	"changeme",
	"secret",
	"default",
	"hello",
	"freedom",
	"whatever",
	"qazwsx",
	"zaq12wsx",
	"1q2w3e4r",
	"1qaz2wsx",
	"asdfghjk",
	"asdfgh",
	"zxcvbnm",
	"michael",
	"jennifer",
	"charlie",
	"summer",
	"winter",
	"spring",
	"autumn",
	"shop",
	"moleculer",
	"customer",
	"test",
	"testing",
	"guest",
	"root",
	"user",
	"demo",
]);

export function passwordProblems(password: string, email: string): FieldProblem[] {
	const lowered = password.toLowerCase();
	const base = lowered.replace(/[\d\W_]+$/u, "");
	const [local = ""] = email.toLowerCase().split("@");
	const reason =
		COMMON.has(lowered) || COMMON.has(base) || /^\d+$/.test(lowered)
			? "is a commonly used password"
			: /^(.)\1*$/su.test(password)
				? "is one character repeated"
				: lowered.includes(email.toLowerCase()) || (local.length >= 3 && lowered.includes(local))
					? "contains the email address"
					: null;
	return reason ? [{ field: "password", type: "passwordWeak", message: `The 'password' field ${reason}; choose a longer phrase of your own.` }] : [];
}
