/**
 * A response to send exactly as it was kept (an idempotent replay). Thrown
 * from the idempotency interceptor so that it leaves the normal handler path
 * and the exception filter writes the kept bytes unchanged.
 */
export class StoredResponse extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: Record<string, string>,
  ) {
    super('stored response');
    this.name = 'StoredResponse';
  }
}
