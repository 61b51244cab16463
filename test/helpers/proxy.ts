/**
 * A TCP proxy in front of PostgreSQL whose connections a test can cut, which
 * can turn new ones away for a while (counting them), which can record
 * what clients send (to see which statements came first), which can be
 * pointed at another server (a failover), and which can delay what the
 * server sends (a replication link to another zone).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  port = 0;
  /** Connections turned away during outages. */
  refused = 0;
  /** What clients sent since {@link record} was called, chunk by chunk in arrival order (latin1). */
  readonly sent: string[] = [];
  private recording = false;

  constructor(
    private targetHost: string,
    private targetPort: number,
    /** How long what the server sends is held before the client gets it (a slow link). */
    private readonly delayMs = 0,
  ) {}

  /** Sends new connections to another server (as a DNS name or a load balancer does at a failover); open ones stay until {@link cut}. */
  retarget(host: string, port: number): void {
    this.targetHost = host;
    this.targetPort = port;
  }

  /** Starts listening on a free port. */
  async start(): Promise<number> {
    this.server = createServer((client) => {
      client.on('error', () => undefined);
      if (this.refusing) {
        this.refused++;
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.on('data', (chunk: Buffer) => {
        if (this.recording) this.sent.push(chunk.toString('latin1'));
      });
      client.pipe(upstream);
      if (this.delayMs === 0) upstream.pipe(client);
      else upstream.on('data', (chunk: Buffer) => void setTimeout(() => client.write(chunk), this.delayMs));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  /** Drops every open connection, as a database restart or a network fault would. */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /** Cuts every connection and turns new ones away (accepted, then closed at once) for `ms`. */
  async outage(ms: number): Promise<void> {
    this.refusing = true;
    this.cut();
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.refusing = false;
  }

  /** Starts recording what clients send. */
  record(): void {
    this.sent.length = 0;
    this.recording = true;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}
