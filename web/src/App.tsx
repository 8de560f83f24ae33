import { Show, onCleanup, untrack } from "solid-js";
import type { Auth } from "./auth.ts";
import { Login } from "./components/Login.tsx";
import { Shell } from "./components/Shell.tsx";
import type { WebConfig } from "./config.ts";
import { createConnection } from "./connection.ts";
import { createServer } from "./server.ts";
import { ChatContext, createChat } from "./stores/chat.ts";
import { createRouter } from "./stores/route.ts";
import { createPreferences } from "./stores/session.ts";

/** The signed-in client: one NATS connection, the server, the chat; all closed when the user signs out. */
function SignedIn(props: { config: WebConfig; auth: Auth }) {
  const identity = untrack(() => props.auth.identity())!;
  const token = (): string => props.auth.token();
  const connection = createConnection({
    url: props.config.natsWsUrl,
    userId: identity.userId,
    token,
    onAuthError: () => props.auth.ensureFresh(),
  });
  const server = createServer({ userId: identity.userId, token, renew: () => props.auth.renew(), nats: connection });
  const router = createRouter();
  const chat = createChat({
    config: props.config,
    identity,
    server,
    connection,
    prefs: createPreferences(),
    router,
    signOut: () => props.auth.signOut(),
  });
  onCleanup(() => {
    chat.stop();
    void connection.close();
    router.dispose();
  });
  return (
    <ChatContext.Provider value={chat}>
      <Shell />
    </ChatContext.Provider>
  );
}

/** The page: the login screen while signed out, the chat once signed in (one per user id). */
export function App(props: { config: WebConfig; auth: Auth }) {
  return (
    <Show when={props.auth.identity()?.userId} keyed fallback={<Login auth={props.auth} />}>
      {(_userId) => <SignedIn config={props.config} auth={props.auth} />}
    </Show>
  );
}
