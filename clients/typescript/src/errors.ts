// Every API error is a BerthError: the HTTP status, berth's code, its message, and the field
// a bad request names.

export class BerthError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(`${status} ${code}: ${message}${field ? ` (field ${field})` : ""}`);
    this.name = "BerthError";
  }

  static async from(r: Response): Promise<BerthError> {
    const text = await r.text();
    try {
      const body = JSON.parse(text) as { error?: { code?: string; message?: string; field?: string } };
      const e = body.error ?? {};
      return new BerthError(r.status, e.code ?? "http_error", e.message ?? text.slice(0, 200), e.field ?? undefined);
    } catch {
      return new BerthError(r.status, "http_error", text.slice(0, 200));
    }
  }
}
