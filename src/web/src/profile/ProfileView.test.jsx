import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { setLanguage } from '../i18n/index.js';
import { Presence } from './ProfileView.jsx';

const render = (props) => renderToStaticMarkup(<Presence {...props} />);
const minutesAgo = (n) => Date.now() - n * 60000 - 5000;

describe('a profile\'s presence', () => {
  it('says how long a user is online when this tab saw them join', () => {
    setLanguage('en');
    expect(render({ online: true, status: 'online', joinedAt: minutesAgo(12) })).toContain('Online for 12 minutes');
    expect(render({ online: true, status: 'idle', joinedAt: minutesAgo(90) }))
      .toContain('Online for 1 hour, but idle');
    // Under a minute, or not seen joining: just online.
    expect(render({ online: true, status: 'online', joinedAt: Date.now() })).toContain('Online now');
    expect(render({ online: true, status: 'online' })).toContain('Online now');
    expect(render({ online: true, status: 'idle' })).toContain('Online, but idle');
  });

  it('says when a user was last seen, or that they are not online', () => {
    setLanguage('en');
    expect(render({ online: false, lastSeen: new Date(minutesAgo(180)).toISOString() }))
      .toContain('Last seen 3 hours ago');
    expect(render({ online: false, lastSeen: null })).toContain('Not online');
  });

  it('speaks German', () => {
    setLanguage('de');
    expect(render({ online: true, status: 'online', joinedAt: minutesAgo(12) })).toContain('Bereits 12 Minuten online');
    setLanguage('en');
  });
});
