/** What the supervisor's HTTP servers (metrics, console) share. */
import type { Server } from 'node:http';

/** Closes `server` at once: open keep-alive connections too, so a stop never waits on an idle browser. */
export async function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}
