/** The HTML pages of the development identity provider: plain forms, no script, no external resources. */

const STYLE = `body{font-family:system-ui,sans-serif;background:#f4f4f5;margin:0;padding:48px 16px}
main{max-width:340px;margin:0 auto;background:#fff;border-radius:8px;padding:24px 28px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.3em;margin:0 0 4px}p.dev{color:#b45309;font-size:.85em;margin:0 0 16px}p.error{color:#b91c1c}
label{display:block;margin:12px 0 4px;font-size:.9em}input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:8px;font-size:1em}
button{margin-top:16px;width:100%;padding:9px;font-size:1em}button.link{background:none;border:none;color:#555;width:auto;padding:0;text-decoration:underline;cursor:pointer}`;

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

export interface LoginPageInput {
  /** Where the form posts `username` and `password`. */
  action: string;
  /** Where the "cancel" button posts. */
  abortAction: string;
  /** The client asking (shown to the user). */
  clientId: string;
  /** A message after a failed attempt. */
  error?: string | undefined;
  /** The username to fill in again after a failed attempt. */
  username?: string | undefined;
}

/** The login form of an interaction. */
export function loginPage(input: LoginPageInput): string {
  return page(
    "Sign in to natter",
    `<h1>Sign in to natter</h1>
<p class="dev">Development identity provider: not for production.</p>
<p>for <strong>${escapeHtml(input.clientId)}</strong></p>
${input.error ? `<p class="error" role="alert">${escapeHtml(input.error)}</p>` : ""}
<form method="post" action="${escapeHtml(input.action)}" autocomplete="off">
<label for="username">Username</label>
<input id="username" type="text" name="username" required autofocus value="${escapeHtml(input.username ?? "")}">
<label for="password">Password</label>
<input id="password" type="password" name="password" required>
<button type="submit">Sign in</button>
</form>
<form method="post" action="${escapeHtml(input.abortAction)}"><button type="submit" class="link">Cancel</button></form>`,
  );
}

/** A page that says what went wrong, for errors that cannot be sent back to the client. */
export function errorPage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p class="error">${escapeHtml(message)}</p>`);
}
