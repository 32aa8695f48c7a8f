import { renderToStaticMarkup } from 'react-dom/server';
import { Provider } from 'react-redux';
import { MemoryRouter } from 'react-router';
import { describe, expect, it } from 'vitest';
import { makeStore } from '../app/store.js';
import { login } from '../auth/authSlice.js';
import OnlineList from './OnlineList.jsx';
import OnlineListContainer from './OnlineListContainer.jsx';
import { onlineUsers, userJoined } from './onlineSlice.js';

const ada = { id: 1, first: 'Ada', last: 'Lovelace', imageUrl: null };
const evil = { id: 2, first: '<img src=x onerror=alert(1)>', last: 'Mallory', imageUrl: '/avatars/2-ab.webp' };

const render = (element) => renderToStaticMarkup(<MemoryRouter>{element}</MemoryRouter>);

describe('OnlineList', () => {
  it('shows each user with picture, name and a link, the viewer marked, the count in the heading', () => {
    const html = render(<OnlineList users={[ada, evil]} viewerId={1} loaded stale={false} />);
    expect(html).toContain('aria-live="polite"');
    expect(html).toMatch(/<h1[^>]*>Online now <span[^>]*>2<\/span><\/h1>/);
    expect(html).toContain('href="/users/1"');
    expect(html).toContain('href="/users/2"');
    expect(html.match(/\(you\)/g)).toHaveLength(1);
    expect(html).toContain('data:image/svg+xml');              // placeholder for Ada
    expect(html).toContain('src="/avatars/2-ab.webp"');
    expect(html).toContain('alt="Ada Lovelace has no picture"');
  });

  it('renders names as text, never as HTML', () => {
    const html = render(<OnlineList users={[evil]} viewerId={1} loaded stale={false} />);
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt; Mallory');
  });

  it('is marked busy until the first snapshot and while reconnecting', () => {
    expect(render(<OnlineList users={[]} viewerId={1} loaded={false} stale={false} />)).toContain('aria-busy="true"');
    expect(render(<OnlineList users={[ada]} viewerId={1} loaded stale />)).toContain('online__grid--stale');
  });
});

describe('OnlineListContainer', () => {
  it('gets the list from the store', () => {
    const { store } = makeStore({ socketOptions: { WebSocketImpl: class { addEventListener() {} }, url: 'ws://t/ws' } });
    store.dispatch({ type: login.fulfilled.type, payload: { ...ada, email: 'a@b.c', bio: '' } });
    store.dispatch(onlineUsers([evil, ada]));
    store.dispatch(userJoined(evil));
    const html = render(<Provider store={store}><OnlineListContainer /></Provider>);
    // the viewer first, everyone once
    expect(html.indexOf('Ada Lovelace')).toBeLessThan(html.indexOf('Mallory'));
    expect(html.match(/data-user-id=/g)).toHaveLength(2);
  });
});
