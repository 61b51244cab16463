/** The login form of a console started with a token: plain HTML, no script, with the message (escaped) of a failed try. */
export function loginPage(message?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pg-supervisor console: log in</title>
<link rel="stylesheet" href="/console.css"></head>
<body class="login"><form method="post" action="/login">
<h1>pg-supervisor console</h1>
<label>Token <input type="password" name="token" autocomplete="current-password" autofocus required></label>
${message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : ''}
<button type="submit">Log in</button>
</form></body></html>
`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
