/** Whether the database answered this supervisor's last statements (for /readyz). */
export class DatabaseHealth {
  private lastError: Error | undefined;

  ok(): void {
    this.lastError = undefined;
  }

  failed(error: unknown): void {
    this.lastError = error instanceof Error ? error : new Error(String(error));
  }

  /** Undefined while healthy, else why not. */
  get problem(): string | undefined {
    return this.lastError && `database unreachable: ${this.lastError.message}`;
  }
}
