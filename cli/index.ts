import { runCli } from "./program.js";

// `npm run cli -- <command>`: the real output.
const code = await runCli(process.argv.slice(2), {
	out: (line) => process.stdout.write(`${line}\n`),
	err: (line) => process.stderr.write(`${line}\n`),
});

// The command is done; end now, once the output is flushed. A Moleculer
// transporter that never connected keeps retrying on a timer that
// broker.stop() does not clear, which would keep the process alive.
const flushed = (stream: NodeJS.WriteStream) => new Promise<void>((resolve) => stream.write("", () => resolve()));
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
