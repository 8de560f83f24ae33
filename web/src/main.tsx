import { render } from "solid-js/web";
import { App } from "./App.tsx";
import { createAuth } from "./auth.ts";
import { loadConfig } from "./config.ts";
import { createPreferences } from "./stores/session.ts";
import "./styles.css";

const root = document.getElementById("root")!;
// The theme before anything renders (no inline script may set it: the page's CSP forbids one).
createPreferences();

loadConfig()
  .then(async (config) => {
    const auth = createAuth(config);
    await auth.start();
    root.textContent = "";
    render(() => <App config={config} auth={auth} />, root);
  })
  .catch((err: unknown) => {
    root.textContent = "";
    const p = document.createElement("p");
    p.className = "fatal";
    p.setAttribute("role", "alert");
    p.textContent = `natter cannot start: ${err instanceof Error ? err.message : String(err)}`;
    root.append(p);
  });
