/** An error from a contract call, with the offending field path ("/runId") when the lab gave one. */
export class LabCallError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'LabCallError';
  }
}

/** A readable one-line message for any thrown value. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message.replace(/^Error invoking remote method '[^']+': /, '');
  return String(err);
}
