import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import pTimeout from "p-timeout";

/**
 * jongodb: a MongoDB-compatible in-memory server shipped as a native binary
 * in an npm package (x64 glibc only). It stands in for MongoDB in tests and in
 * the embedded default; production uses real MongoDB (docker-compose.yml).
 */
export interface EmbeddedMongo {
	/** mongodb:// URL without a database name. */
	url: string;
	stop(): Promise<void>;
}

export function jongodbBinary(): string | null {
	if (process.platform !== "linux" || process.arch !== "x64") return null;
	try {
		const require = createRequire(import.meta.url);
		return join(dirname(require.resolve("@jongodb/memory-server-bin-linux-x64-gnu/package.json")), "bin", "jongodb");
	} catch {
		return null;
	}
}

export async function startJongodb(port = 0, timeoutMs = 10_000): Promise<EmbeddedMongo> {
	const binary = jongodbBinary();
	if (!binary) throw new Error("jongodb is not available on this platform (needs linux x64 glibc and the optional dependency)");
	const child: ChildProcess = spawn(binary, [`--port=${port}`], { stdio: ["ignore", "pipe", "pipe"] });
	let output = "";
	const started = new Promise<string>((resolve, reject) => {
		child.stdout!.on("data", (chunk: Buffer) => {
			output += chunk.toString();
			const match = /JONGODB_URI=(mongodb:\/\/[^/\s]+)/.exec(output);
			if (match) resolve(match[1]);
		});
		child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
		child.once("error", reject);
		child.once("exit", (code) => reject(new Error(`jongodb exited with code ${code}: ${output}`)));
	});
	const url = await pTimeout(started, {
		milliseconds: timeoutMs,
		fallback: () => {
			// A server that did not start in time is not left running.
			child.kill("SIGKILL");
			throw new Error(`jongodb did not start within ${timeoutMs} ms: ${output}`);
		},
	});
	child.removeAllListeners("exit");
	child.stdout!.resume();
	child.stderr!.resume();
	return {
		url,
		stop: () =>
			new Promise<void>((resolve) => {
				// Stopped already (exited, or killed by a signal: then exitCode stays null).
				if (child.exitCode !== null || child.signalCode !== null) return resolve();
				child.once("exit", () => resolve());
				child.kill("SIGKILL");
			}),
	};
}
