import { render } from "ink";
import { App } from "./App.js";
import { Backoffice } from "./backoffice.js";

// `npm run tui`: SHOP_API_URL (default http://localhost:3000/api) and SHOP_WS_URL (default http://localhost:3001).
const app = render(<App backoffice={Backoffice.fromEnv()} />);
await app.waitUntilExit();
