import { action } from "./params.js";

export const WebsocketActions = {
	/** Where clients connect; the port is the bound one (WS_PORT=0 picks a free port). */
	info: action<{ port: number; connections: number }>()("websocket.info", {}),
} as const;
