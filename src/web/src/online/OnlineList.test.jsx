import { renderToStaticMarkup } from 'react-dom/server';
import { Provider } from 'react-redux';
import { MemoryRouter } from 'react-router';
import { describe, expect, it } from 'vitest';
import { makeStore } from '../app/store.js';
import { login } from '../auth/authSlice.js';
import OnlineList from './OnlineList.jsx';
import OnlineListContainer from './OnlineListContainer.jsx';
import { onlineUsers, searchChanged, userJoined, userLeft } from './onlineSlice.js';

const ada = { id: 1, first: 'Ada', last: 'Lovelace', imageUrl: null, status: 'online' };
const evil = { id: 2, first: '<img src=x onerror=alert(1)>', last: 'Mallory', imageUrl: '/avatars/2-ab.webp', status: 'idle' };
const live = { status: 'open', staleSince: null };

const render = (element) => renderToStaticMarkup(<MemoryRouter>{element}</MemoryRouter>);

describe('OnlineList', () => {
  it('shows each user with picture, name and a link, the viewer marked, the count in the heading', () => {
    const html = render(<OnlineList users={[ada, evil]} count={2} viewerId={1} loaded connection={live} />);
    expect(html).toMatch(/<h1[^>]*>Online now <span[^>]*>2<\/span><\/h1>/);
    expect(html).toContain('2 people are here right now.');
    expect(html).toContain('href="/users/1"');
    expect(html).toContain('href="/users/2"');
    expect(html.match(/\(you\)/g)).toHaveLength(2);        // the text, and the card's name
    expect(html).toContain('src="/avatars/2-ab.webp"');
    expect(html).toMatch(/class="avatar avatar--medium avatar--initials face--\d+"[^>]*>.*?>AL</);
  });

  it('names each card once, with its status, and draws the status not by colour alone', () => {
    const html = render(<OnlineList users={[ada, evil]} count={2} viewerId={1} loaded connection={live} />);
    // The name is one hidden text, what is shown is hidden from assistive
    // technology (no aria-label, which would not contain the initials).
    expect(html).not.toContain('aria-label="Ada');
    expect(html).toContain('<span class="visually-hidden">Ada Lovelace (you), online</span>');
    expect(html).toContain('<span class="visually-hidden">&lt;img src=x onerror=alert(1)&gt; Mallory, idle</span>');
    expect(html).toContain('<span class="person__face" aria-hidden="true">');
    expect(html).toContain('<span class="person__text" aria-hidden="true">');
    // The pictures in a card are decorative: the name is written next to them.
    expect(html).toContain('alt=""');
    expect(html).toContain('status-dot--idle');
    expect(html).toContain('status-dot--online');
    expect(html).toMatch(/person__status">Idle</);
  });

  it('renders names as text, never as HTML', () => {
    const html = render(<OnlineList users={[evil]} count={1} viewerId={1} loaded connection={live} />);
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt; Mallory');
  });

  it('is marked busy until the first snapshot and dimmed while not live', () => {
    expect(render(<OnlineList users={[]} count={0} viewerId={1} loaded={false} connection={live} />))
      .toContain('aria-busy="true"');
    const stale = { status: 'reconnecting', staleSince: Date.now() - 12500 };
    const html = render(<OnlineList users={[ada]} count={1} viewerId={1} loaded connection={stale} />);
    expect(html).toContain('online__grid--stale');
    expect(html).toContain('Last updated 12 seconds ago.');
    expect(html).not.toContain('right now');
    const stopped = render(<OnlineList users={[ada]} count={1} viewerId={1} loaded
      connection={{ status: 'disconnected', staleSince: Date.now() - 60000 }} />);
    expect(stopped).toContain('online__grid--stale');
    expect(stopped).toContain('Last updated 1 minute ago.');
  });

  it('announces joins and leaves in a region of their own, not the whole grid', () => {
    const html = render(<OnlineList users={[ada]} count={1} viewerId={1} loaded connection={live}
      announcements={[{ seq: 1, kind: 'joined', name: 'Alan Turing' }, { seq: 2, kind: 'left', name: 'Grace Hopper' }]} />);
    expect(html).toMatch(/<div class="visually-hidden" aria-live="polite"[^>]*><p>Alan Turing joined<\/p><p>Grace Hopper left<\/p><\/div>/);
    expect(html.match(/aria-live/g)).toHaveLength(1);
  });

  it('has a search, an order and the compact list toggle', () => {
    const html = render(<OnlineList users={[ada]} count={3} viewerId={1} loaded connection={live}
      query="ada" sort="joined" layout="compact" />);
    expect(html).toMatch(/<label for="online-search">Search by name<\/label><input id="online-search" type="search"[^>]*value="ada"/);
    expect(html).toContain('<option value="joined" selected="">Recently joined</option>');
    expect(html).toContain('aria-pressed="true"');
    expect(html).toContain('online__grid--compact');
    expect(html).toContain('1 person matches “ada”.');
  });
});

describe('OnlineListContainer', () => {
  const store = () => {
    const made = makeStore({ socketOptions: { WebSocketImpl: class { addEventListener() {} }, url: 'ws://t/ws' } });
    return made.store;
  };

  it('gets the list from the store', () => {
    const s = store();
    s.dispatch({ type: login.fulfilled.type, payload: { ...ada, email: 'a@b.c', bio: '' } });
    s.dispatch(onlineUsers([evil, ada]));
    s.dispatch(userJoined(evil));
    const html = render(<Provider store={s}><OnlineListContainer /></Provider>);
    // the viewer first, everyone once
    expect(html.indexOf('Ada Lovelace')).toBeLessThan(html.indexOf('Mallory'));
    expect(html.match(/data-user-id=/g)).toHaveLength(2);
  });

  it('shows the search result and the announcements from the store', () => {
    const s = store();
    s.dispatch({ type: login.fulfilled.type, payload: { ...ada, email: 'a@b.c', bio: '' } });
    s.dispatch(onlineUsers([ada]));
    s.dispatch(userJoined({ id: 3, first: 'Grace', last: 'Hopper', imageUrl: null }));
    s.dispatch(userLeft({ id: 3 }));
    s.dispatch(searchChanged('gra'));
    const html = render(<Provider store={s}><OnlineListContainer /></Provider>);
    expect(html.match(/data-user-id=/g)).toBeNull();
    expect(html).toContain('Nobody online matches “gra”.');
    expect(html).toContain('<p>Grace Hopper joined</p><p>Grace Hopper left</p>');
    expect(html).toMatch(/data-testid="online-count">1</);
  });
});

describe('OnlineList as a window', () => {
  const windowed = {
    active: true, offset: 0, limit: 100, query: '', total: 1234, everyone: 1234, answered: 1234,
    users: [ada], requested: { offset: 0, limit: 100, query: '' }, broken: false, inFlight: [],
  };

  it('counts everyone in the server\'s total, A–Z only, and says why', () => {
    const html = render(<OnlineList users={[]} count={0} viewerId={1} loaded connection={live} windowed={windowed} />);
    expect(html).toContain('>1,234</span>');
    expect(html).toContain('1,234 people are here right now.');
    expect(html).toContain('data-mode="window"');
    expect(html).toMatch(/<option value="joined" disabled="">/);
    expect(html).toContain('aria-describedby="online-order-note"');
    expect(html).not.toContain('Compact list');
  });

  it('says what the server\'s search found', () => {
    const found = { ...windowed, query: 'ada', total: 12, answered: 12 };
    const html = render(<OnlineList users={[]} count={0} viewerId={1} loaded connection={live} windowed={found} query="ada" />);
    expect(html).toContain('12 people match “ada”.');
    expect(html).toContain('>1,234</span>');
  });
});
