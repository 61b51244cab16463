/** A TCP proxy in front of PostgreSQL whose connections a test can cut, and which can refuse new ones for a while. */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** Starts listening (on `port`, or a free one the first time). */
  async start(): Promise<number> {
    this.server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  /** Drops every open connection, as a database restart or a network fault would. */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /** Cuts every connection and refuses new ones for `ms`. */
  async outage(ms: number): Promise<void> {
    await new Promise<void>((resolve) => this.server!.close(() => resolve()) && this.cut());
    await new Promise((resolve) => setTimeout(resolve, ms));
    await this.start();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
