import { describe, expect, it } from 'vitest';
import { api, ApiError, errorValue } from './http.js';

function fakeFetch(status, body, seen = []) {
  return async (path, init) => {
    seen.push({ path, init });
    return {
      status,
      ok: status >= 200 && status < 300,
      json: async () => {
        if (body === undefined) throw new SyntaxError('no body');
        return body;
      },
    };
  };
}

describe('api', () => {
  it('sends JSON with its content type and returns the answer', async () => {
    const seen = [];
    const data = await api('/api/login', {
      method: 'POST', json: { email: 'a@b.c', password: 'x' }, fetchImpl: fakeFetch(200, { user: { id: 1 } }, seen),
    });
    expect(data).toEqual({ user: { id: 1 } });
    expect(seen[0].init.headers['Content-Type']).toBe('application/json');
    expect(JSON.parse(seen[0].init.body)).toEqual({ email: 'a@b.c', password: 'x' });
  });

  it('sends a picture as it is, with its own type', async () => {
    const seen = [];
    const file = { fake: 'blob' };
    await api('/api/me/avatar', { method: 'POST', body: file, contentType: 'image/png', fetchImpl: fakeFetch(200, {}, seen) });
    expect(seen[0].init.body).toBe(file);
    expect(seen[0].init.headers['Content-Type']).toBe('image/png');
  });

  it('turns an error answer into an ApiError with its code', async () => {
    const error = await api('/api/register', {
      fetchImpl: fakeFetch(409, { error: { code: 'email-taken', message: 'Taken.' } }),
    }).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 409, code: 'email-taken', message: 'Taken.' });
  });

  it('copes with a non-JSON error and with no network', async () => {
    expect(await api('/x', { fetchImpl: fakeFetch(502) }).catch((e) => e.code)).toBe('http-502');
    const offline = async () => { throw new TypeError('Failed to fetch'); };
    expect(await api('/x', { fetchImpl: offline }).catch((e) => e.code)).toBe('network');
  });

  it('keeps the seconds of Retry-After, so the client can say when to try again', async () => {
    const limited = async () => ({
      status: 429, ok: false, headers: new Headers({ 'Retry-After': '30' }),
      json: async () => ({ error: { code: 'rate-limited', message: 'Too many.' } }),
    });
    const error = await api('/api/login', { fetchImpl: limited }).catch((e) => e);
    expect(error).toMatchObject({ status: 429, code: 'rate-limited', retryAfter: 30 });
    expect(errorValue(error).retryAfter).toBe(30);
    expect(await api('/x', { fetchImpl: fakeFetch(409, {}) }).catch((e) => e.retryAfter)).toBeNull();
  });

  it('returns null for 204', async () => {
    expect(await api('/api/logout', { method: 'POST', fetchImpl: fakeFetch(204) })).toBeNull();
  });
});
