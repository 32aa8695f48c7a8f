import { renderToStaticMarkup } from 'react-dom/server';
import { MemoryRouter } from 'react-router';
import { afterEach, describe, expect, it } from 'vitest';
import { errorText } from '../common/ErrorMessage.jsx';
import { setLanguage } from '../i18n/index.js';
import LoginForm from './LoginForm.jsx';
import RegisterForm from './RegisterForm.jsx';
import { firstInvalid, isEmail, validateLogin, validateProfile, validateRegister } from './validate.js';

afterEach(() => setLanguage('en'));

describe('form validation', () => {
  it('an empty registration names every field at once', () => {
    const errors = validateRegister({ first: '', last: ' ', email: '', password: '' });
    expect(errors).toEqual({
      first: 'Enter your first name.',
      last: 'Enter your last name.',
      email: 'Enter your email address.',
      password: 'Enter a password.',
    });
    expect(firstInvalid(errors, ['first', 'last', 'email', 'password'])).toBe('first');
  });

  it('counts a password in characters, as people do, not in bytes', () => {
    expect(validateRegister({ first: 'A', last: 'B', email: 'a@b.cd', password: 'äöü' }).password)
      .toBe('Use at least 8 characters. This password has 3 characters.');
    expect(validateRegister({ first: 'A', last: 'B', email: 'a@b.cd', password: 'x' }).password)
      .toBe('Use at least 8 characters. This password has 1 character.');
    expect(validateRegister({ first: 'A', last: 'B', email: 'a@b.cd', password: 'äöüäöüäö' })).toEqual({});
    expect(validateRegister({ first: 'A', last: 'B', email: 'a@b.cd', password: 'x'.repeat(1025) }).password)
      .toBe('This password is too long.');
  });

  it('checks names and emails by the rules of doc/api.md', () => {
    expect(validateRegister({ first: 'x'.repeat(101), last: 'Ok', email: 'a@b', password: '12345678' })).toEqual({
      first: 'Your first name can have at most 100 characters.',
      email: 'Enter an email address like name@example.org.',
    });
    expect(validateRegister({ first: ' 😀'.repeat(50), last: 'a\u0007b', email: 'a@b.c', password: '12345678' }).last)
      .toBe('Your last name contains characters that cannot be used.');
    for (const good of ['ada@example.org', 'a+b@x.y.z']) expect(isEmail(good)).toBe(true);
    for (const bad of ['', 'ada', '@x.org', 'a@x', 'a@x..org', 'a@.org', 'a b@x.org', 'a@b@x.org']) {
      expect(isEmail(bad)).toBe(false);
    }
  });

  it('an empty log-in says which field is missing', () => {
    expect(validateLogin({ email: '', password: '' })).toEqual({
      email: 'Enter your email address.', password: 'Enter your password.',
    });
    expect(validateLogin({ email: 'ada@example.org', password: '' })).toEqual({ password: 'Enter your password.' });
    expect(validateLogin({ email: 'ada@example.org', password: 'x' })).toEqual({});
  });

  it('the profile: names and a bio of at most 2000 characters', () => {
    expect(validateProfile({ first: 'Ada', last: 'Lovelace', bio: 'Line one\nand\ttwo' })).toEqual({});
    expect(validateProfile({ first: '', last: 'L', bio: 'é'.repeat(2001) })).toEqual({
      first: 'Enter your first name.',
      bio: 'Your bio can have at most 2000 characters. It has 2001 characters.',
    });
  });

  it('speaks German when the browser does', () => {
    setLanguage('de');
    expect(validateLogin({ email: '', password: '' })).toEqual({
      email: 'Geben Sie Ihre E-Mail-Adresse ein.', password: 'Geben Sie Ihr Passwort ein.',
    });
    expect(errorText({ code: 'bad-credentials', message: 'Wrong email or password.' }))
      .toBe('Die E-Mail-Adresse oder das Passwort ist falsch.');
  });
});

describe('API errors in plain words', () => {
  it('maps codes to sentences, the server message only for unknown codes', () => {
    expect(errorText({ code: 'rate-limited', retryAfter: 30, message: 'x' }))
      .toBe('Too many attempts. Try again in 30 seconds.');
    expect(errorText({ code: 'rate-limited', retryAfter: null })).toBe('Too many attempts. Try again later.');
    expect(errorText({ code: 'invalid-password', message: 'password must be 8 to 1024 bytes' }))
      .toBe('Use a password of at least 8 characters.');
    expect(errorText({ code: 'http-502', status: 502, message: 'The server answered 502.' }))
      .toBe('The server answered 502. Try again later.');
    expect(errorText({ code: 'something-new', message: 'Something new happened.' })).toBe('Something new happened.');
    expect(errorText(null)).toBe('');
  });
});

describe('the forms', () => {
  const render = (element) => renderToStaticMarkup(<MemoryRouter>{element}</MemoryRouter>);

  it('have a show-password toggle button with aria-pressed', () => {
    for (const form of [<LoginForm key="l" busy={false} error={null} onSubmit={() => {}} />,
      <RegisterForm key="r" busy={false} error={null} onSubmit={() => {}} />]) {
      const html = render(form);
      expect(html).toMatch(/<button type="button"[^>]*aria-pressed="false"[^>]*aria-controls="password"[^>]*>Show password<\/button>/);
      expect(html).toContain('type="password"');
    }
  });

  it('keep the submit button enabled while busy, so it keeps the focus', () => {
    const html = render(<LoginForm busy error={null} onSubmit={() => {}} />);
    expect(html).toMatch(/<button type="submit"[^>]*aria-disabled="true"[^>]*>Logging in…<\/button>/);
    expect(html).not.toMatch(/<button type="submit"[^>]*disabled=""/);
  });

  it('show a server error about a field on that field, tied to the input', () => {
    const html = render(<RegisterForm busy={false} error={{ code: 'email-taken', message: 'Taken.' }} onSubmit={() => {}} />);
    expect(html).toMatch(/<input[^>]*id="email"[^>]*aria-invalid="true"[^>]*aria-describedby="email-error"/);
    expect(html).toContain('<p id="email-error" class="field__error">An account with this email address already exists. Log in instead?</p>');
    expect(html).not.toContain('role="alert"');
  });

  it('show other server errors above the form, as an alert', () => {
    const html = render(<LoginForm busy={false} error={{ code: 'rate-limited', retryAfter: 45 }} onSubmit={() => {}} />);
    expect(html).toMatch(/<p class="message message--error" role="alert" tabindex="-1"[^>]*>Too many attempts. Try again in 45 seconds.<\/p>/);
  });
});
