// The one way the client calls munityd's JSON API (doc/protocol.md §2).
// Same origin, so the session cookie goes along by itself.

export class ApiError extends Error {
  // retryAfter: the seconds of a Retry-After header (429, 503), else null.
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

// Retry-After in seconds (munityd sends delay-seconds, never a date).
function retryAfterOf(response) {
  const value = response.headers?.get?.('Retry-After');
  return value && /^\d+$/.test(value.trim()) ? Number(value.trim()) : null;
}

// Errors travel through Redux as plain objects.
export function errorValue(error) {
  if (error instanceof ApiError) {
    return { status: error.status, code: error.code, message: error.message, retryAfter: error.retryAfter };
  }
  return { status: 0, code: 'client-error', message: String(error?.message ?? error) };
}

/**
 * Calls the API. `json` is sent as application/json; `body` is sent as it is
 * with `contentType` (for a picture). Resolves to the parsed JSON answer,
 * or null for 204; rejects with an ApiError.
 */
export async function api(path, { method = 'GET', json, body, contentType, fetchImpl = fetch } = {}) {
  const headers = { Accept: 'application/json' };
  let payload;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(json);
  } else if (body !== undefined) {
    if (contentType) headers['Content-Type'] = contentType;
    payload = body;
  }

  let response;
  try {
    response = await fetchImpl(path, { method, headers, body: payload, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach Munity. Check your connection and try again.');
  }

  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError(
      response.status,
      data?.error?.code ?? `http-${response.status}`,
      data?.error?.message ?? `The server answered ${response.status}.`,
      retryAfterOf(response),
    );
  }
  return data;
}
